import { Inject, Injectable } from '@nestjs/common';
import { CRYPTO_OPTIONS } from './crypto.constants';
import type { CryptoOptions } from './crypto.constants';
import { LruMap } from '../common/lru-map';
import { utf8Decode } from './encoding';
import { Keyring } from './keyring';

/** Tokens whose plaintext decryptString keeps. */
const OPENED_TOKENS = 10_000;

/** Encrypts and decrypts stored secret values with the deployment's keyring. */
@Injectable()
export class CryptoService {
  readonly #keyring: Keyring;
  /**
   * Recently opened tokens and their plaintext. The keys are fixed for the life of the process, so a
   * token always opens to the same text, and a changed secret is a new token: nothing here can be
   * stale. It spares the workflow engine's hot read and the scrubber's reloads the HMAC and AES work
   * of the same few tokens, and holds no more than the scrubber's registry already does.
   */
  readonly #opened = new LruMap<string, string>(OPENED_TOKENS);

  constructor(@Inject(CRYPTO_OPTIONS) options: CryptoOptions) {
    this.#keyring = Keyring.fromSecrets(options.secretKey, options.previousSecretKeys);
  }

  /**
   * A one-off keyring for another deployment's BIFROST_SECRET_KEY, to read values from its
   * export (unwrap them with unwrapBifrostStored first).
   */
  static keyringForSecret(secretKey: string, previousSecretKeys: readonly string[] = []): Keyring {
    return Keyring.fromSecrets(secretKey, previousSecretKeys);
  }

  encryptString(plain: string): string {
    return this.#keyring.encrypt(plain);
  }

  /** Throws InvalidTokenError if no key opens the token, TypeError if it holds non-UTF-8 bytes. */
  decryptString(token: string): string {
    let plain = this.#opened.get(token);
    if (plain === undefined) {
      plain = utf8Decode(this.#keyring.decrypt(token));
      this.#opened.set(token, plain);
    }
    return plain;
  }

  isCurrent(token: string): boolean {
    return this.#keyring.isCurrent(token);
  }

  reencrypt(token: string): string {
    return this.#keyring.reencrypt(token);
  }
}
