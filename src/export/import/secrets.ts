import type { Principal } from '../../auth/roles';
import { badRequest } from '../../common/errors';
import { OpenedSecret, SecretBinding, decodeBound, sameBinding } from '../../crypto/binding';
import { CryptoService } from '../../crypto/crypto.service';
import { utf8Decode } from '../../crypto/encoding';
import { Keyring } from '../../crypto/keyring';
import type { OrgLookup } from './orgs';
import { invalidBundle } from './problems';

export interface SecretOpener {
  /**
   * The token opened: its binding (null: the legacy, unbound form) and value, and whether it is
   * under this deployment's current key (so it can be kept as it is).
   */
  open(token: string): OpenedSecret & { current: boolean };
  /**
   * True when the tokens are opened with a sourceSecretKey: whoever holds the key can read them
   * anyway, so their binding is not checked and each value is encrypted again for its new place.
   */
  withSourceKey: boolean;
  /** What a row's problem says when no key opens its token. */
  failure: string;
}

const scopeMismatch = () =>
  badRequest(
    'SECRET_SCOPE_MISMATCH',
    'The encryptedValue was encrypted for another scope or key: a secret moves elsewhere only decrypted and encrypted again (send the bundle wrapped with its sourceSecretKey)',
  );
const unbound = () =>
  badRequest(
    'SECRET_UNBOUND',
    'The encryptedValue is in the old form that names no scope: only an admin may import it as it is (or send the bundle wrapped with its sourceSecretKey)',
  );

/**
 * How secret tokens are opened: with the source deployment's key when one is given (the values
 * are then encrypted again under this deployment's key, for their new place), else with this
 * deployment's own keys (a backup; its tokens are checked against where they go).
 */
export function secretOpener(crypto: CryptoService, sourceSecretKey: string | undefined): SecretOpener {
  if (sourceSecretKey !== undefined) {
    let keyring: Keyring | null = null;
    try {
      keyring = CryptoService.keyringForSecret(sourceSecretKey);
    } catch {
      throw invalidBundle([{ row: null, code: 'INVALID_SOURCE_KEY', message: 'sourceSecretKey is not usable as a key' }]);
    }
    const ring = keyring;
    return {
      open: (token) => ({ ...decodeBound(utf8Decode(ring.decrypt(token))), current: false }),
      withSourceKey: true,
      failure: 'The secret cannot be decrypted with sourceSecretKey (wrong key?)',
    };
  }
  return {
    open: (token) => ({ ...crypto.open(token), current: crypto.isCurrent(token) }),
    withSourceKey: false,
    failure: 'The secret cannot be decrypted with this deployment’s keys: a bundle from another deployment is sent wrapped, with its sourceSecretKey',
  };
}

/**
 * Whether a token opened with this deployment's keys may go into (scopeId, key): true when it is
 * bound to exactly that place (it may then be kept as it is), false for a legacy, unbound token an
 * admin may bring in (it is then encrypted again, bound). Throws a row problem (AppError)
 * otherwise. For an org this import creates (`new:` in the checking pass), the org is planned
 * with the id the token is bound to, so a backup restored into an empty database keeps its orgs'
 * ids and its secrets.
 */
export async function checkBinding(binding: SecretBinding | null, scopeId: string, name: string | null, key: string, actor: Principal, orgs: OrgLookup): Promise<boolean> {
  if (binding === null) {
    if (actor.role !== 'admin') throw unbound();
    return false;
  }
  let target: string | null = scopeId;
  if (scopeId.startsWith('new:')) target = name === null ? null : await orgs.plan(name, binding.scope);
  if (target === null || !sameBinding(binding, { scope: target, key })) throw scopeMismatch();
  return true;
}
