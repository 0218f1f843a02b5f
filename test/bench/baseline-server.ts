/**
 * The hand-written baselines of `npm run bench`: plain node:http + mysql2, no framework, on the
 * service's own database and tables.
 *
 *   tsx test/bench/baseline-server.ts <naive|batched|hello> <port> <mysql url> <BIFROST_SECRET_KEY>
 *
 * - hello:   GET /hello → {"hello":"world"}; no database (the HTTP stack's ceiling on this machine).
 * - naive:   GET /api/sdk/configs/:key as a careful developer would write it in an afternoon:
 *            SHA-256 of the bearer token, token row by its unique hash, one SELECT of the org's and
 *            the global row, Fernet decrypt (the service's own Keyring) and the scope/key binding check, one audit INSERT per request
 *            awaited before answering.
 * - batched: the same, but audit entries of concurrent requests are group-committed: one multi-row
 *            INSERT while the previous one is in flight (at most 2 in flight), each request answered
 *            once its entry has committed. The same scheme as the service's AuditService.
 *
 * Prints "ready" on stdout when listening.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createServer, IncomingMessage, ServerResponse } from 'node:http';
import mysql from 'mysql2/promise';
import { decodeBound, valueFor } from '../../src/crypto/binding';
import { Keyring } from '../../src/crypto/keyring';

const [mode, portArg, url, secretKey] = process.argv.slice(2);
if (!['naive', 'batched', 'hello'].includes(mode) || !portArg) {
  process.stderr.write('usage: baseline-server.ts <naive|batched|hello> <port> [mysql url] [secret key]\n');
  process.exit(2);
}

const KEY = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;
const PREFIX = '/api/sdk/configs/';
const HELLO = JSON.stringify({ hello: 'world' });

const pool = mode === 'hello' ? null : mysql.createPool({ uri: url, connectionLimit: 20, enableKeepAlive: true, timezone: 'Z', supportBigNumbers: true });
const keyring = mode === 'hello' ? null : Keyring.fromSecrets(secretKey);

type AuditRow = [Date, string, string, string, string, string, string, string | null, string, string | null, string, string | null, string | null];

const AUDIT_COLUMNS = '(at, actor_id, actor_name, actor_role, action, scope, `key`, config_type, outcome, reason, request_id, ip, user_agent)';

/** Group commit: entries queued while an insert is in flight go into the next multi-row INSERT. */
class GroupCommit {
  private queue: { row: AuditRow; done: (err?: Error) => void }[] = [];
  private inFlight = 0;
  private scheduled = false;

  add(row: AuditRow): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ row, done: (err) => (err ? reject(err) : resolve()) });
      this.pump();
    });
  }

  private pump(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= 2) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight >= 2) return;
      const batch = this.queue.splice(0, 500);
      if (batch.length === 0) return;
      this.inFlight++;
      pool!
        .query(`INSERT INTO audit_entries ${AUDIT_COLUMNS} VALUES ?`, [batch.map((p) => p.row)])
        .then(
          () => batch.forEach((p) => p.done()),
          (err: Error) => batch.forEach((p) => p.done(err)),
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    });
  }
}

const group = new GroupCommit();

function reply(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

const error = (res: ServerResponse, status: number, code: string) => reply(res, status, JSON.stringify({ statusCode: status, code }));

async function sdkRead(req: IncomingMessage, res: ServerResponse, rawKey: string): Promise<void> {
  const header = req.headers.authorization;
  if (!header?.startsWith('Bearer ')) return error(res, 401, 'MISSING_TOKEN');
  const hash = createHash('sha256').update(header.slice(7), 'utf8').digest('hex');
  const [tokens] = await pool!.execute<mysql.RowDataPacket[]>('SELECT id, name, role, org_id, revoked_at FROM api_tokens WHERE token_hash = ?', [hash]);
  const token = tokens[0];
  if (!token || token.revoked_at) return error(res, 401, 'INVALID_TOKEN');
  if (token.role !== 'service' || !token.org_id) return error(res, 403, 'ROLE_NOT_ALLOWED');
  const key = decodeURIComponent(rawKey);
  if (!KEY.test(key)) return error(res, 400, 'INVALID_KEY');
  const orgId = token.org_id as string;
  const [rows] = await pool!.execute<mysql.RowDataPacket[]>('SELECT scope, `key`, type, value, ciphertext, has_value FROM configs WHERE `key` = ? AND scope IN (?, ?)', [key, orgId, 'global']);
  const row = rows.find((r) => r.scope === orgId) ?? rows[0];
  let status = 200;
  let body = '';
  if (!row) {
    status = 404;
    body = JSON.stringify({ statusCode: 404, code: 'CONFIG_NOT_FOUND' });
  } else {
    const value = row.type === 'secret' ? valueFor(decodeBound(keyring!.decrypt(row.ciphertext as string).toString('utf8')), { scope: row.scope as string, key }) : row.value === null ? null : JSON.parse(row.value as string);
    body = JSON.stringify({ key, type: row.type, value, source: row.scope === orgId ? 'org' : 'global' });
  }
  const ua = req.headers['user-agent'];
  const entry: AuditRow = [
    new Date(),
    token.id,
    token.name,
    token.role,
    'config.read',
    row?.scope ?? orgId,
    key,
    row?.type ?? null,
    row ? 'success' : 'failure',
    row ? null : 'CONFIG_NOT_FOUND',
    randomUUID(),
    req.socket.remoteAddress ?? null,
    typeof ua === 'string' ? ua.slice(0, 255) : null,
  ];
  if (mode === 'batched') await group.add(entry);
  else await pool!.execute(`INSERT INTO audit_entries ${AUDIT_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, entry);
  reply(res, status, body);
}

const server = createServer((req, res) => {
  const path = req.url ?? '/';
  if (req.method === 'GET' && path === '/hello') return reply(res, 200, HELLO);
  if (mode !== 'hello' && req.method === 'GET' && path.startsWith(PREFIX)) {
    sdkRead(req, res, path.slice(PREFIX.length).split('?', 1)[0]).catch(() => {
      if (!res.headersSent) error(res, 503, 'DATABASE_UNAVAILABLE');
    });
    return;
  }
  error(res, 404, 'NOT_FOUND');
});
server.keepAliveTimeout = 65_000;
server.listen(Number(portArg), '127.0.0.1', () => process.stdout.write('ready\n'));

const stop = () => {
  server.close();
  void pool?.end().catch(() => undefined);
  setTimeout(() => process.exit(0), 500).unref();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
