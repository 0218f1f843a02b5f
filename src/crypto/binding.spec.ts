import { BINDING_PREFIX, decodeBound, encodeBound, SecretBindingMismatchError, sameBinding, valueFor } from './binding';
import { InvalidTokenError } from './fernet';

const ORG = '0b1c2d3e-4f50-4617-8899-aabbccddeeff';

describe('secret binding (the bound form of a stored secret)', () => {
  it('puts a versioned header naming scope and key before the value, and reads it back', () => {
    expect(encodeBound({ scope: ORG, key: 'db_password' }, 'v')).toBe(`\u0000bcfg:1\u0000${ORG}\u0000db_password\u0000v`);
    expect(BINDING_PREFIX).toBe('\u0000bcfg:1\u0000');
    for (const value of ['x', '', 'ünïcødé 日本語 🔑', 'with\u0000nul\u0000inside', `${BINDING_PREFIX}global\u0000k\u0000nested`, '\uFEFFbom', 'a'.repeat(70_000)]) {
      for (const binding of [
        { scope: 'global', key: 'k' },
        { scope: ORG, key: 'A.b-c_9' },
      ]) {
        expect(decodeBound(encodeBound(binding, value))).toEqual({ binding, value });
      }
    }
  });

  it('reads a plaintext without the header as the legacy, unbound form (the value as it is)', () => {
    for (const legacy of ['sk_live_abc', '', 'bcfg:1', '\u0000not the prefix', 'global\u0000k\u0000v']) {
      expect(decodeBound(legacy)).toEqual({ binding: null, value: legacy });
    }
  });

  it('refuses a plaintext with the prefix but no well-formed header', () => {
    for (const bad of [BINDING_PREFIX, `${BINDING_PREFIX}global`, `${BINDING_PREFIX}global\u0000k`, `${BINDING_PREFIX}\u0000k\u0000v`, `${BINDING_PREFIX}global\u0000\u0000v`, `${BINDING_PREFIX}${'s'.repeat(256)}\u0000k\u0000v`]) {
      expect(() => decodeBound(bad)).toThrow(InvalidTokenError);
    }
  });

  it('refuses to bind to an empty scope or key, one with a NUL, or one over 255 characters', () => {
    for (const binding of [
      { scope: '', key: 'k' },
      { scope: 'global', key: '' },
      { scope: 'glo\u0000bal', key: 'k' },
      { scope: 'global', key: 'k\u0000' },
      { scope: 'global', key: 'k'.repeat(256) },
    ]) {
      expect(() => encodeBound(binding, 'v')).toThrow(TypeError);
    }
  });

  it('gives the value only for the place it was bound to; a legacy value for any place', () => {
    const opened = decodeBound(encodeBound({ scope: ORG, key: 'k' }, 'v'));
    expect(valueFor(opened, { scope: ORG, key: 'k' })).toBe('v');
    for (const other of [
      { scope: 'global', key: 'k' },
      { scope: '0b1c2d3e-4f50-4617-8899-aabbccddeef0', key: 'k' },
      { scope: ORG, key: 'K' },
      { scope: ORG, key: 'k2' },
    ]) {
      expect(() => valueFor(opened, other)).toThrow(SecretBindingMismatchError);
    }
    expect(valueFor({ binding: null, value: 'old' }, { scope: ORG, key: 'anything' })).toBe('old');
    expect(sameBinding({ scope: 'global', key: 'k' }, { scope: 'global', key: 'k' })).toBe(true);
  });
});
