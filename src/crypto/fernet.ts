/**
 * Fernet (https://github.com/fernet/spec), version 0x80, on node:crypto only.
 *
 * Token: base64url(version ‖ timestamp ‖ iv ‖ ciphertext ‖ hmac), with `=` padding.
 * Key:   base64url(signing key (16 bytes) ‖ encryption key (16 bytes)).
 */
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { decodeBase64Url, encodeBase64Url, utf8Encode } from './encoding';

const VERSION = 0x80;
const KEY_LENGTH = 32;
const IV_LENGTH = 16;
const BLOCK_SIZE = 16;
const HMAC_LENGTH = 32;
const HEADER_LENGTH = 1 + 8 + IV_LENGTH; // version ‖ timestamp ‖ iv
// PKCS7 always adds at least one byte, so the ciphertext is at least one block.
const MIN_TOKEN_LENGTH = HEADER_LENGTH + BLOCK_SIZE + HMAC_LENGTH;
// The spec's vectors reject tokens stamped more than 60 s ahead of the verifier's clock.
const MAX_CLOCK_SKEW_SEC = 60n;

/**
 * The one error for every rejected token. It carries no detail on purpose: telling
 * "bad MAC" from "bad padding" would hand an attacker an oracle.
 */
export class InvalidTokenError extends Error {
  constructor() {
    super('Invalid token');
    this.name = 'InvalidTokenError';
  }
}

export interface FernetEncryptOptions {
  /** Creation time: a Date or Unix seconds. Defaults to the current time. */
  now?: Date | number;
  /** Fixed IV (16 bytes), only for reproducing test vectors; never set it otherwise. */
  iv?: Buffer;
}

export interface FernetDecryptOptions {
  /**
   * Maximum token age in seconds; also turns on the 60 s future clock-skew check. Without it
   * no time check is made at all, as in Python's `cryptography` (stored secrets never expire).
   */
  ttlSec?: number;
  /** The verifier's clock: a Date or Unix seconds. Defaults to the current time. */
  now?: Date | number;
}

export interface FernetDecrypted {
  plaintext: Buffer;
  /** The token's creation time in Unix seconds. */
  timestamp: number;
}

export class Fernet {
  // #private so keys never show up in console.log / util.inspect / JSON output.
  readonly #signingKey: Buffer;
  readonly #encryptionKey: Buffer;

  /** @param key 32 bytes as padded base64url (the usual Fernet key form), or the raw bytes. */
  constructor(key: string | Buffer) {
    const raw = typeof key === 'string' ? decodeBase64Url(key, 'required') : Buffer.from(key);
    if (raw === null || raw.length !== KEY_LENGTH) {
      throw new TypeError('Fernet key must be 32 bytes, url-safe base64-encoded');
    }
    this.#signingKey = raw.subarray(0, 16);
    this.#encryptionKey = raw.subarray(16);
  }

  /**
   * The key's id: 16 hex digits of an HMAC-SHA256 keyed with the signing key, over a fixed label.
   * It names the key (which key a stored token was written with) and reveals nothing of it.
   */
  get keyId(): string {
    return createHmac('sha256', this.#signingKey).update('bifrost-config key id v1').digest('hex').slice(0, 16);
  }

  /** A fresh random key in the usual Fernet key form. */
  static generateKey(): string {
    return encodeBase64Url(randomBytes(KEY_LENGTH));
  }

  /** Encrypts bytes (a string is taken as UTF-8). */
  encrypt(data: Buffer | string, opts: FernetEncryptOptions = {}): string {
    const plaintext = typeof data === 'string' ? utf8Encode(data) : data;
    const iv = opts.iv ?? randomBytes(IV_LENGTH);
    if (iv.length !== IV_LENGTH) throw new RangeError('Fernet IV must be 16 bytes');

    const header = Buffer.alloc(9);
    header[0] = VERSION;
    header.writeBigUInt64BE(BigInt(toUnixSeconds(opts.now)), 1);

    // Node's AES-CBC applies PKCS7 padding by default.
    const cipher = createCipheriv('aes-128-cbc', this.#encryptionKey, iv);
    const body = Buffer.concat([header, iv, cipher.update(plaintext), cipher.final()]);
    return encodeBase64Url(Buffer.concat([body, this.#sign(body)]));
  }

  /** Verifies and decrypts a token; any failure throws InvalidTokenError. */
  decrypt(token: string, opts: FernetDecryptOptions = {}): Buffer {
    return this.decryptWithTimestamp(token, opts).plaintext;
  }

  /** As decrypt, also returning the creation time (so re-encryption can keep it). */
  decryptWithTimestamp(token: string, opts: FernetDecryptOptions = {}): FernetDecrypted {
    // Bad options are a caller bug, reported as such before the token is looked at.
    const ttl = opts.ttlSec === undefined ? undefined : toTtl(opts.ttlSec);
    const now = ttl === undefined ? 0n : BigInt(toUnixSeconds(opts.now));

    const data = typeof token === 'string' ? decodeBase64Url(token, 'required') : null;
    if (data === null || data.length < MIN_TOKEN_LENGTH || data[0] !== VERSION) {
      throw new InvalidTokenError();
    }

    const timestamp = data.readBigUInt64BE(1);
    if (ttl !== undefined && (timestamp + ttl < now || timestamp > now + MAX_CLOCK_SKEW_SEC)) {
      throw new InvalidTokenError();
    }

    // Authenticate before touching the ciphertext (no padding oracle).
    const body = data.subarray(0, data.length - HMAC_LENGTH);
    if (!timingSafeEqual(this.#sign(body), data.subarray(body.length))) {
      throw new InvalidTokenError();
    }

    const iv = body.subarray(9, HEADER_LENGTH);
    const ciphertext = body.subarray(HEADER_LENGTH);
    if (ciphertext.length % BLOCK_SIZE !== 0) throw new InvalidTokenError();

    let plaintext: Buffer;
    try {
      const decipher = createDecipheriv('aes-128-cbc', this.#encryptionKey, iv);
      // final() throws on bad PKCS7 padding.
      plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
    } catch {
      throw new InvalidTokenError();
    }
    return { plaintext, timestamp: Number(timestamp) };
  }

  #sign(body: Buffer): Buffer {
    return createHmac('sha256', this.#signingKey).update(body).digest();
  }
}

/**
 * Whether a string has the shape of a Fernet token (strict padded base64url, version 0x80,
 * plausible length). No key is involved, so it proves nothing about authenticity.
 */
export function looksLikeFernetToken(s: string): boolean {
  if (typeof s !== 'string') return false;
  const data = decodeBase64Url(s, 'required');
  return (
    data !== null &&
    data.length >= MIN_TOKEN_LENGTH &&
    (data.length - HEADER_LENGTH - HMAC_LENGTH) % BLOCK_SIZE === 0 &&
    data[0] === VERSION
  );
}

function toUnixSeconds(now: Date | number | undefined): number {
  const seconds =
    now === undefined ? Date.now() / 1000 : now instanceof Date ? now.getTime() / 1000 : now;
  const whole = Math.floor(seconds);
  if (!Number.isSafeInteger(whole) || whole < 0) {
    throw new RangeError('Fernet time must be a valid Date or non-negative Unix seconds');
  }
  return whole;
}

function toTtl(ttlSec: number): bigint {
  if (!Number.isSafeInteger(ttlSec) || ttlSec < 0) {
    throw new RangeError('ttlSec must be a non-negative integer number of seconds');
  }
  return BigInt(ttlSec);
}
