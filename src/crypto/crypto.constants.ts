/** Injection token for the CryptoOptions that CryptoService is built from. */
export const CRYPTO_OPTIONS = Symbol('CRYPTO_OPTIONS');

export interface CryptoOptions {
  /** BIFROST_SECRET_KEY: encrypts everything new. */
  secretKey: string;
  /** BIFROST_SECRET_KEY_PREVIOUS, split: still decrypt, never encrypt. */
  previousSecretKeys: string[];
}
