import { SetMetadata } from '@nestjs/common';

export const SCRUB_EXEMPT_KEY = 'bifrost:scrub-exempt';

/**
 * Exempts the named top-level fields of a handler's JSON response from the scrubbing interceptor;
 * the rest of the body (other fields, every key) is still scrubbed. API.md allows exactly one use:
 * the `value` of the SDK read (`GET /api/sdk/configs/{key}`), which must return the plaintext.
 */
export const ScrubExempt = (...fields: string[]) => SetMetadata(SCRUB_EXEMPT_KEY, fields);
