import { encodeBase64Url } from './encoding';
import { Fernet, InvalidTokenError } from './fernet';
import { deriveFernetKey } from './key-derivation';
import { Keyring } from './keyring';

const CURRENT = 'current-secret-key-0123456789abcdefghij';
const PREVIOUS = ['previous-secret-key-1-0123456789abcdef', 'previous-secret-key-2-0123456789abcdef'];

describe('Keyring', () => {
  const ring = Keyring.fromSecrets(CURRENT, PREVIOUS);
  // One single-key ring per key in `ring`, index for index, to mint tokens under each.
  const single = [CURRENT, ...PREVIOUS].map((s) => Keyring.fromSecrets(s));

  it('round-trips under the current key', () => {
    const token = ring.encrypt('hello');
    expect(ring.decrypt(token).toString()).toBe('hello');
    expect(ring.decryptWithIndex(token).keyIndex).toBe(0);
    expect(ring.isCurrent(token)).toBe(true);
    expect(ring.reencrypt(token)).toBe(token); // nothing to do
    expect(ring.size).toBe(3);
  });

  it.each([1, 2])('opens a token from previous key %i and moves it to the current key', (index) => {
    const token = single[index].encrypt('rotate me', { now: 1_700_000_000 });
    expect(ring.decrypt(token).toString()).toBe('rotate me');
    expect(ring.decryptWithIndex(token)).toEqual({ plaintext: Buffer.from('rotate me'), keyIndex: index });
    expect(ring.isCurrent(token)).toBe(false);

    const moved = ring.reencrypt(token);
    expect(moved).not.toBe(token);
    expect(ring.isCurrent(moved)).toBe(true);
    expect(ring.decryptWithIndex(moved).keyIndex).toBe(0);
    expect(single[0].decrypt(moved).toString()).toBe('rotate me');
    // The creation time survives, as with MultiFernet.rotate.
    expect(new Fernet(deriveFernetKey(CURRENT)).decryptWithTimestamp(moved).timestamp).toBe(1_700_000_000);
  });

  it('rejects tokens no key opens, and tampered ones', () => {
    const stranger = Keyring.fromSecrets('someone-else-entirely-0123456789abcdef').encrypt('x');
    expect(() => ring.decrypt(stranger)).toThrow(InvalidTokenError);
    expect(() => ring.decryptWithIndex(stranger)).toThrow(InvalidTokenError);
    expect(() => ring.reencrypt(stranger)).toThrow(InvalidTokenError);
    expect(ring.isCurrent(stranger)).toBe(false);

    const raw = Buffer.from(single[2].encrypt('x'), 'base64url');
    raw[raw.length - 40] ^= 0x80; // inside the ciphertext
    expect(() => ring.decrypt(encodeBase64Url(raw))).toThrow(InvalidTokenError);
  });

  it('uses a fresh IV each time', () => {
    expect(ring.encrypt('same')).not.toBe(ring.encrypt('same'));
  });

  it('carries empty, binary and 64 KiB plaintexts', () => {
    const binary = Buffer.from([0xff, 0x00, 0xfe, 0x80, 0x00]);
    const long = Buffer.alloc(64 * 1024);
    for (let i = 0; i < long.length; i++) long[i] = i % 251;
    for (const plain of [Buffer.alloc(0), binary, long]) {
      expect(ring.decrypt(ring.encrypt(plain)).equals(plain)).toBe(true);
      expect(ring.decrypt(ring.reencrypt(single[1].encrypt(plain))).equals(plain)).toBe(true);
    }
  });

  it('builds from raw Fernet keys too', () => {
    const current = Fernet.generateKey();
    const old = Fernet.generateKey();
    const raw = Keyring.fromFernetKeys(current, [Buffer.from(old, 'base64url')]);
    expect(raw.decryptWithIndex(new Fernet(old).encrypt('x')).keyIndex).toBe(1);
    expect(new Fernet(current).decrypt(raw.encrypt('y')).toString()).toBe('y');
  });

  it('passes a TTL through and keeps bad options a caller error', () => {
    const token = single[1].encrypt('x', { now: 1000 });
    expect(ring.decrypt(token, { ttlSec: 10, now: 1005 }).toString()).toBe('x');
    expect(() => ring.decrypt(token, { ttlSec: 10, now: 2000 })).toThrow(InvalidTokenError);
    expect(() => ring.decrypt(token, { ttlSec: -5 })).toThrow(RangeError);
  });
});
