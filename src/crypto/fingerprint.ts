import { createHmac, timingSafeEqual } from 'node:crypto';
import { utf8Encode } from './encoding';
import { hkdfSha256 } from './key-derivation';

/**
 * The fingerprint key's HKDF salt and info: distinct from the encryption key's (key-derivation.ts),
 * so a fingerprint says nothing about the Fernet key, and changing either changes every fingerprint.
 */
export const FINGERPRINT_HKDF_SALT = 'bifrost-config';
export const FINGERPRINT_HKDF_INFO = 'bifrost-config secret fingerprint v1';
/** Hex characters shown: 48 bits, enough to tell values apart, too few to be a useful digest of one. */
export const FINGERPRINT_LENGTH = 12;

/** The HMAC key of fingerprints, derived from BIFROST_SECRET_KEY. */
export function fingerprintKey(secretKey: string): Buffer {
  if (typeof secretKey !== 'string' || secretKey.length === 0) throw new TypeError('Secret key must be a non-empty string');
  return hkdfSha256(utf8Encode(secretKey), Buffer.from(FINGERPRINT_HKDF_SALT, 'utf8'), Buffer.from(FINGERPRINT_HKDF_INFO, 'utf8'), 32);
}

const digest = (key: Buffer, value: string) => createHmac('sha256', key).update(value, 'utf8').digest();

/** The first FINGERPRINT_LENGTH hex characters of HMAC-SHA256(key, value as UTF-8). */
export function fingerprintOf(key: Buffer, value: string): string {
  return digest(key, value).toString('hex').slice(0, FINGERPRINT_LENGTH);
}

/**
 * Whether two values are equal, in time that depends on neither: both are reduced to HMAC digests
 * of one length first, so timingSafeEqual never sees (nor leaks) their lengths.
 */
export function sameValue(key: Buffer, a: string, b: string): boolean {
  return timingSafeEqual(digest(key, a), digest(key, b));
}
