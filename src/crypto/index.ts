export { CRYPTO_OPTIONS } from './crypto.constants';
export type { CryptoOptions } from './crypto.constants';
export { CryptoModule } from './crypto.module';
export type { CryptoModuleAsyncOptions } from './crypto.module';
export { CryptoService } from './crypto.service';
export { Fernet, InvalidTokenError, looksLikeFernetToken } from './fernet';
export type { FernetDecrypted, FernetDecryptOptions, FernetEncryptOptions } from './fernet';
export {
  BIFROST_HKDF_INFO,
  BIFROST_HKDF_SALT,
  deriveFernetKey,
  hkdfSha256,
  unwrapBifrostStored,
  wrapBifrostStored,
} from './key-derivation';
export { Keyring } from './keyring';
export type { DecryptedWithIndex } from './keyring';
export { BINDING_PREFIX, decodeBound, encodeBound, SecretBindingMismatchError, sameBinding, valueFor } from './binding';
export type { OpenedSecret, SecretBinding } from './binding';
export { FINGERPRINT_HKDF_INFO, FINGERPRINT_HKDF_SALT, FINGERPRINT_LENGTH, fingerprintKey, fingerprintOf, sameValue } from './fingerprint';
