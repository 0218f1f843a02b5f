export type { SecretMatcherOptions } from './build';
export { redactionMarker, scrubJsonValue } from './json-value';
export type { TextScrubber } from './json-value';
export { decodedViews, SecretMatcher } from './secret-matcher';
export type { View } from './views';
