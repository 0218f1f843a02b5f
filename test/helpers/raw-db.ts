import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { TestApp } from './test-app';

/**
 * Raw SQL against the test database, the same text on SQLite and MySQL/MariaDB (`?` placeholders;
 * `key` is quoted with backticks, which SQLite accepts too).
 */
export async function rawRows<T = Record<string, unknown>>(t: TestApp, sql: string, params: unknown[] = []): Promise<T[]> {
  return (await t.dataSource.query(sql, params)) as T[];
}

export async function rawCount(t: TestApp, table: string, where = '1 = 1', params: unknown[] = []): Promise<number> {
  const [row] = await rawRows<{ n: number | string }>(t, `SELECT COUNT(*) AS n FROM ${table} WHERE ${where}`, params);
  return Number(row.n);
}

export const configRow = async (t: TestApp, scope: string, key: string) =>
  (await rawRows(t, 'SELECT * FROM configs WHERE scope = ? AND `key` = ?', [scope, key]))[0] as Record<string, unknown> | undefined;

/**
 * An HTTP request sent exactly as written: supertest (WHATWG URL) would normalise `/.` and `/..`
 * away, so keys like `.` and `..` never reached the server.
 */
export function rawHttp(
  baseUrl: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string; body: Record<string, unknown> }> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method, path, headers: { ...headers, ...(body !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) } : {}) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: Record<string, unknown> = {};
          try {
            parsed = text ? JSON.parse(text) : {};
          } catch {
            /* not JSON */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body: parsed });
        });
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(body);
    req.end();
  });
}

/** "METHOD /path" of the request a supertest response answers, to name it in a failed expectation. */
export function sentTo(res: object): string {
  const req = (res as { req?: { method?: string; path?: string } }).req;
  return `${req?.method} ${req?.path}`;
}

/** A trigger that makes every insert into audit_entries fail: the audit log is "down". */
export async function breakAudit(t: TestApp): Promise<void> {
  if (t.dataSource.options.type === 'better-sqlite3') {
    await t.dataSource.query("CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'audit down'); END;");
  } else {
    await t.dataSource.query("CREATE TRIGGER audit_down BEFORE INSERT ON audit_entries FOR EACH ROW SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'audit down'");
  }
}

export async function repairAudit(t: TestApp): Promise<void> {
  await t.dataSource.query('DROP TRIGGER IF EXISTS audit_down');
}

/** The forms a secret could take if it leaked: raw, base64 (padded or not), base64url, hex, SHA-256, URL-encoded. */
export function leakForms(s: string): string[] {
  return [
    s,
    Buffer.from(s).toString('base64'),
    Buffer.from(s).toString('base64').replace(/=+$/, ''),
    Buffer.from(s).toString('base64url'),
    Buffer.from(s).toString('hex'),
    createHash('sha256').update(s).digest('hex'),
    createHash('sha256').update(s).digest('base64'),
    encodeURIComponent(s),
  ];
}

/**
 * Every column of every audit entry, searched for each needle (needle → what it is). Returns one
 * line per hit, so a failing test says which column of which entry holds what.
 */
export async function auditLeaks(t: TestApp, needles: Map<string, string>): Promise<{ rows: number; leaks: string[] }> {
  const rows = await rawRows(t, 'SELECT * FROM audit_entries');
  const leaks: string[] = [];
  for (const row of rows) {
    for (const [column, v] of Object.entries(row)) {
      if (v === null || v === undefined) continue;
      const text = v instanceof Date ? v.toISOString() : Buffer.isBuffer(v) ? v.toString('utf8') : String(v);
      for (const [needle, what] of needles) if (needle.length >= 4 && text.includes(needle)) leaks.push(`${column} of entry ${row.id} holds a ${what}`);
    }
  }
  return { rows: rows.length, leaks };
}
