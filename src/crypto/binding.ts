/**
 * The bound form of a stored secret: the Fernet plaintext carries, before the value, the place the
 * value was written for (its scope and config key). A token is then only ever accepted for that
 * place: a ciphertext copied to another scope or key (a database row, a backup's encryptedValue)
 * does not open there. The Fernet token itself stays standard Fernet; only its plaintext changes.
 *
 *   plaintext = "\0bcfg:1\0" scope "\0" key "\0" value
 *
 * scope is `global` or an org id, key the config key: neither can hold a NUL, so the header ends at
 * the third NUL and the value is everything after it (a value may hold NULs itself). A plaintext
 * that does not start with the prefix is the legacy form (the value alone, as Bifrost writes it).
 */
import { InvalidTokenError } from './fernet';

/** Where a stored secret belongs. */
export interface SecretBinding {
  /** `global` or the org's id. */
  scope: string;
  /** The config key. */
  key: string;
}

/** An opened plaintext: its binding (null for the legacy, unbound form) and the value. */
export interface OpenedSecret {
  binding: SecretBinding | null;
  value: string;
}

/** Version 1 of the header. A leading NUL never starts a value anyone types. */
export const BINDING_PREFIX = '\u0000bcfg:1\u0000';
const MAX_PART = 255;

/** The token opened, but it was written for another scope or key. */
export class SecretBindingMismatchError extends Error {
  constructor() {
    super('The secret was encrypted for another scope or key');
    this.name = 'SecretBindingMismatchError';
  }
}

function checkPart(part: string, what: string): void {
  if (typeof part !== 'string' || part.length === 0 || part.length > MAX_PART || part.includes('\u0000')) {
    throw new TypeError(`A secret binding's ${what} must be 1 to ${MAX_PART} characters without NUL`);
  }
}

/** The plaintext to encrypt for `value` bound to `binding`. */
export function encodeBound(binding: SecretBinding, value: string): string {
  checkPart(binding.scope, 'scope');
  checkPart(binding.key, 'key');
  return `${BINDING_PREFIX}${binding.scope}\u0000${binding.key}\u0000${value}`;
}

/**
 * Splits an opened plaintext into binding and value. A plaintext with the prefix but no well-formed
 * header is refused (InvalidTokenError): only this service writes the prefix.
 */
export function decodeBound(plaintext: string): OpenedSecret {
  if (!plaintext.startsWith(BINDING_PREFIX)) return { binding: null, value: plaintext };
  const start = BINDING_PREFIX.length;
  const scopeEnd = plaintext.indexOf('\u0000', start);
  const keyEnd = scopeEnd < 0 ? -1 : plaintext.indexOf('\u0000', scopeEnd + 1);
  if (keyEnd < 0) throw new InvalidTokenError();
  const scope = plaintext.slice(start, scopeEnd);
  const key = plaintext.slice(scopeEnd + 1, keyEnd);
  if (scope.length === 0 || scope.length > MAX_PART || key.length === 0 || key.length > MAX_PART) throw new InvalidTokenError();
  return { binding: { scope, key }, value: plaintext.slice(keyEnd + 1) };
}

export const sameBinding = (a: SecretBinding, b: SecretBinding): boolean => a.scope === b.scope && a.key === b.key;

/**
 * The value of an opened secret read for `expected`. A bound secret must be bound to exactly that
 * place (else SecretBindingMismatchError); a legacy one is accepted (stored rows from before the
 * bound form, until `bifrost rotate-key` binds them).
 */
export function valueFor(opened: OpenedSecret, expected: SecretBinding): string {
  if (opened.binding && !sameBinding(opened.binding, expected)) throw new SecretBindingMismatchError();
  return opened.value;
}
