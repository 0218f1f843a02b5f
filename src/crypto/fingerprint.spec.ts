import { CryptoService } from './crypto.service';
import { deriveFernetKey } from './key-derivation';
import { FINGERPRINT_LENGTH, fingerprintKey, fingerprintOf, sameValue } from './fingerprint';

const KEY = 'correct-horse-battery-staple-0123456789abcdef';
const OTHER = 'another-deployment-key-0123456789abcdef';

describe('fingerprints', () => {
  // Expected values computed once with Python 3's hmac and hashlib, HKDF written out by hand:
  //   prk = hmac.new(b'bifrost-config', key.encode(), sha256).digest()
  //   okm = hmac.new(prk, b'bifrost-config secret fingerprint v1' + b'\x01', sha256).digest()
  //   hmac.new(okm, value.encode(), sha256).hexdigest()[:12]
  it.each([
    [KEY, 'sk_live_abc123', 'ef3c469e87e6'],
    [OTHER, 'sk_live_abc123', 'e56d51f77e01'],
    [KEY, 'clé 🔑', 'b775f6b5c242'],
  ])('under %j, %j has fingerprint %s', (secretKey, value, expected) => {
    expect(fingerprintOf(fingerprintKey(secretKey), value)).toBe(expected);
  });

  it('is short hex, equal for equal values, different for different values and keys', () => {
    const k = fingerprintKey(KEY);
    expect(fingerprintOf(k, 'abc')).toMatch(new RegExp(`^[0-9a-f]{${FINGERPRINT_LENGTH}}$`));
    expect(fingerprintOf(k, 'abc')).toBe(fingerprintOf(fingerprintKey(KEY), 'abc'));
    expect(fingerprintOf(k, 'abc')).not.toBe(fingerprintOf(k, 'abd'));
    expect(fingerprintOf(k, 'abc')).not.toBe(fingerprintOf(fingerprintKey(OTHER), 'abc'));
  });

  it('uses a key of its own, not the encryption key', () => {
    expect(fingerprintKey(KEY).equals(Buffer.from(deriveFernetKey(KEY), 'base64url'))).toBe(false);
    expect(() => fingerprintKey('')).toThrow(TypeError);
  });

  it('compares values of any lengths', () => {
    const k = fingerprintKey(KEY);
    expect(sameValue(k, 'sk_live_1', 'sk_live_1')).toBe(true);
    expect(sameValue(k, 'sk_live_1', 'sk_live_2')).toBe(false);
    expect(sameValue(k, 'sk_live_1', 'sk_live_1 and more')).toBe(false);
    expect(sameValue(k, '', 'x')).toBe(false);
  });

  it('CryptoService fingerprints under BIFROST_SECRET_KEY (the current key, not the previous ones)', () => {
    const a = new CryptoService({ secretKey: KEY, previousSecretKeys: [] });
    const b = new CryptoService({ secretKey: OTHER, previousSecretKeys: [KEY] });
    expect(a.fingerprint('sk_live_abc123')).toBe('ef3c469e87e6');
    expect(b.fingerprint('sk_live_abc123')).toBe('e56d51f77e01');
    expect(a.sameValue('x1', 'x1')).toBe(true);
  });
});
