import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvError, loadEnv, parseDatabaseUrl } from './env';

const KEY = 'k'.repeat(32);
const tmpDb = () => `sqlite:${join(mkdtempSync(join(tmpdir(), 'env-spec-')), 'db.sqlite')}`;

function failure(env: Record<string, string>): EnvError {
  try {
    loadEnv(env);
  } catch (err) {
    if (err instanceof EnvError) return err;
    throw err;
  }
  throw new Error('expected loadEnv to fail');
}

describe('loadEnv', () => {
  it('applies defaults: port 3000, SQLite under ./data, development', () => {
    const env = loadEnv({ BIFROST_SECRET_KEY: KEY });
    expect(env).toMatchObject({ port: 3000, nodeEnv: 'development', logLevel: 'info', previousSecretKeys: [], corsOrigins: [], httpsOnly: false, requestTimeoutMs: 120_000 });
    expect(env.database).toEqual({ kind: 'sqlite', url: 'sqlite:./data/bifrost.sqlite', sqlitePath: './data/bifrost.sqlite', timeoutMs: 10_000 });
  });

  it('reads MySQL URLs and previous keys', () => {
    const env = loadEnv({ BIFROST_SECRET_KEY: KEY, DATABASE_URL: 'mysql://u:p@db:3306/bifrost', BIFROST_SECRET_KEY_PREVIOUS: `${'a'.repeat(32)}, ${'b'.repeat(40)}` });
    expect(env.database).toEqual({ kind: 'mysql', url: 'mysql://u:p@db:3306/bifrost', timeoutMs: 10_000 });
    expect(loadEnv({ BIFROST_SECRET_KEY: KEY, DATABASE_URL: 'mysql://u:p@db:3306/bifrost', DATABASE_TIMEOUT_MS: '2500' }).database.timeoutMs).toBe(2500);
    expect(env.previousSecretKeys).toEqual(['a'.repeat(32), 'b'.repeat(40)]);
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ NODE_ENV: 'staging' }, 'NODE_ENV'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ DATABASE_URL: 'postgres://x/y' }, 'DATABASE_URL'],
    [{ DATABASE_URL: 'mysql://host-only' }, 'DATABASE_URL'],
    [{ BIFROST_SECRET_KEY: 'too-short-secret' }, 'BIFROST_SECRET_KEY'],
    [{ BIFROST_SECRET_KEY_PREVIOUS: 'short' }, 'BIFROST_SECRET_KEY_PREVIOUS'],
    [{ BIFROST_BOOTSTRAP_TOKEN: 'short-token' }, 'BIFROST_BOOTSTRAP_TOKEN'],
    [{ HTTPS_ONLY: 'sometimes' }, 'HTTPS_ONLY'],
    [{ DATABASE_TIMEOUT_MS: '100' }, 'DATABASE_TIMEOUT_MS'],
    [{ DATABASE_TIMEOUT_MS: '5s' }, 'DATABASE_TIMEOUT_MS'],
    [{ REQUEST_TIMEOUT_MS: '0' }, 'REQUEST_TIMEOUT_MS'],
  ])('rejects %j naming %s in one line, without the value', (bad, variable) => {
    const err = failure({ BIFROST_SECRET_KEY: KEY, ...bad });
    expect(err.variable).toBe(variable);
    expect(err.message.startsWith(`${variable}: `)).toBe(true);
    expect(err.message).not.toContain('\n');
    for (const value of Object.values(bad)) if (value.length > 6) expect(err.message).not.toContain(value);
  });

  it('reads HTTPS_ONLY as a boolean, off by default', () => {
    expect(loadEnv({ BIFROST_SECRET_KEY: KEY, HTTPS_ONLY: 'true' }).httpsOnly).toBe(true);
    expect(loadEnv({ BIFROST_SECRET_KEY: KEY, HTTPS_ONLY: '1' }).httpsOnly).toBe(true);
    expect(loadEnv({ BIFROST_SECRET_KEY: KEY, HTTPS_ONLY: 'false' }).httpsOnly).toBe(false);
  });

  it('requires BIFROST_SECRET_KEY in production', () => {
    expect(failure({ NODE_ENV: 'production', DATABASE_URL: tmpDb() }).variable).toBe('BIFROST_SECRET_KEY');
  });

  it('generates and keeps a development key beside the SQLite file when none is set', () => {
    const url = tmpDb();
    const first = loadEnv({ DATABASE_URL: url });
    expect(first.secretKeyGenerated).toBe(true);
    expect(first.secretKey.length).toBeGreaterThanOrEqual(32);
    expect(loadEnv({ DATABASE_URL: url }).secretKey).toBe(first.secretKey);
    expect(readFileSync(join(url.slice('sqlite:'.length), '..', 'secret-key'), 'utf8').trim()).toBe(first.secretKey);
  });

  it('parses sqlite: URLs with relative and absolute paths', () => {
    expect(parseDatabaseUrl('sqlite:/var/lib/bifrost.db').sqlitePath).toBe('/var/lib/bifrost.db');
    expect(parseDatabaseUrl('sqlite:./x.db').sqlitePath).toBe('./x.db');
    expect(() => parseDatabaseUrl('sqlite:')).toThrow(EnvError);
  });
});

describe('TRUST_PROXY', () => {
  const load = (value?: string) => loadEnv({ BIFROST_SECRET_KEY: KEY, DATABASE_URL: tmpDb(), ...(value === undefined ? {} : { TRUST_PROXY: value }) });

  it('is off by default, and when set to off, false or nothing', () => {
    for (const value of [undefined, '', ' ', 'off', 'false', 'OFF']) expect({ value, trustProxy: load(value).trustProxy }).toEqual({ value, trustProxy: [] });
  });

  it('takes a comma-separated list of proxy addresses and CIDRs, IPv4 and IPv6', () => {
    expect(load(' 10.0.0.1, 10.0.0.0/8,192.168.1.0/24 , ::1, fd00::/8, 2001:db8::1/128').trustProxy).toEqual(['10.0.0.1', '10.0.0.0/8', '192.168.1.0/24', '::1', 'fd00::/8', '2001:db8::1/128']);
  });

  it.each(['true', '*', '1', 'loopback', 'proxy.internal', '10.0.0.0/33', '10.0.0.0/', '10.0.0.0/8/8', '::1/129', '10.0.0.256', '10.0.0.1,,10.0.0.2', '10.0.0.0/-1', '10.0.0.0/08x'])(
    'refuses %j, naming TRUST_PROXY without quoting the value',
    (value) => {
      const err = failure({ BIFROST_SECRET_KEY: KEY, DATABASE_URL: tmpDb(), TRUST_PROXY: value });
      expect(err.variable).toBe('TRUST_PROXY');
      if (value.length > 3) expect(err.message).not.toContain(value);
    },
  );
});
