// @nestjs/common 12 is ESM-only and this jest setup (CommonJS, Node 20) cannot load it, so the
// decorators are stubbed: these tests cover the service's behaviour and the module's provider
// wiring; Nest's own injection is not exercised here.
jest.mock('@nestjs/common', () => {
  const noop = () => () => undefined;
  return { Global: noop, Inject: noop, Injectable: noop, Module: noop };
});

import { decodeBound, SecretBindingMismatchError } from './binding';
import { CRYPTO_OPTIONS } from './crypto.constants';
import { CryptoModule } from './crypto.module';
import { CryptoService } from './crypto.service';
import { InvalidTokenError } from './fernet';
import { Fernet } from './fernet';
import { deriveFernetKey, unwrapBifrostStored, wrapBifrostStored } from './key-derivation';
import { Keyring } from './keyring';

const options = {
  secretKey: 'service-current-secret-0123456789abcdef',
  previousSecretKeys: ['service-old-secret-0123456789abcdefgh'],
};

describe('CryptoService', () => {
  const service = new CryptoService(options);

  it('round-trips UTF-8 strings, empty and a leading BOM included', () => {
    for (const plain of ['', 'hello', 'ünïcødé 日本語 🔑', '\uFEFFleading BOM kept']) {
      expect(service.decryptString(service.encryptString(plain))).toBe(plain);
    }
  });

  it('opens a token with the keyring once, however often it is read (a changed secret is a new token)', () => {
    const fresh = new CryptoService(options);
    const a = fresh.encryptString('secret-a');
    const b = fresh.encryptString('secret-b');
    const opened = jest.spyOn(Keyring.prototype, 'decrypt');
    try {
      for (let i = 0; i < 3; i++) expect([fresh.decryptString(a), fresh.decryptString(b)]).toEqual(['secret-a', 'secret-b']);
      expect(opened).toHaveBeenCalledTimes(2);
      const changed = fresh.encryptString('secret-a2');
      expect(fresh.decryptString(changed)).toBe('secret-a2');
      expect(opened).toHaveBeenCalledTimes(3);
      // A token no key opens is not remembered: it fails every time.
      const foreign = CryptoService.keyringForSecret('another-deployment-key-0123456789abcd').encrypt('theirs');
      for (let i = 0; i < 2; i++) expect(() => fresh.decryptString(foreign)).toThrow(InvalidTokenError);
      expect(opened).toHaveBeenCalledTimes(5);
    } finally {
      opened.mockRestore();
    }
  });

  it('decrypts under a previous key and re-encrypts to the current one', () => {
    const old = CryptoService.keyringForSecret(options.previousSecretKeys[0]).encrypt('legacy');
    expect(service.isCurrent(old)).toBe(false);
    expect(service.decryptString(old)).toBe('legacy');
    const moved = service.reencrypt(old);
    expect(service.isCurrent(moved)).toBe(true);
    expect(service.decryptString(moved)).toBe('legacy');
  });

  it('rejects foreign tokens; a one-off keyring reads another deployment’s values', () => {
    const foreign = CryptoService.keyringForSecret('another-deployment-key-0123456789abcd');
    const token = foreign.encrypt('theirs');
    expect(() => service.decryptString(token)).toThrow(InvalidTokenError);
    expect(foreign.decrypt(unwrapBifrostStored(wrapBifrostStored(token))).toString()).toBe('theirs');
  });

  it('refuses to turn non-UTF-8 plaintext into a string', () => {
    const ours = CryptoService.keyringForSecret(options.secretKey).encrypt(Buffer.from([0xff, 0xfe]));
    expect(() => service.decryptString(ours)).toThrow(TypeError);
    expect(() => service.encryptString('lone \uD800 surrogate')).toThrow(TypeError);
  });
});

describe('CryptoService, bound secrets', () => {
  const service = new CryptoService(options);
  const ORG = '0b1c2d3e-4f50-4617-8899-aabbccddeeff';
  const here = { scope: ORG, key: 'db_password' };
  const plainFernet = new Fernet(deriveFernetKey(options.secretKey));
  const previous = CryptoService.keyringForSecret(options.previousSecretKeys[0]);

  it('writes standard Fernet whose plaintext is the binding header and the value', () => {
    const token = service.encryptBound(here, 'pw ünï');
    expect(token).toMatch(/^gAAAAA/);
    expect(decodeBound(plainFernet.decrypt(token).toString('utf8'))).toEqual({ binding: here, value: 'pw ünï' });
    expect(service.open(token)).toEqual({ binding: here, value: 'pw ünï' });
    expect(service.decryptString(token)).toBe('pw ünï');
  });

  it('reads a bound token back only for its own scope and key', () => {
    const token = service.encryptBound(here, 'pw');
    expect(service.decryptBound(token, here)).toBe('pw');
    expect(() => service.decryptBound(token, { scope: 'global', key: 'db_password' })).toThrow(SecretBindingMismatchError);
    expect(() => service.decryptBound(token, { scope: ORG, key: 'other' })).toThrow(SecretBindingMismatchError);
    // Still refused on the second read (the opened cache keeps the binding, not only the value).
    expect(() => service.decryptBound(token, { scope: 'global', key: 'db_password' })).toThrow(SecretBindingMismatchError);
  });

  it('still reads legacy tokens (Fernet of the value, as Bifrost writes them), under any key of the ring', () => {
    for (const legacy of [plainFernet.encrypt('old value'), previous.encrypt('old value')]) {
      expect(service.open(legacy)).toEqual({ binding: null, value: 'old value' });
      expect(service.decryptBound(legacy, here)).toBe('old value');
    }
  });

  it('rebinds for rotation: legacy and previous-key tokens come out bound and current, creation time kept; done ones unchanged', () => {
    const made = 1_700_000_000;
    const legacyCurrent = plainFernet.encrypt('v1', { now: made });
    const legacyOld = previous.encrypt('v2', { now: made });
    const boundOld = previous.encrypt(`\u0000bcfg:1\u0000${ORG}\u0000db_password\u0000v3`, { now: made });
    for (const [token, value] of [
      [legacyCurrent, 'v1'],
      [legacyOld, 'v2'],
      [boundOld, 'v3'],
    ]) {
      const next = service.rebind(token, here);
      expect(next).not.toBe(token);
      expect(service.isCurrent(next)).toBe(true);
      expect(service.open(next)).toEqual({ binding: here, value });
      expect(plainFernet.decryptWithTimestamp(next).timestamp).toBe(made);
      expect(service.rebind(next, here)).toBe(next);
    }
    const done = service.encryptBound(here, 'v4');
    expect(service.rebind(done, here)).toBe(done);
    // Never rebinds a token bound elsewhere (a copied row), under either key.
    expect(() => service.rebind(done, { scope: ORG, key: 'copied' })).toThrow(SecretBindingMismatchError);
    expect(() => service.rebind(boundOld, { scope: 'global', key: 'db_password' })).toThrow(SecretBindingMismatchError);
  });
});

describe('CryptoModule', () => {
  it('forRoot provides the options and the service, and exports the service', () => {
    const mod = CryptoModule.forRoot(options);
    expect(mod.module).toBe(CryptoModule);
    expect(mod.providers).toEqual([{ provide: CRYPTO_OPTIONS, useValue: options }, CryptoService]);
    expect(mod.exports).toEqual([CryptoService]);
  });
});
