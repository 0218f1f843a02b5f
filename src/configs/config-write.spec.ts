import type { Principal } from '../auth/roles';
import { planWrite, StoredConfig } from './config-write';

const actor = { role: 'admin', name: 'alice' } as Principal;
const ctx = { actor, now: new Date('2026-01-02T03:04:05Z'), currentKeyId: 'k-now' };
const secret = (over: Partial<StoredConfig> = {}): StoredConfig => ({ type: 'secret', ciphertext: 'tok-old', keyId: 'k-old', hasValue: true, description: 'kept', ...over });

describe('planWrite: the rule of every config write', () => {
  it('creates a row: a fresh token is under the current key, the description is the one given', () => {
    const w = planWrite(null, { scope: 'global', key: 'a', type: 'secret', stored: null, ciphertext: 'tok-new', description: 'd' }, ctx);
    expect(w.refused).toBeUndefined();
    if (w.refused) return;
    expect(w.row).toMatchObject({ scope: 'global', key: 'a', type: 'secret', value: null, ciphertext: 'tok-new', keyId: 'k-now', hasValue: true, description: 'd', updatedBy: 'alice' });
    expect(w.created).toBe(true);
    expect(w.touchesSecrets).toBe(true);
    expect(w.audit).toMatchObject({ action: 'config.create', scope: 'global', key: 'a', configType: 'secret', reason: undefined });
  });

  it('refuses to replace a secret with another type unless allowed; allowed, the audit says so', () => {
    const change = { scope: 'o', key: 'a', type: 'string' as const, stored: '"x"', ciphertext: null };
    expect(planWrite(secret(), change, ctx)).toEqual({ refused: 'SECRET_TYPE_CHANGE' });
    const w = planWrite(secret(), { ...change, allowTypeChange: true, via: 'import' }, ctx);
    if (w.refused) throw new Error('refused');
    expect(w.row).toMatchObject({ type: 'string', value: '"x"', ciphertext: null, keyId: null, hasValue: true, description: 'kept' });
    expect(w.touchesSecrets).toBe(true);
    expect(w.audit).toMatchObject({ action: 'config.update', reason: 'import, type changed from secret to string' });
  });

  it('a secret given no value keeps the stored one, with its key id; with none stored it has no value', () => {
    const kept = planWrite(secret(), { scope: 'o', key: 'a', type: 'secret', stored: null, ciphertext: null, via: 'import' }, ctx);
    if (kept.refused) throw new Error('refused');
    expect(kept.row).toMatchObject({ ciphertext: 'tok-old', keyId: 'k-old', hasValue: true });
    expect(kept.audit.reason).toBe('import');
    const empty = planWrite(secret({ ciphertext: null, keyId: null, hasValue: false }), { scope: 'o', key: 'a', type: 'secret', stored: null, ciphertext: null }, ctx);
    if (empty.refused) throw new Error('refused');
    expect(empty.row).toMatchObject({ ciphertext: null, keyId: null, hasValue: false });
  });

  it('a plain value over a plain value touches no secrets; an explicit null description clears it', () => {
    const w = planWrite({ type: 'int', ciphertext: null, keyId: null, hasValue: true, description: 'old' }, { scope: 'o', key: 'n', type: 'int', stored: '2', ciphertext: 'ignored', description: null }, ctx);
    if (w.refused) throw new Error('refused');
    expect(w.row).toMatchObject({ value: '2', ciphertext: null, keyId: null, description: null });
    expect(w.touchesSecrets).toBe(false);
  });
});
