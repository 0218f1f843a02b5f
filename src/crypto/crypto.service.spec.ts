// @nestjs/common 12 is ESM-only and this jest setup (CommonJS, Node 20) cannot load it, so the
// decorators are stubbed: these tests cover the service's behaviour and the module's provider
// wiring; Nest's own injection is not exercised here.
jest.mock('@nestjs/common', () => {
  const noop = () => () => undefined;
  return { Global: noop, Inject: noop, Injectable: noop, Module: noop };
});

import { CRYPTO_OPTIONS } from './crypto.constants';
import { CryptoModule } from './crypto.module';
import { CryptoService } from './crypto.service';
import { InvalidTokenError } from './fernet';
import { unwrapBifrostStored, wrapBifrostStored } from './key-derivation';
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

describe('CryptoModule', () => {
  it('forRoot provides the options and the service, and exports the service', () => {
    const mod = CryptoModule.forRoot(options);
    expect(mod.module).toBe(CryptoModule);
    expect(mod.providers).toEqual([{ provide: CRYPTO_OPTIONS, useValue: options }, CryptoService]);
    expect(mod.exports).toEqual([CryptoService]);
  });

  it('forRootAsync provides the options from a factory', () => {
    const useFactory = () => options;
    const mod = CryptoModule.forRootAsync({ useFactory, inject: ['CONFIG'] });
    expect(mod.providers).toEqual([{ provide: CRYPTO_OPTIONS, useFactory, inject: ['CONFIG'] }, CryptoService]);
    expect(mod.exports).toEqual([CryptoService]);
  });
});
