import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { inspect } from 'node:util';
import { encodeBase64Url } from './encoding';
import { Fernet, InvalidTokenError, looksLikeFernetToken } from './fernet';

// The vectors live in the repository (vectors/fernet/README.md says where they come from). A
// missing file must fail the suite, never skip it: readFileSync throws at load time.
const VECTORS = path.join(__dirname, 'vectors/fernet');
function vectors<T>(file: string): T {
  return JSON.parse(readFileSync(path.join(VECTORS, file), 'utf8')) as T;
}

interface GenerateVector { token: string; now: string; iv: number[]; src: string; secret: string }
interface VerifyVector { token: string; now: string; ttl_sec: number; src: string; secret: string }
interface InvalidVector { desc: string; token: string; now: string; ttl_sec: number; secret: string }
interface PythonTokens { key: string; tokens: Record<string, string>; expect_hex: Record<string, string> }

const generate = vectors<GenerateVector[]>('generate.json');
const verify = vectors<VerifyVector[]>('verify.json');
const invalid = vectors<InvalidVector[]>('invalid.json');
const python = vectors<PythonTokens>('python-cryptography-tokens.json');

describe('Fernet spec vectors', () => {
  it('has every vector file with its entries', () => {
    expect(generate.length).toBeGreaterThan(0);
    expect(verify.length).toBeGreaterThan(0);
    expect(invalid).toHaveLength(8);
    expect(Object.keys(python.tokens).sort()).toEqual(Object.keys(python.expect_hex).sort());
    expect(Object.keys(python.tokens).length).toBeGreaterThan(0);
  });

  it.each(generate.map((v) => [v.token, v] as const))('generate.json reproduces %s', (_, v) => {
    const token = new Fernet(v.secret).encrypt(v.src, { now: new Date(v.now), iv: Buffer.from(v.iv) });
    expect(token).toBe(v.token);
  });

  it.each(verify.map((v) => [v.token, v] as const))('verify.json decrypts %s', (_, v) => {
    const plain = new Fernet(v.secret).decrypt(v.token, { ttlSec: v.ttl_sec, now: new Date(v.now) });
    expect(plain.toString('utf8')).toBe(v.src);
  });

  it.each(invalid.map((v) => [v.desc, v] as const))('invalid.json rejects: %s', (_, v) => {
    const fernet = new Fernet(v.secret);
    expect(() => fernet.decrypt(v.token, { ttlSec: v.ttl_sec, now: new Date(v.now) })).toThrow(
      InvalidTokenError,
    );
  });

  it.each(Object.keys(python.tokens))('decrypts the Python cryptography token "%s" byte for byte', (name) => {
    const plain = new Fernet(python.key).decrypt(python.tokens[name]);
    expect(plain.toString('hex')).toBe(python.expect_hex[name]);
  });
});

describe('Fernet', () => {
  const key = Fernet.generateKey();
  const fernet = new Fernet(key);

  it('round-trips empty, binary and 64 KiB plaintexts', () => {
    const binary = Buffer.from([0x00, 0xff, 0x80, 0x0a, 0x0d, 0xfe, 0x00]);
    const long = Buffer.alloc(64 * 1024, 0xa5);
    for (const plain of [Buffer.alloc(0), binary, long]) {
      expect(fernet.decrypt(fernet.encrypt(plain)).equals(plain)).toBe(true);
    }
  });

  it('uses a fresh IV for every token', () => {
    const a = fernet.encrypt('same text');
    const b = fernet.encrypt('same text');
    expect(a).not.toBe(b);
    expect(Buffer.from(a, 'base64url').subarray(9, 25)).not.toEqual(Buffer.from(b, 'base64url').subarray(9, 25));
  });

  it('rejects a token with any single byte changed', () => {
    const raw = Buffer.from(fernet.encrypt('tamper me'), 'base64url');
    for (let i = 0; i < raw.length; i++) {
      const copy = Buffer.from(raw);
      copy[i] ^= 0x01;
      expect(() => fernet.decrypt(encodeBase64Url(copy))).toThrow(InvalidTokenError);
    }
  });

  it('rejects a token made under another key', () => {
    expect(() => new Fernet(Fernet.generateKey()).decrypt(fernet.encrypt('x'))).toThrow(InvalidTokenError);
  });

  it('accepts only strict, padded base64url', () => {
    const token = fernet.encrypt('hello'); // 'hello' gives a 100-char token ending in '=='
    expect(token.endsWith('==')).toBe(true);
    const variants = [
      token.replace(/=+$/, ''), // padding dropped
      token + '=', // extra padding
      ` ${token}`, // whitespace
      `${token}\n`,
      token.replace(/-/g, '+').replace(/_/g, '/'), // standard alphabet
      '',
    ].filter((v) => v !== token);
    for (const bad of variants) expect(() => fernet.decrypt(bad)).toThrow(InvalidTokenError);
    expect(() => fernet.decrypt(null as unknown as string)).toThrow(InvalidTokenError);
  });

  it('rejects a non-canonical spelling of a valid token (non-zero trailing bits)', () => {
    const v = generate[0];
    const loose = v.token.replace(/DA==$/, 'DB==');
    expect(loose).not.toBe(v.token);
    expect(Buffer.from(loose, 'base64url').equals(Buffer.from(v.token, 'base64url'))).toBe(true);
    expect(() => new Fernet(v.secret).decrypt(loose)).toThrow(InvalidTokenError);
  });

  it('applies the TTL and the clock-skew rule only when a TTL is given', () => {
    const token = fernet.encrypt('t', { now: 1_000_000 });
    expect(fernet.decrypt(token, { ttlSec: 60, now: 1_000_060 }).toString()).toBe('t');
    expect(() => fernet.decrypt(token, { ttlSec: 60, now: 1_000_061 })).toThrow(InvalidTokenError);
    expect(fernet.decrypt(token, { ttlSec: 60, now: 1_000_000 - 60 }).toString()).toBe('t');
    expect(() => fernet.decrypt(token, { ttlSec: 60, now: 1_000_000 - 61 })).toThrow(InvalidTokenError);
    // Stored secrets are read without a TTL: no time check at all, as in Python.
    expect(fernet.decrypt(token).toString()).toBe('t');
    expect(fernet.decryptWithTimestamp(token).timestamp).toBe(1_000_000);
  });

  it('reports bad options as caller errors, not as invalid tokens', () => {
    const token = fernet.encrypt('x');
    expect(() => fernet.decrypt(token, { ttlSec: -1 })).toThrow(RangeError);
    expect(() => fernet.encrypt('x', { iv: Buffer.alloc(8) })).toThrow(RangeError);
    expect(() => fernet.encrypt('x', { now: new Date(Number.NaN) })).toThrow(RangeError);
  });

  it('rejects malformed keys', () => {
    expect(() => new Fernet('too-short')).toThrow(TypeError);
    expect(() => new Fernet(Buffer.alloc(16))).toThrow(TypeError);
    expect(() => new Fernet(key.replace(/=$/, ''))).toThrow(TypeError);
    expect(() => new Fernet(Buffer.alloc(32))).not.toThrow();
  });

  it('keeps its keys out of inspection output', () => {
    const raw = Buffer.from(key, 'base64url');
    const shown = JSON.stringify(fernet) + inspect(fernet, { showHidden: true, depth: 5 });
    expect(shown).not.toContain(raw.subarray(0, 16).toString('hex'));
    expect(shown).not.toContain(key);
  });

  it('tells Fernet-shaped strings apart', () => {
    expect(looksLikeFernetToken(generate[0].token)).toBe(true);
    expect(looksLikeFernetToken(fernet.encrypt(''))).toBe(true);
    expect(looksLikeFernetToken('hello')).toBe(false);
    expect(looksLikeFernetToken(invalid.find((v) => v.desc === 'too short')!.token)).toBe(false);
    expect(looksLikeFernetToken(Buffer.from(generate[0].token).toString('base64url'))).toBe(false);
  });
});
