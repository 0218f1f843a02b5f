import { Inject, Injectable } from '@nestjs/common';
import { CRYPTO_OPTIONS } from './crypto.constants';
import type { CryptoOptions } from './crypto.constants';
import { LruMap } from '../common/lru-map';
import { decodeBound, encodeBound, OpenedSecret, SecretBinding, valueFor } from './binding';
import { utf8Decode } from './encoding';
import { fingerprintKey, fingerprintOf, sameValue } from './fingerprint';
import { Keyring } from './keyring';

/** Tokens whose opened plaintext open() keeps. */
const OPENED_TOKENS = 10_000;

/**
 * Encrypts and decrypts stored secret values with the deployment's keyring. A config secret is
 * written bound to its scope and key (see binding.ts) and read back only for that place.
 */
@Injectable()
export class CryptoService {
  readonly #keyring: Keyring;
  /**
   * Recently opened tokens and their plaintext. The keys are fixed for the life of the process, so a
   * token always opens to the same text, and a changed secret is a new token: nothing here can be
   * stale. It spares the workflow engine's hot read and the scrubber's reloads the HMAC and AES work
   * of the same few tokens, and holds no more than the scrubber's registry already does.
   */
  readonly #opened = new LruMap<string, OpenedSecret>(OPENED_TOKENS);
  /** The HMAC key of fingerprints and of verify's comparison (see fingerprint.ts). */
  readonly #fingerprintKey: Buffer;

  constructor(@Inject(CRYPTO_OPTIONS) options: CryptoOptions) {
    this.#keyring = Keyring.fromSecrets(options.secretKey, options.previousSecretKeys);
    this.#fingerprintKey = fingerprintKey(options.secretKey);
  }

  /** A short HMAC of a value under a key derived from BIFROST_SECRET_KEY: equal values, equal fingerprints. */
  fingerprint(value: string): string {
    return fingerprintOf(this.#fingerprintKey, value);
  }

  /** Constant-time equality of two values (equal-length digests compared with timingSafeEqual). */
  sameValue(a: string, b: string): boolean {
    return sameValue(this.#fingerprintKey, a, b);
  }

  /**
   * A one-off keyring for another deployment's BIFROST_SECRET_KEY, to read values from its
   * export (unwrap them with unwrapBifrostStored first).
   */
  static keyringForSecret(secretKey: string, previousSecretKeys: readonly string[] = []): Keyring {
    return Keyring.fromSecrets(secretKey, previousSecretKeys);
  }

  /** A config secret's token: `value` bound to the scope and key it is stored under. */
  encryptBound(binding: SecretBinding, value: string): string {
    return this.#keyring.encrypt(encodeBound(binding, value));
  }

  /**
   * The value of a stored secret read for `expected` (the row's own scope and key). Throws
   * SecretBindingMismatchError if the token was written for another place (a copied row or
   * ciphertext), InvalidTokenError if no key opens it, TypeError if it holds non-UTF-8 bytes. A
   * legacy (unbound) token is accepted: rows from before the bound form, until rotate-key binds them.
   */
  decryptBound(token: string, expected: SecretBinding): string {
    return valueFor(this.open(token), expected);
  }

  /** Opens a token: its binding (null for the legacy form) and its value. Throws as decryptBound. */
  open(token: string): OpenedSecret {
    let opened = this.#opened.get(token);
    if (opened === undefined) {
      opened = Object.freeze(decodeBound(utf8Decode(this.#keyring.decrypt(token))));
      this.#opened.set(token, opened);
    }
    return opened;
  }

  /** An unbound token (execution secrets, whose rows name their execution). */
  encryptString(plain: string): string {
    return this.#keyring.encrypt(plain);
  }

  /**
   * The value inside a token without checking where it belongs: for the scrubber (which only
   * redacts, never returns a value) and for execution secrets. A config read uses decryptBound.
   */
  decryptString(token: string): string {
    return this.open(token).value;
  }

  /** The id of the current key: what every token this service writes is under (the rows' key_id). */
  get currentKeyId(): string {
    return this.#keyring.keyIds[0];
  }

  /** The ids of every configured key, current first. */
  get keyIds(): readonly string[] {
    return this.#keyring.keyIds;
  }

  /** The id of the configured key that opens `token`; InvalidTokenError when none does. */
  keyIdOf(token: string): string {
    return this.#keyring.keyIds[this.#keyring.decryptWithIndex(token).keyIndex];
  }

  isCurrent(token: string): boolean {
    return this.#keyring.isCurrent(token);
  }

  /** The token under the current key, its creation time kept (execution secrets). */
  reencrypt(token: string): string {
    return this.#keyring.reencrypt(token);
  }

  /**
   * For key rotation: a config secret's token under the current key and in the bound form, bound
   * to `binding` (its row). An already current, bound token comes back unchanged; a legacy one is
   * bound to its row; one bound elsewhere is never rebound (SecretBindingMismatchError). The
   * creation time is kept, like MultiFernet.rotate.
   */
  rebind(token: string, binding: SecretBinding): string {
    const { plaintext, keyIndex, timestamp } = this.#keyring.decryptWithMeta(token);
    const opened = decodeBound(utf8Decode(plaintext));
    const value = valueFor(opened, binding);
    if (keyIndex === 0 && opened.binding) return token;
    return this.#keyring.encrypt(encodeBound(binding, value), { now: timestamp });
  }
}
