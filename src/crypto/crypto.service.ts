import { Inject, Injectable } from '@nestjs/common';
import { CRYPTO_OPTIONS } from './crypto.constants';
import type { CryptoOptions } from './crypto.constants';
import { utf8Decode } from './encoding';
import { Keyring } from './keyring';

/** Encrypts and decrypts stored secret values with the deployment's keyring. */
@Injectable()
export class CryptoService {
  readonly #keyring: Keyring;

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
    return utf8Decode(this.#keyring.decrypt(token));
  }

  isCurrent(token: string): boolean {
    return this.#keyring.isCurrent(token);
  }

  reencrypt(token: string): string {
    return this.#keyring.reencrypt(token);
  }
}
