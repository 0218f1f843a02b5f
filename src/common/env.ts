import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname } from 'node:path';

export type NodeEnv = 'development' | 'production' | 'test';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'silent';
export type LogFormat = 'json' | 'pretty';

export interface DatabaseSettings {
  kind: 'sqlite' | 'mysql';
  /** SQLite file path, or the mysql:// URL. */
  url: string;
  sqlitePath?: string;
  /**
   * MySQL/MariaDB: how long any one statement may take, in ms (DATABASE_TIMEOUT_MS; a new
   * connection's handshake at most 5 s of it). A silent partition is answered 503 within about this
   * time. Lock waits count too: set it above the longest lock wait a hot key should survive.
   * SQLite: how long a statement or transaction waits (without blocking the event loop) for the
   * file's write lock while another process (the CLI) holds it, before 503 DATABASE_BUSY.
   */
  timeoutMs?: number;
}

/** The validated environment, typed. Built once at boot (and by the CLI). */
export interface AppEnv {
  port: number;
  nodeEnv: NodeEnv;
  logLevel: LogLevel;
  /** JSON lines (production, tests) or one readable line each (development's default). */
  logFormat: LogFormat;
  database: DatabaseSettings;
  secretKey: string;
  /** True when the key was generated into ./data/ because none was given (development only). */
  secretKeyGenerated: boolean;
  previousSecretKeys: string[];
  bootstrapToken?: string;
  /**
   * TRUST_PROXY: the addresses or CIDRs of the proxies whose X-Forwarded-For is believed (Fastify's
   * `trustProxy`); empty when off, the default: the client address is then the socket's.
   */
  trustProxy: string[];
  /** Comma-separated allowed CORS origins; CORS is off when empty. */
  corsOrigins: string[];
  /**
   * The service is reached over HTTPS only (TLS here or at a proxy in front): only then are the
   * HTTPS-only headers sent (Strict-Transport-Security, CSP upgrade-insecure-requests). Sent over
   * plain HTTP, upgrade-insecure-requests leaves Swagger UI blank on any host but localhost.
   */
  httpsOnly: boolean;
  /** The longest a client may take to send a whole request, headers and body (REQUEST_TIMEOUT_MS). */
  requestTimeoutMs: number;
  /** An export whose client reads nothing for this long is cut off and its snapshot released (EXPORT_IDLE_MS). */
  exportIdleMs: number;
  /**
   * BIFROST_TOKEN_MAX_TTL (seconds; `30d`, `12h`, `90m` too): when set, every token created through
   * POST /api/tokens must expire, at most this long after its creation. Null (the default): off.
   */
  tokenMaxTtlSeconds: number | null;
  /** An execution token's lifetime when the request names none (BIFROST_EXECUTION_TOKEN_TTL, default 1 h). */
  executionTokenTtlSeconds: number;
  /** The longest an execution token may be asked to live (BIFROST_EXECUTION_TOKEN_MAX_TTL, default 24 h). */
  executionTokenMaxTtlSeconds: number;
  /**
   * BIFROST_STRICT_SECRET_READS: a secret's plaintext is returned only to a read bound to a running
   * execution (an execution token), so every plaintext that leaves is registered with a scrubber.
   */
  strictSecretReads: boolean;
}

export class EnvError extends Error {
  constructor(
    readonly variable: string,
    problem: string,
  ) {
    super(`${variable}: ${problem}`);
    this.name = 'EnvError';
  }
}

const MIN_SECRET_KEY = 32;
const GENERATED_KEY_FILE = './data/secret-key';
const NODE_ENVS: NodeEnv[] = ['development', 'production', 'test'];
const LOG_LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'silent'];

const DURATION_UNITS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
/** The most any duration setting may say: ten years. */
const MAX_DURATION_SECONDS = 10 * 365 * 86400;

/** A duration in seconds: `3600`, `3600s`, `90m`, `12h`, `30d`; undefined when unset or empty. */
export function parseDuration(variable: string, raw: string | undefined): number | undefined {
  const value = raw?.trim() ?? '';
  if (value === '') return undefined;
  const m = /^(\d{1,10})([smhd]?)$/.exec(value);
  const seconds = m ? Number(m[1]) * DURATION_UNITS[m[2] || 's'] : NaN;
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_DURATION_SECONDS) {
    throw new EnvError(variable, 'must be a duration of 1 second to 10 years: seconds, or a number with s, m, h or d (e.g. 3600, 90m, 30d)');
  }
  return seconds;
}

export function parseDatabaseUrl(raw: string | undefined): DatabaseSettings {
  const url = raw?.trim() || 'sqlite:./data/bifrost.sqlite';
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (!path) throw new EnvError('DATABASE_URL', 'sqlite: needs a file path, e.g. sqlite:./data/bifrost.sqlite');
    return { kind: 'sqlite', url, sqlitePath: path };
  }
  if (url.startsWith('mysql://') || url.startsWith('mariadb://')) {
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new EnvError('DATABASE_URL', 'is not a valid URL (expected mysql://user:password@host:3306/db)');
    }
    if (!parsed.hostname || parsed.pathname.length < 2) {
      throw new EnvError('DATABASE_URL', 'needs a host and a database name (mysql://user:password@host:3306/db)');
    }
    return { kind: 'mysql', url: url.replace(/^mariadb:/, 'mysql:') };
  }
  throw new EnvError('DATABASE_URL', 'must start with sqlite: or mysql://');
}

/**
 * TRUST_PROXY: off (unset, empty, `off` or `false`), or a comma-separated list of IPv4/IPv6
 * addresses and CIDRs. Trusting every peer (`true`, `*`) or a hop count is refused: any client
 * could then choose the address the throttle and the audit log see.
 */
export function parseTrustProxy(raw: string | undefined): string[] {
  const value = raw?.trim() ?? '';
  if (value === '' || /^(off|false)$/i.test(value)) return [];
  return value.split(',').map((entry, i) => {
    const item = entry.trim();
    const [address, prefix, ...rest] = item.split('/');
    const family = isIP(address ?? '');
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (!family || !prefixOk || rest.length > 0) {
      throw new EnvError('TRUST_PROXY', `entry ${i + 1} is not an IP address or CIDR (expected off, or addresses and CIDRs such as 172.16.0.0/12 or fd00::/8)`);
    }
    return item;
  });
}

/**
 * Validates the environment into a typed object. Throws EnvError naming the variable; never echoes
 * a secret value in the message.
 */
export interface LoadOptions {
  /**
   * Without BIFROST_SECRET_KEY, outside production: create the development key if there is none
   * (the server, `bifrost migrate`). False for the CLI's other commands, which must never start a
   * new key beside a database whose secrets another key encrypted.
   */
  createDevelopmentKey?: boolean;
}

export function loadEnv(source: NodeJS.ProcessEnv = process.env, options: LoadOptions = {}): AppEnv {
  const nodeEnv = (source.NODE_ENV?.trim() || 'development') as NodeEnv;
  if (!NODE_ENVS.includes(nodeEnv)) throw new EnvError('NODE_ENV', `must be one of ${NODE_ENVS.join(', ')}`);

  const logLevel = (source.LOG_LEVEL?.trim() || (nodeEnv === 'test' ? 'warn' : 'info')) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) throw new EnvError('LOG_LEVEL', `must be one of ${LOG_LEVELS.join(', ')}`);
  const logFormat = (source.LOG_FORMAT?.trim().toLowerCase() || (nodeEnv === 'development' ? 'pretty' : 'json')) as LogFormat;
  if (logFormat !== 'json' && logFormat !== 'pretty') throw new EnvError('LOG_FORMAT', 'must be json or pretty');

  const portRaw = source.PORT?.trim() || '3000';
  if (!/^\d{1,5}$/.test(portRaw) || Number(portRaw) > 65535) {
    throw new EnvError('PORT', 'must be an integer from 0 to 65535');
  }

  const database = parseDatabaseUrl(source.DATABASE_URL);
  const timeoutRaw = source.DATABASE_TIMEOUT_MS?.trim() || '10000';
  if (!/^\d{1,7}$/.test(timeoutRaw) || Number(timeoutRaw) < 500 || Number(timeoutRaw) > 600_000) {
    throw new EnvError('DATABASE_TIMEOUT_MS', 'must be an integer from 500 to 600000 (milliseconds)');
  }
  database.timeoutMs = Number(timeoutRaw);

  let secretKey = source.BIFROST_SECRET_KEY ?? '';
  let secretKeyGenerated = false;
  if (!secretKey) {
    if (nodeEnv === 'production') {
      throw new EnvError('BIFROST_SECRET_KEY', `is required in production (at least ${MIN_SECRET_KEY} characters)`);
    }
    secretKey = readOrCreateDevelopmentKey(database, options.createDevelopmentKey !== false);
    secretKeyGenerated = true;
  } else if (secretKey.length < MIN_SECRET_KEY) {
    throw new EnvError('BIFROST_SECRET_KEY', `must be at least ${MIN_SECRET_KEY} characters`);
  }

  const previousSecretKeys = (source.BIFROST_SECRET_KEY_PREVIOUS ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean);
  previousSecretKeys.forEach((k, i) => {
    if (k.length < MIN_SECRET_KEY) {
      throw new EnvError('BIFROST_SECRET_KEY_PREVIOUS', `entry ${i + 1} must be at least ${MIN_SECRET_KEY} characters`);
    }
  });

  const bootstrapToken = source.BIFROST_BOOTSTRAP_TOKEN || undefined;
  if (bootstrapToken !== undefined && (bootstrapToken.length < 32 || /\s/.test(bootstrapToken))) {
    throw new EnvError('BIFROST_BOOTSTRAP_TOKEN', 'must be at least 32 characters with no whitespace');
  }

  const trustProxy = parseTrustProxy(source.TRUST_PROXY);

  const corsOrigins = (source.CORS_ORIGINS ?? '')
    .split(',')
    .map((o) => o.trim())
    .filter(Boolean);

  const httpsOnlyRaw = source.HTTPS_ONLY?.trim().toLowerCase() || 'false';
  if (!['true', 'false', '1', '0'].includes(httpsOnlyRaw)) throw new EnvError('HTTPS_ONLY', 'must be true or false');
  const httpsOnly = httpsOnlyRaw === 'true' || httpsOnlyRaw === '1';

  const requestTimeoutRaw = source.REQUEST_TIMEOUT_MS?.trim() || '120000';
  if (!/^\d{1,7}$/.test(requestTimeoutRaw) || Number(requestTimeoutRaw) < 500 || Number(requestTimeoutRaw) > 3_600_000) {
    throw new EnvError('REQUEST_TIMEOUT_MS', 'must be an integer from 500 to 3600000 (milliseconds)');
  }
  const exportIdleRaw = source.EXPORT_IDLE_MS?.trim() || '30000';
  if (!/^\d{1,7}$/.test(exportIdleRaw) || Number(exportIdleRaw) < 500 || Number(exportIdleRaw) > 3_600_000) {
    throw new EnvError('EXPORT_IDLE_MS', 'must be an integer from 500 to 3600000 (milliseconds)');
  }

  const tokenMaxTtl = (source.BIFROST_TOKEN_MAX_TTL ?? '').trim();
  const tokenMaxTtlSeconds = /^(off|false|0)?$/i.test(tokenMaxTtl) ? null : parseDuration('BIFROST_TOKEN_MAX_TTL', tokenMaxTtl)!;
  const executionTokenMaxTtlSeconds = parseDuration('BIFROST_EXECUTION_TOKEN_MAX_TTL', source.BIFROST_EXECUTION_TOKEN_MAX_TTL) ?? 86400;
  const executionTokenTtlSeconds = parseDuration('BIFROST_EXECUTION_TOKEN_TTL', source.BIFROST_EXECUTION_TOKEN_TTL) ?? Math.min(3600, executionTokenMaxTtlSeconds);
  if (executionTokenTtlSeconds > executionTokenMaxTtlSeconds) {
    throw new EnvError('BIFROST_EXECUTION_TOKEN_TTL', 'must not be longer than BIFROST_EXECUTION_TOKEN_MAX_TTL');
  }
  const strictRaw = source.BIFROST_STRICT_SECRET_READS?.trim().toLowerCase() || 'false';
  if (!['true', 'false', '1', '0'].includes(strictRaw)) throw new EnvError('BIFROST_STRICT_SECRET_READS', 'must be true or false');

  return {
    port: Number(portRaw),
    nodeEnv,
    logLevel,
    logFormat,
    database,
    secretKey,
    secretKeyGenerated,
    previousSecretKeys,
    bootstrapToken,
    trustProxy,
    corsOrigins,
    httpsOnly,
    requestTimeoutMs: Number(requestTimeoutRaw),
    exportIdleMs: Number(exportIdleRaw),
    tokenMaxTtlSeconds,
    executionTokenTtlSeconds,
    executionTokenMaxTtlSeconds,
    strictSecretReads: strictRaw === 'true' || strictRaw === '1',
  };
}

/** Development convenience: a random key kept in ./data/ so restarts can still decrypt. */
function readOrCreateDevelopmentKey(database: DatabaseSettings, create: boolean): string {
  const file = database.sqlitePath ? `${dirname(database.sqlitePath)}/secret-key` : GENERATED_KEY_FILE;
  if (existsSync(file)) {
    const key = readFileSync(file, 'utf8').trim();
    if (key.length >= MIN_SECRET_KEY) return key;
  }
  if (!create) {
    throw new EnvError('BIFROST_SECRET_KEY', `is not set and there is no development key at ${file}: run bifrost where the service runs, set BIFROST_SECRET_KEY, or create a database and key with bifrost migrate`);
  }
  mkdirSync(dirname(file), { recursive: true });
  const key = randomBytes(32).toString('base64url');
  writeFileSync(file, key + '\n', { mode: 0o600 });
  return key;
}
