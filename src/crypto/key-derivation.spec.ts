import { Fernet, InvalidTokenError } from './fernet';
import {
  deriveFernetKey,
  hkdfSha256,
  looksLikeFernetToken,
  unwrapBifrostStored,
  wrapBifrostStored,
} from './key-derivation';
import { Keyring } from './keyring';

const ASCII_SECRET = 'correct-horse-battery-staple-0123456789abcdef';
const UNICODE_SECRET = 'clé-secrète-ünïcødé-日本語-🔑-0123456789';

describe('hkdfSha256', () => {
  it('matches RFC 5869 test case 1', () => {
    const okm = hkdfSha256(
      Buffer.alloc(22, 0x0b),
      Buffer.from('000102030405060708090a0b0c', 'hex'),
      Buffer.from('f0f1f2f3f4f5f6f7f8f9', 'hex'),
      42,
    );
    expect(okm.toString('hex')).toBe(
      '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865',
    );
  });
});

describe('deriveFernetKey', () => {
  // Expected keys computed once with Python 3 stdlib only, HKDF written out by hand:
  //   prk = hmac.new(b'bifrost_secrets_v1', secret.encode('utf-8'), hashlib.sha256).digest()
  //   okm = hmac.new(prk, b'bifrost-secrets-encryption' + b'\x01', hashlib.sha256).digest()
  //   base64.urlsafe_b64encode(okm).decode()
  // and cross-checked against Bifrost's own code path (cryptography 48.0.0 HKDF).
  it.each([
    [ASCII_SECRET, 'jtOLOMxBRLgc1IHE5cUXL4Z2ZbroREE5ReNUH6K0C2I='],
    [UNICODE_SECRET, 'pqITraYOPxSLAmynYo7x51ABIOtdJ2MFeMIU8TlJtf0='],
  ])('derives Bifrost’s key for %j', (secret, expected) => {
    expect(deriveFernetKey(secret)).toBe(expected);
  });

  it('rejects an empty secret and one Python could not encode', () => {
    expect(() => deriveFernetKey('')).toThrow(TypeError);
    expect(() => deriveFernetKey('abc\uD800def')).toThrow(TypeError);
  });
});

describe('Bifrost stored form', () => {
  const token =
    'gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA==';
  // Python: base64.urlsafe_b64encode(token.encode()).decode()
  const stored =
    'Z0FBQUFBQWR3SjZ3QUFFQ0F3UUZCZ2NJQ1FvTERBME9EeTAyMWNwR1ZXS1pfZUV3Q0dNNEJMTEZfNUNWOWRPUG1yaHVWVVBnSm9id096N0pjYm1yUjY0alZtcFU0SXdxREE9PQ==';

  it('wraps like Bifrost and unwraps padded and unpadded values', () => {
    expect(wrapBifrostStored(token)).toBe(stored);
    expect(unwrapBifrostStored(stored)).toBe(token);
    expect(unwrapBifrostStored(stored.replace(/=+$/, ''))).toBe(token);
  });

  it('rejects what is not a wrapped token', () => {
    expect(() => unwrapBifrostStored(token)).toThrow(InvalidTokenError); // not wrapped
    expect(() => unwrapBifrostStored('aGVsbG8=')).toThrow(InvalidTokenError); // "hello"
    expect(() => unwrapBifrostStored(`${stored}!`)).toThrow(InvalidTokenError);
    expect(() => wrapBifrostStored('hello')).toThrow(TypeError);
  });

  it('keeps wrapped and bare tokens apart', () => {
    expect(looksLikeFernetToken(token)).toBe(true);
    expect(looksLikeFernetToken(stored)).toBe(false);
  });

  it('reads a value stored by Bifrost itself', () => {
    // Made with Python (cryptography 48.0.0), as Bifrost's encrypt_secret does:
    //   base64.urlsafe_b64encode(Fernet(derive(ASCII_SECRET)).encrypt('p@ssw0rd-ünïcødé'.encode())).decode()
    const fromBifrost =
      'Z0FBQUFBQnJDX2E0cnJ1UHJWVTZLYzJFVzUyMzh4aTJQV0FwV3FVWFhhMm9sZ1I0V1d3b3BkeDdQeEx1b1p2Ymx0bVR6c2d0ZEdIM2d3TjZwMnNnZ3VvbkdOeHpXUHN3OWxtTy1GWXhCbDZST0lmY2c0QmxpUXM9';
    const plain = new Fernet(deriveFernetKey(ASCII_SECRET)).decrypt(unwrapBifrostStored(fromBifrost));
    expect(plain.toString('utf8')).toBe('p@ssw0rd-ünïcødé');
    expect(() => Keyring.fromSecrets(UNICODE_SECRET).decrypt(unwrapBifrostStored(fromBifrost))).toThrow(
      InvalidTokenError,
    );
  });
});
