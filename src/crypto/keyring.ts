/**
 * A MultiFernet-style keyring: encrypts with the current key, decrypts with the current key
 * or any previous one, so keys can be rotated without a flag day.
 */
import { Fernet, InvalidTokenError } from './fernet';
import type { FernetDecryptOptions, FernetEncryptOptions } from './fernet';
import { deriveFernetKey } from './key-derivation';

export interface DecryptedWithIndex {
  plaintext: Buffer;
  /** Which key opened the token: 0 is the current key, 1.. the previous keys in order. */
  keyIndex: number;
}

export interface DecryptedWithMeta extends DecryptedWithIndex {
  /** The token's creation time in Unix seconds. */
  timestamp: number;
}

export class Keyring {
  readonly #fernets: readonly Fernet[];

  private constructor(fernets: Fernet[]) {
    this.#fernets = fernets;
  }

  /** From Bifrost-style secrets (BIFROST_SECRET_KEY and BIFROST_SECRET_KEY_PREVIOUS). */
  static fromSecrets(current: string, previous: readonly string[] = []): Keyring {
    return Keyring.fromFernetKeys(deriveFernetKey(current), previous.map(deriveFernetKey));
  }

  /** From Fernet keys as they are (32 bytes, base64url or raw). */
  static fromFernetKeys(
    current: string | Buffer,
    previous: readonly (string | Buffer)[] = [],
  ): Keyring {
    return new Keyring([current, ...previous].map((key) => new Fernet(key)));
  }

  /** The ids of the keys (Fernet.keyId), current first, then the previous keys in order. */
  get keyIds(): readonly string[] {
    return (this.#ids ??= this.#fernets.map((f) => f.keyId));
  }

  #ids: string[] | undefined;

  /** Number of keys, current included. */
  get size(): number {
    return this.#fernets.length;
  }

  encrypt(plaintext: Buffer | string, opts?: FernetEncryptOptions): string {
    return this.#current.encrypt(plaintext, opts);
  }

  decrypt(token: string, opts?: FernetDecryptOptions): Buffer {
    return this.#open(token, opts).plaintext;
  }

  decryptWithIndex(token: string, opts?: FernetDecryptOptions): DecryptedWithIndex {
    const { plaintext, keyIndex } = this.#open(token, opts);
    return { plaintext, keyIndex };
  }

  /** Plaintext, which key opened the token, and its creation time (to keep it when re-encrypting). */
  decryptWithMeta(token: string, opts?: FernetDecryptOptions): DecryptedWithMeta {
    return this.#open(token, opts);
  }

  /** True only if the current key authenticates the token; never throws. */
  isCurrent(token: string): boolean {
    try {
      this.#current.decrypt(token);
      return true;
    } catch {
      return false;
    }
  }

  /**
   * The token under the current key. An already-current token comes back unchanged, so a
   * rotation pass can skip the write. Like MultiFernet.rotate, the creation time is kept.
   */
  reencrypt(token: string): string {
    const { plaintext, keyIndex, timestamp } = this.#open(token);
    if (keyIndex === 0) return token;
    return this.#current.encrypt(plaintext, { now: timestamp });
  }

  get #current(): Fernet {
    return this.#fernets[0];
  }

  #open(token: string, opts?: FernetDecryptOptions) {
    for (let keyIndex = 0; keyIndex < this.#fernets.length; keyIndex++) {
      try {
        return { keyIndex, ...this.#fernets[keyIndex].decryptWithTimestamp(token, opts) };
      } catch (err) {
        if (!(err instanceof InvalidTokenError)) throw err; // e.g. a bad ttlSec
      }
    }
    throw new InvalidTokenError();
  }
}
