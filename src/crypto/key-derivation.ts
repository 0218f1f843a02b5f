/**
 * Bifrost-compatible key handling, so a deployment moving from Bifrost (Python) keeps its
 * BIFROST_SECRET_KEY and can read Bifrost's stored values and exports.
 */
import { hkdfSync } from 'node:crypto';
import { decodeBase64Url, encodeBase64Url, utf8Encode } from './encoding';
import { InvalidTokenError, looksLikeFernetToken } from './fernet';

export { looksLikeFernetToken } from './fernet';

/** Bifrost's fixed HKDF salt and info; changing either changes every derived key. */
export const BIFROST_HKDF_SALT = 'bifrost_secrets_v1';
export const BIFROST_HKDF_INFO = 'bifrost-secrets-encryption';

/** HKDF-SHA256 (RFC 5869), extract and expand. */
export function hkdfSha256(ikm: Buffer, salt: Buffer, info: Buffer, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', ikm, salt, info, length));
}

/**
 * The Fernet key Bifrost derives from a secret: HKDF-SHA256 over the secret's UTF-8 bytes,
 * 32 bytes, as padded base64url (Python's `base64.urlsafe_b64encode`).
 */
export function deriveFernetKey(secret: string): string {
  if (typeof secret !== 'string' || secret.length === 0) {
    throw new TypeError('Secret key must be a non-empty string');
  }
  const okm = hkdfSha256(
    utf8Encode(secret),
    Buffer.from(BIFROST_HKDF_SALT, 'utf8'),
    Buffer.from(BIFROST_HKDF_INFO, 'utf8'),
    32,
  );
  return encodeBase64Url(okm);
}

/** Bifrost's storage form: the Fernet token base64url-encoded once more (padded). */
export function wrapBifrostStored(token: string): string {
  if (!looksLikeFernetToken(token)) throw new TypeError('Not a Fernet token');
  return encodeBase64Url(Buffer.from(token, 'latin1')); // a token is pure ASCII
}

/** The Fernet token inside a Bifrost stored value (padded or not); InvalidTokenError otherwise. */
export function unwrapBifrostStored(value: string): string {
  const inner = typeof value === 'string' ? decodeBase64Url(value, 'optional') : null;
  const token = inner?.toString('latin1');
  if (token === undefined || !looksLikeFernetToken(token)) throw new InvalidTokenError();
  return token;
}
