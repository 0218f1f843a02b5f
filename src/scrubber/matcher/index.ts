export type { SecretMatcherOptions } from './build';
export { redactionMarker, scrubJsonValue } from './json-value';
export type { TextScrubber } from './json-value';
export { SecretMatcher } from './secret-matcher';
