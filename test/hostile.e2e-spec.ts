import fc from 'fast-check';
import { createHash, randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect as netConnect } from 'node:net';
import { KEY_PATTERN } from '../src/configs/config-values';
import { rawRows } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

/**
 * Hostile input: property-based bodies and queries for every request DTO, the auth edge cases,
 * security headers and CORS. Invariants checked on every answer: never a 5xx, always the one error
 * shape, never a secret, never an echo of a submitted value in an error, never a changed row when
 * the request was refused, never a polluted Object.prototype.
 */

const RUNS = Number(process.env.HOSTILE_RUNS ?? 60);
const DB = onMysql ? 'MariaDB' : 'SQLite';

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Record<string, unknown>;
}

interface Call {
  method: string;
  path: string;
  headers?: Record<string, string>;
  /** A string is sent as is (with Content-Type application/json unless headers say otherwise). */
  body?: string | object;
  /** Source address on the loopback network, so the per-address auth throttle stays out of the way. */
  from?: string;
}

let nextSource = 1;
/** A fresh loopback source address (127.0.x.y) for requests that are meant to fail authentication. */
const freshSource = () => {
  nextSource++;
  return `127.0.${(nextSource >> 8) & 255}.${(nextSource & 255) || 1}`;
};

/** An HTTP request sent exactly as written (no path normalisation), answered within 15 s. */
function send(baseUrl: string, call: Call): Promise<Answer> {
  const url = new URL(baseUrl);
  const payload = call.body === undefined ? undefined : typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
  const headers: Record<string, string> = { ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)) } : {}), ...call.headers };
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: url.hostname, port: url.port, method: call.method, path: call.path, headers, localAddress: call.from, agent: false, timeout: 15_000 },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: Record<string, unknown> = {};
          try {
            body = text ? JSON.parse(text) : {};
          } catch {
            /* not JSON: checked by the caller */
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, body });
        });
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${call.method} ${call.path}: no answer within 15 s`)));
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

// ---- generators -------------------------------------------------------------------------------

/** A marker planted in generated strings: an error must never quote it back. */
const MARK = 'Zq' + randomBytes(4).toString('hex');

const loneSurrogate = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const hostileChar = fc.oneof(
  fc.constantFrom('\u0000', '\u0008', '\u001f', '\u007f', '\u200b', '\u202e', '\ufeff', '\ufffd', '🚀', '漢', 'é', 'e\u0301', '"', '\\', '/', "'", '`', '%', '<', '>', '&', ';', '\n', '\r'),
  loneSurrogate,
);
/** Unicode strings of every kind: ASCII, any code point, control characters, lone surrogates. */
const weirdString = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.array(hostileChar, { maxLength: 20 }).map((cs) => cs.join('')),
  fc.constantFrom("' OR 1=1 --", '"; DROP TABLE configs; --', '../../etc/passwd', '%2e%2e%2f', '${jndi:ldap://x}', '{{7*7}}', '<script>alert(1)</script>', 'NaN', '-0', '1e309', 'null', 'true'),
);
/** Huge strings: just under and over every limit (1 KiB names, 64 KiB values, the 1 MiB body). */
const hugeString = fc
  .tuple(fc.constantFrom('a', 'é', '🚀', '\u0000', '"'), fc.constantFrom(101, 256, 1001, 16_384, 65_536, 65_537, 300_000, 1_100_000))
  .map(([c, n]) => c.repeat(Math.ceil(n / c.length)));
const marked = weirdString.map((s) => `${MARK}${s}`);
const anyString = fc.oneof({ weight: 4, arbitrary: marked }, { weight: 1, arbitrary: hugeString });

/** JSON nested `depth` levels (the parser refuses more than 64). */
const deep = fc.tuple(fc.integer({ min: 1, max: 150 }), fc.boolean()).map(([depth, arrays]) => {
  let v: unknown = MARK;
  for (let i = 0; i < depth; i++) v = arrays ? [v] : { d: v };
  return v;
});
const anyValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 3, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 2, arbitrary: anyString },
  { weight: 1, arbitrary: deep },
  { weight: 1, arbitrary: fc.constantFrom(0, -0, 1.5, -1, 2 ** 53, 2 ** 53 + 2, 1e308, true, false, null, [], {}, '', '42', 'true') },
);

/** Keys that try prototype pollution, at the top level or nested. */
const POLLUTION = [
  '{"__proto__": {"polluted": "yes"}}',
  '{"constructor": {"prototype": {"polluted": "yes"}}}',
  '{"prototype": {"polluted": "yes"}}',
  '{"__proto__": null}',
  '{"constructor": "x"}',
  '{"a": {"__proto__": {"polluted": "yes"}}}',
  '{"a": [{"constructor": {"prototype": {"polluted": "yes"}}}]}',
  '{"\\u005f\\u005fproto__": {"polluted": "yes"}}',
];
const pollutionKeys = fc.constantFrom('__proto__', 'constructor', 'prototype', 'hasOwnProperty', 'toString', 'valueOf', '__defineGetter__');

/**
 * A JSON text for a DTO: a plausible object with random values for its fields, extra and
 * pollution keys, or no object at all. Built as text so `__proto__` reaches the server as written.
 */
function bodyFor(fields: Record<string, fc.Arbitrary<unknown>>): fc.Arbitrary<string> {
  const plausible = fc.record(
    Object.fromEntries(Object.entries(fields).map(([k, arb]) => [k, fc.oneof({ weight: 3, arbitrary: arb }, { weight: 1, arbitrary: anyValue })])),
    { requiredKeys: [] },
  );
  const withExtra = fc.tuple(plausible, fc.option(fc.tuple(fc.oneof(pollutionKeys, weirdString), anyValue), { nil: undefined })).map(([obj, extra]) => {
    const members = Object.entries(obj).map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v) ?? 'null'}`);
    if (extra) members.push(`${JSON.stringify(extra[0])}: ${JSON.stringify(extra[1]) ?? 'null'}`);
    return `{${members.join(', ')}}`;
  });
  const polluted = fc.tuple(plausible, fc.constantFrom(...POLLUTION)).map(([obj, p]) => {
    const base = JSON.stringify(obj);
    return base === '{}' ? p : `${base.slice(0, -1)}, ${p.slice(1)}`;
  });
  const notAnObject = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v) ?? 'null'),
    fc.constantFrom('', ' ', '{', '{"a":', '[', 'nul', '{"a":1,}', "{'a':1}", '\u0000', '{"a":1}{"b":2}', '\ufeff{}', '{"a": NaN}', '{"a": 1e999}'),
    deep.map((v) => JSON.stringify(v)),
  );
  return fc.oneof({ weight: 4, arbitrary: withExtra }, { weight: 2, arbitrary: polluted }, { weight: 1, arbitrary: notAnObject });
}

const anyKeyInPath = fc.oneof(
  fc.constantFrom('ok_key', 'a.b-c_d', '_x', 'K'.repeat(255), 'K'.repeat(256), '.', '..', '-x', '.hidden', 'a/b', '..%2f..%2fsecret', '%2e%2e%2f', '%2e%2e', '%00', '%ZZ', "'%20OR%201=1%20--", 'key%20with%20space', '%F0%9F%9A%80'),
  // Percent-encoded UTF-8 of any string (a lone surrogate becomes U+FFFD), and invalid UTF-8.
  weirdString.map((s) => [...Buffer.from(s || 'x', 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0').toUpperCase()}`).join('')),
  fc.constantFrom('%C3%28', '%ED%A0%80', '%FF', '%E2%82', 'ok%00key'),
);

// ---- the suite ------------------------------------------------------------------------------

describe(`hostile input (${DB})`, () => {
  let t: TestApp;
  let a: Awaited<ReturnType<typeof seedOrg>>;
  let b: Awaited<ReturnType<typeof seedOrg>>;
  let executionsPresent = false;
  let importPresent = false;
  let executionId = '';
  /** Every plaintext secret stored in this database: none may ever appear in a response. */
  const secrets: string[] = [];
  const api = (call: Call) => send(t.baseUrl, call);

  beforeAll(async () => {
    t = await startApp({ listen: true });
    a = await seedOrg(t, 'hostile-a');
    b = await seedOrg(t, 'hostile-b');
    for (const [scope, key] of [
      [a.org.id, 'stripe_key'],
      [b.org.id, 'stripe_key'],
      ['global', 'global_secret'],
    ]) {
      const secret = `sk_${randomBytes(18).toString('hex')}`;
      secrets.push(secret);
      const res = await api({ method: 'PUT', path: `/api/scopes/${scope}/configs/${key}`, headers: bearer(t.adminToken), body: { type: 'secret', value: secret } });
      expect(res.status).toBe(201);
    }
    await api({ method: 'PUT', path: `/api/scopes/${a.org.id}/configs/plain`, headers: bearer(t.adminToken), body: { type: 'string', value: 'plain-value' } });
    const doc = (await api({ method: 'GET', path: '/docs-json' })).body as { paths: Record<string, unknown> };
    executionsPresent = '/api/executions' in doc.paths;
    importPresent = '/api/import' in doc.paths;
    if (executionsPresent) {
      const created = await api({ method: 'POST', path: '/api/executions', headers: bearer(a.service), body: { workflow: 'hostile' } });
      expect(created.status).toBe(201);
      executionId = created.body.id as string;
    }
  });
  afterAll(async () => t?.close());

  /** Tables whose rows a refused request must leave alone, by content; audit_entries by its old rows. */
  async function snapshot(): Promise<string> {
    const tables = (
      onMysql
        ? (await rawRows<Record<string, string>>(t, 'SHOW TABLES')).map((r) => Object.values(r)[0])
        : (await rawRows<{ name: string }>(t, "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")).map((r) => r.name)
    ).filter((n) => n !== 'audit_entries' && n !== 'migrations' && n !== 'typeorm_metadata').sort();
    const hash = createHash('sha256');
    for (const table of tables) {
      // api_tokens.last_used_at is bookkeeping written in the background (issue 17), not a change a request makes.
      const columns = table === 'api_tokens' ? 'id, name, role, org_id, token_hash, created_by, created_at, revoked_at, expires_at, execution_id' : '*';
      const rows = await rawRows(t, `SELECT ${columns} FROM ${table}`);
      const lines = rows.map((r) => JSON.stringify(r)).sort();
      hash.update(`${table}:${lines.length}\n${lines.join('\n')}\n`);
    }
    const [audit] = await rawRows<{ n: number | string; m: number | string | null }>(t, 'SELECT COUNT(*) AS n, MAX(id) AS m FROM audit_entries');
    return `${hash.digest('hex')}|audit<=${audit.m}:${audit.n}`;
  }

  /** The audit log only grows: entries up to the old max id are all still there. */
  const sameExceptNewAudit = async (before: string, after: string) => {
    const [hashBefore, auditBefore] = before.split('|');
    const [hashAfter] = after.split('|');
    expect(hashAfter).toBe(hashBefore);
    const [max, count] = auditBefore.slice('audit<='.length).split(':');
    if (max !== 'null') {
      const [row] = await rawRows<{ n: number | string }>(t, 'SELECT COUNT(*) AS n FROM audit_entries WHERE id <= ?', [Number(max)]);
      expect(Number(row.n)).toBe(Number(count));
    }
  };

  /** The invariants of every answer to a hostile request. */
  function checkAnswer(res: Answer, call: Call, extraSecrets: string[] = []): void {
    const where = `${call.method} ${call.path.slice(0, 120)}`;
    if (res.status >= 500) throw new Error(`${where}: ${res.status} ${res.text.slice(0, 300)}`);
    for (const secret of [...secrets, ...extraSecrets]) if (res.text.includes(secret)) throw new Error(`${where}: a secret is in the response`);
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    if (res.status >= 400) {
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(res.body).toEqual(
        expect.objectContaining({ statusCode: res.status, error: expect.any(String), code: expect.stringMatching(/^[A-Z][A-Z0-9_]*$/), message: expect.any(String) }),
      );
      // An error names rules, never what was sent. The one exception by design: a refused import's
      // problems name their row's key when it is a valid key (README, export/import), so a person can find the row.
      const details = Array.isArray(res.body.details) ? (res.body.details as { key?: unknown }[]) : [];
      const namedKeys = details.map((d) => d?.key).filter((k): k is string => typeof k === 'string' && KEY_PATTERN.test(k));
      const text = namedKeys.reduce((out, k) => out.split(JSON.stringify(k)).join('"<key>"'), res.text);
      if (text.includes(MARK)) throw new Error(`${where}: the error ${res.status} ${res.body.code} echoes a submitted value: ${res.text.slice(0, 300)}`);
    }
  }

  /** Sends a generated request; a refused one must change nothing. */
  async function hostile(call: Call, expectStatus?: (status: number) => boolean, extraSecrets: string[] = []): Promise<Answer> {
    const before = await snapshot();
    const res = await api(call);
    checkAnswer(res, call, extraSecrets);
    if (expectStatus && !expectStatus(res.status)) throw new Error(`${call.method} ${call.path}: unexpected ${res.status} ${res.text.slice(0, 300)}`);
    if (res.status >= 400) await sameExceptNewAudit(before, await snapshot());
    return res;
  }

  // FC_SEED replays a failing run (fast-check prints the seed).
  const opts = { numRuns: RUNS, endOnFailure: true, ...(process.env.FC_SEED ? { seed: Number(process.env.FC_SEED) } : {}) };

  describe('property-based bodies for every request DTO', () => {
    it('POST /api/orgs {name}', async () => {
      await fc.assert(
        fc.asyncProperty(bodyFor({ name: fc.oneof(anyString, fc.constantFrom('acme', 'a b_c.d-e', 'Ünïcødé', '漢字 org')) }), async (body) => {
          await hostile({ method: 'POST', path: '/api/orgs', headers: bearer(t.adminToken), body }, (s) => s === 201 || s === 400 || s === 409 || s === 413);
        }),
        { ...opts, examples: [['{"name": "lone\\ud800surrogate"}'], ['{"name": "x", "__proto__": {"polluted": "yes"}}'], ['{"name": {"$gt": ""}}']] },
      );
    });

    it('POST /api/tokens {name, role, orgId}', async () => {
      const roles = fc.constantFrom('admin', 'org_admin', 'member', 'service', 'ADMIN', 'root', '');
      const orgIds = fc.constantFrom(a.org.id, b.org.id, '00000000-0000-4000-8000-000000000000', 'not-a-uuid', a.org.id.toUpperCase());
      await fc.assert(
        fc.asyncProperty(bodyFor({ name: anyString, role: roles, orgId: orgIds }), fc.boolean(), async (body, asOrgAdmin) => {
          const res = await hostile({ method: 'POST', path: '/api/tokens', headers: bearer(asOrgAdmin ? a.orgAdmin : t.adminToken), body }, (s) => [201, 400, 403, 404, 413].includes(s));
          if (res.status === 201 && asOrgAdmin) {
            expect(res.body.role).toBe('member');
            expect(res.body.orgId).toBe(a.org.id);
          }
        }),
        opts,
      );
    });

    it('PUT /api/scopes/{scope}/configs/{key} {type, value, description}', async () => {
      const types = fc.constantFrom('string', 'int', 'bool', 'json', 'secret', 'SECRET', 'float', '');
      const scopes = fc.constantFrom(a.org.id, 'global', b.org.id, 'GLOBAL', 'not-a-scope', '00000000-0000-4000-8000-000000000000');
      await fc.assert(
        fc.asyncProperty(bodyFor({ type: types, value: anyValue, description: fc.oneof(anyString, fc.constant(null)) }), scopes, anyKeyInPath, fc.boolean(), async (body, scope, key, asOrgAdmin) => {
          // A secret written by this request must not come back either.
          let sent: { type?: unknown; value?: unknown } = {};
          try {
            sent = JSON.parse(body);
          } catch {
            /* not JSON */
          }
          const extra = sent && sent.type === 'secret' && typeof sent.value === 'string' && sent.value.length >= 12 ? [sent.value] : [];
          const res = await hostile(
            { method: 'PUT', path: `/api/scopes/${scope}/configs/${key}`, headers: bearer(asOrgAdmin ? a.orgAdmin : t.adminToken), body },
            (s) => [200, 201, 400, 403, 404, 413, 414].includes(s),
            extra,
          );
          if (res.status < 300) {
            if (res.body.type === 'secret') expect(res.body).toMatchObject({ value: '••••••', masked: true });
            if (extra.length) secrets.push(...extra);
          }
        }),
        {
          ...opts,
          examples: [
            ['{"type": "secret", "value": "lone\\ud800surrogate-secret"}', a.org.id, 'lone_secret', false],
            ['{"type": "string", "value": "\\udfff"}', a.org.id, 'lone_string', true],
            ['{"type": "json", "value": {"k\\ud800": ["\\udc00"]}}', a.org.id, 'lone_json', true],
            ['{"type": "int", "value": "9007199254740993"}', a.org.id, 'big_int', true],
            [`{"type": "string", "value": "${MARK}", "description": "${'d'.repeat(1001)}"}`, 'global', 'long_desc', false],
          ],
        },
      );
    });

    it('PATCH /api/scopes/{scope}/configs/{key} {description}', async () => {
      await fc.assert(
        fc.asyncProperty(bodyFor({ description: fc.oneof(anyString, fc.constant(null)) }), fc.constantFrom('stripe_key', 'plain', 'missing_key', '..', '%2e%2e%2fstripe_key'), async (body, key) => {
          const res = await hostile({ method: 'PATCH', path: `/api/scopes/${a.org.id}/configs/${key}`, headers: bearer(a.orgAdmin), body }, (s) => [200, 400, 404, 413].includes(s));
          if (res.status === 200 && key === 'stripe_key') expect(res.body).toMatchObject({ value: '••••••', masked: true, type: 'secret' });
        }),
        opts,
      );
    });

    it('PUT /api/sdk/configs/{key} {value, isSecret}', async () => {
      await fc.assert(
        fc.asyncProperty(bodyFor({ value: anyValue, isSecret: fc.oneof(fc.boolean(), fc.constantFrom('true', 1, null)) }), anyKeyInPath, async (body, key) => {
          let sent: { isSecret?: unknown; value?: unknown } = {};
          try {
            sent = JSON.parse(body);
          } catch {
            /* not JSON */
          }
          const extra = sent?.isSecret === true && typeof sent.value === 'string' && sent.value.length >= 12 ? [sent.value] : [];
          const res = await hostile({ method: 'PUT', path: `/api/sdk/configs/${key}`, headers: bearer(a.service), body }, (s) => [204, 400, 404, 413, 414].includes(s), extra);
          if (res.status === 204 && extra.length) secrets.push(...extra);
        }),
        { ...opts, examples: [['{"value": "lone\\ud800surrogate-secret", "isSecret": true}', 'lone_sdk'], ['{"value": {"__proto__": {"polluted": 1}}}', 'proto_sdk']] },
      );
    });

    it('GET /api/audit?… (every filter, random values, repeated and unknown parameters)', async () => {
      const names = fc.constantFrom('scope', 'key', 'action', 'actor', 'outcome', 'since', 'until', 'limit', 'cursor', 'unknown', '__proto__', 'constructor');
      const values = fc.oneof(weirdString, fc.constantFrom('config.read', 'success', 'global', a.org.id, '2026-01-01', '2026-01-01T00:00:00Z', '0', '501', '-1', '1e3', 'YTox', 'a:1', '', '9'.repeat(30)));
      await fc.assert(
        fc.asyncProperty(fc.array(fc.tuple(names, values), { maxLength: 6 }), fc.boolean(), async (params, asOrgAdmin) => {
          const qs = new URLSearchParams(params).toString();
          await hostile({ method: 'GET', path: `/api/audit?${qs}`, headers: bearer(asOrgAdmin ? a.orgAdmin : t.adminToken) }, (s) => [200, 400, 403].includes(s));
        }),
        opts,
      );
    });

    it('list queries: configs, effective configs, orgs, tokens (and executions when present)', async () => {
      const names = fc.constantFrom('type', 'prefix', 'limit', 'cursor', 'status', 'orgId', 'unknown', '__proto__');
      const values = fc.oneof(weirdString, fc.constantFrom('secret', 'string', '1', '500', '501', '0', '-5', 'abc', 'a:b', 'azp0ZXk', "' OR 1=1 --", '%', '_', ''));
      const paths = [`/api/scopes/${a.org.id}/configs`, `/api/scopes/global/configs`, `/api/orgs/${a.org.id}/effective-configs`, '/api/orgs', '/api/tokens', ...(executionsPresent ? ['/api/executions'] : [])];
      await fc.assert(
        fc.asyncProperty(fc.constantFrom(...paths), fc.array(fc.tuple(names, values), { maxLength: 5 }), async (path, params) => {
          const qs = new URLSearchParams(params).toString();
          // An org_admin naming another org's executions (orgId=) is refused with a 403.
          const allowed = path === '/api/executions' ? [200, 400, 403] : [200, 400];
          const res = await hostile({ method: 'GET', path: `${path}?${qs}`, headers: bearer(path === '/api/tokens' || path === '/api/orgs' ? t.adminToken : a.orgAdmin) }, (s) => allowed.includes(s));
          if (res.status === 200) expect(res.body).toEqual(expect.objectContaining({ items: expect.any(Array) }));
        }),
        opts,
      );
    });

    it('executions bodies: create, logs, secrets, finish (when src/executions is wired in)', async () => {
      if (!executionsPresent) return;
      const line = fc.record({ level: fc.oneof(fc.constantFrom('info', 'error'), anyString), message: fc.oneof(anyString, anyValue) }, { requiredKeys: [] });
      const cases = fc.oneof(
        bodyFor({ workflow: anyString }).map((body) => ({ path: '/api/executions', body, ok: [201] })),
        bodyFor({ lines: fc.oneof(fc.array(line, { maxLength: 5 }), anyValue) }).map((body) => ({ path: `/api/executions/${executionId}/logs`, body, ok: [204] })),
        bodyFor({ values: fc.oneof(fc.array(anyString, { maxLength: 3 }), anyValue) }).map((body) => ({ path: `/api/executions/${executionId}/secrets`, body, ok: [204] })),
        bodyFor({ status: fc.constantFrom('success', 'failed', 'running', ''), result: anyValue, error: anyValue }).map((body) => ({
          path: `/api/executions/00000000-0000-4000-8000-000000000000/finish`,
          body,
          ok: [] as number[],
        })),
      );
      await fc.assert(
        fc.asyncProperty(cases, async ({ path, body, ok }) => {
          await hostile({ method: 'POST', path, headers: bearer(a.service), body }, (s) => ok.includes(s) || [400, 404, 409, 413].includes(s));
        }),
        {
          ...opts,
          examples: [
            [{ path: `/api/executions/${executionId}/secrets`, body: '{"values": ["lone\\ud800surrogate-secret"]}', ok: [204] }],
            [{ path: `/api/executions/${executionId}/logs`, body: '{"lines": [{"level": "info", "message": "lone\\ud800"}]}', ok: [204] }],
            [{ path: '/api/executions', body: '{"workflow": "lone\\udc00"}', ok: [201] }],
          ],
        },
      );
    });

    it('import bodies (when src/export is wired in): random bundles never write on refusal', async () => {
      if (!importPresent) return;
      const entry = fc.record(
        { scope: fc.oneof(fc.constant('global'), fc.record({ org: fc.oneof(fc.constant('hostile-a'), anyString) }), anyValue), key: fc.oneof(fc.constantFrom('imp_ok', '..', '__proto__'), anyString), type: fc.constantFrom('string', 'secret', 'int', 'nope'), value: anyValue, description: anyValue },
        { requiredKeys: [] },
      );
      const bundle = fc.record({ format: fc.constantFrom('bifrost-config-bundle', 'nope'), version: fc.constantFrom(1, 2, '1'), portable: fc.boolean(), configs: fc.oneof(fc.array(entry, { maxLength: 4 }), anyValue) }, { requiredKeys: [] });
      const body = fc.oneof(
        bundle.map((v) => JSON.stringify(v)),
        bundle.map((v) => JSON.stringify({ bundle: v, sourceSecretKey: `${MARK}-not-a-key` })),
        bodyFor({ format: anyValue, configs: anyValue }),
      );
      const query = fc.record({ dryRun: fc.constantFrom('true', 'false', 'yes', ''), onConflict: fc.constantFrom('overwrite', 'skip', 'explode'), createOrgs: fc.constantFrom('true', 'false', '1') }, { requiredKeys: [] });
      await fc.assert(
        fc.asyncProperty(body, query, async (text, q) => {
          const qs = new URLSearchParams(q as Record<string, string>).toString();
          await hostile({ method: 'POST', path: `/api/import?${qs}`, headers: bearer(a.orgAdmin), body: text }, (s) => [200, 400, 403, 404, 409, 413, 415, 422].includes(s));
        }),
        opts,
      );
    });

    it('no request above left Object.prototype polluted or a secret in the audit log', async () => {
      expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(Object.getOwnPropertyNames(Object.getPrototypeOf({})).sort());
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      const entries = JSON.stringify(await rawRows(t, 'SELECT * FROM audit_entries'));
      for (const secret of secrets) expect(entries).not.toContain(secret);
    });
  });

  describe('authentication and authorisation', () => {
    const me = (headers: Record<string, string>, from = freshSource()) => api({ method: 'GET', path: '/api/me', headers, from });

    it('no token, malformed headers, unknown and revoked tokens: 401 with the right code', async () => {
      expect((await me({})).body.code).toBe('MISSING_TOKEN');
      for (const header of ['Bearer', 'Bearer ', 'Bearer  bft_x', 'bearer ' + t.adminToken, 'Basic dXNlcjpwYXNz', `Bearer ${t.adminToken} extra`, `Bearer ${'x'.repeat(513)}`, 'Bearer tok\ten', `Token ${t.adminToken}`, `Bearer ${t.adminToken},Bearer ${t.adminToken}`, "Bearer bft_'OR'1'='1", 'Bearer bft_a;DROP TABLE api_tokens']) {
        const res = await me({ Authorization: header });
        expect({ header: header.slice(0, 30), status: res.status, code: res.body.code }).toEqual({ header: header.slice(0, 30), status: 401, code: 'MALFORMED_TOKEN' });
      }
      for (const token of ['bft_' + randomBytes(32).toString('base64url'), 'x'.repeat(40), 'bft_OR_1=1--', t.adminToken.slice(0, -1), createHash('sha256').update(t.adminToken).digest('hex')]) {
        const res = await me({ Authorization: `Bearer ${token}` });
        expect({ status: res.status, code: res.body.code }).toEqual({ status: 401, code: 'INVALID_TOKEN' });
      }
      // Revoked: refused at once.
      const created = await api({ method: 'POST', path: '/api/tokens', headers: bearer(t.adminToken), body: { name: 'to-revoke', role: 'service', orgId: a.org.id } });
      expect((await api({ method: 'GET', path: '/api/sdk/configs/plain', headers: bearer(created.body.token as string) })).status).toBe(200);
      expect((await api({ method: 'DELETE', path: `/api/tokens/${created.body.id}`, headers: bearer(t.adminToken) })).status).toBe(204);
      const revoked = await api({ method: 'GET', path: '/api/sdk/configs/plain', headers: bearer(created.body.token as string), from: freshSource() });
      expect({ status: revoked.status, code: revoked.body.code }).toEqual({ status: 401, code: 'INVALID_TOKEN' });
    });

    it('random Authorization headers: always a 401, never a 5xx, never an echo', async () => {
      const header = fc.oneof(
        weirdString.filter((s) => [...s].every((c) => c.charCodeAt(0) < 256 && c.charCodeAt(0) >= 32 && c.charCodeAt(0) !== 127)).map((s) => `Bearer ${MARK}${s}`),
        fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~+/=-'), maxLength: 600 }).map((s) => `Bearer ${MARK}${s}`),
        fc.constantFrom(`Basic ${MARK}`, `${MARK}`, `Bearer\t${MARK}`, `Bearer ${MARK}=`),
      );
      await fc.assert(
        fc.asyncProperty(header, async (h) => {
          const call = { method: 'GET', path: '/api/me', headers: { Authorization: h }, from: freshSource() };
          const res = await api(call);
          checkAnswer(res, call);
          expect(res.status).toBe(401);
          expect(['MALFORMED_TOKEN', 'INVALID_TOKEN']).toContain(res.body.code);
        }),
        opts,
      );
    });

    it('concurrent requests with different tokens: every one answered, each with its own principal and its own org’s value', async () => {
      const values = { a: `conc-a-${randomBytes(8).toString('hex')}`, b: `conc-b-${randomBytes(8).toString('hex')}` };
      for (const [org, value] of [[a, values.a], [b, values.b]] as const) {
        expect((await api({ method: 'PUT', path: `/api/scopes/${org.org.id}/configs/concurrent_secret`, headers: bearer(t.adminToken), body: { type: 'secret', value } })).status).toBe(201);
      }
      // A request never answered (send() gives up after 15 s) is reported beside the others.
      const within = (p: Promise<Answer>) => p.catch((): Answer => ({ status: 0, headers: {}, text: '', body: { code: 'NO_ANSWER' } }));
      const reads = Array.from({ length: 96 }, (_, i) => (i % 2 === 0 ? { token: a.service, value: values.a } : { token: b.service, value: values.b }));
      const who = [
        { token: t.adminToken, name: 'bootstrap' },
        { token: a.orgAdmin, name: 'hostile-a-org_admin' },
        { token: a.member, name: 'hostile-a-member' },
        { token: b.orgAdmin, name: 'hostile-b-org_admin' },
        { token: b.member, name: 'hostile-b-member' },
      ];
      const mes = Array.from({ length: 40 }, (_, i) => who[i % who.length]);
      const [readAnswers, meAnswers] = await Promise.all([
        Promise.all(reads.map((r) => within(api({ method: 'GET', path: '/api/sdk/configs/concurrent_secret', headers: bearer(r.token) })))),
        Promise.all(mes.map((m) => within(api({ method: 'GET', path: '/api/me', headers: bearer(m.token) })))),
      ]);
      expect(readAnswers.map((res, i) => (res.status === 200 && res.body.value === reads[i].value ? 'own' : `${res.status} ${String(res.body.value ?? res.body.code).slice(0, 6)}`))).toEqual(reads.map(() => 'own'));
      expect(meAnswers.map((res, i) => (res.status === 200 && res.body.name === mes[i].name ? 'own' : `${res.status} ${res.body.name}`))).toEqual(mes.map(() => 'own'));
    });

    it('a token of another org: 403, and nothing of the other org is read or written', async () => {
      const before = await snapshot();
      const cases: [Call, number, string][] = [
        [{ method: 'GET', path: `/api/scopes/${b.org.id}/configs`, headers: bearer(a.orgAdmin) }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'GET', path: `/api/scopes/${b.org.id}/configs/stripe_key`, headers: bearer(a.member) }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'PUT', path: `/api/scopes/${b.org.id}/configs/stripe_key`, headers: bearer(a.orgAdmin), body: { type: 'secret', value: `${MARK}-overwrite` } }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'PATCH', path: `/api/scopes/${b.org.id}/configs/stripe_key`, headers: bearer(a.orgAdmin), body: { description: MARK } }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'DELETE', path: `/api/scopes/${b.org.id}/configs/stripe_key`, headers: bearer(a.orgAdmin) }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'GET', path: `/api/orgs/${b.org.id}/effective-configs`, headers: bearer(a.member) }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'GET', path: `/api/orgs/${b.org.id}`, headers: bearer(a.member) }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'GET', path: `/api/audit?scope=${b.org.id}`, headers: bearer(a.orgAdmin) }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'POST', path: '/api/tokens', headers: bearer(a.orgAdmin), body: { name: 'x', role: 'service', orgId: b.org.id } }, 403, 'ROLE_NOT_ALLOWED'],
        [{ method: 'GET', path: '/api/sdk/configs/stripe_key', headers: { ...bearer(a.service), 'X-Bifrost-Org': b.org.id } }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'GET', path: '/api/sdk/configs/stripe_key', headers: { ...bearer(a.service), 'X-Bifrost-Org': 'hostile-b' } }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'PUT', path: '/api/sdk/configs/stripe_key', headers: { ...bearer(a.service), 'X-Bifrost-Org': b.org.id }, body: { value: MARK } }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'DELETE', path: '/api/sdk/configs/stripe_key', headers: { ...bearer(a.service), 'X-Bifrost-Org': b.org.id } }, 403, 'ORG_FORBIDDEN'],
        // Roles: a member writes nothing, a human never reads a secret through the SDK, global writes are admin's.
        [{ method: 'PUT', path: `/api/scopes/${a.org.id}/configs/stripe_key`, headers: bearer(a.member), body: { type: 'string', value: MARK } }, 403, 'ROLE_NOT_ALLOWED'],
        [{ method: 'GET', path: '/api/sdk/configs/stripe_key', headers: bearer(a.orgAdmin) }, 403, 'ROLE_NOT_ALLOWED'],
        [{ method: 'GET', path: '/api/sdk/configs/stripe_key', headers: bearer(t.adminToken) }, 403, 'ROLE_NOT_ALLOWED'],
        [{ method: 'PUT', path: '/api/scopes/global/configs/global_secret', headers: bearer(a.orgAdmin), body: { type: 'string', value: MARK } }, 403, 'GLOBAL_WRITE_FORBIDDEN'],
        [{ method: 'GET', path: '/api/tokens', headers: bearer(a.member) }, 403, 'ROLE_NOT_ALLOWED'],
        [{ method: 'POST', path: '/api/orgs', headers: bearer(a.orgAdmin), body: { name: 'nope' } }, 403, 'ROLE_NOT_ALLOWED'],
      ];
      for (const [call, status, code] of cases) {
        const res = await api(call);
        checkAnswer(res, call);
        expect({ call: `${call.method} ${call.path}`, status: res.status, code: res.body.code }).toEqual({ call: `${call.method} ${call.path}`, status, code });
      }
      await sameExceptNewAudit(before, await snapshot());
      // Each refusal was audited as denied.
      const denied = await rawRows<{ n: number | string }>(t, "SELECT COUNT(*) AS n FROM audit_entries WHERE action = 'auth.denied' AND outcome = 'denied'");
      expect(Number(denied[0].n)).toBeGreaterThanOrEqual(cases.length);
    });

    it('SQL-looking values and path traversal in keys, scopes, headers and filters: the right 4xx, or a harmless empty answer', async () => {
      const before = await snapshot();
      const sqlKey = encodeURIComponent("' OR 1=1 --");
      const cases: [Call, number | number[], string | null][] = [
        [{ method: 'GET', path: `/api/sdk/configs/${sqlKey}`, headers: bearer(a.service) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/sdk/configs/stripe_key'%20OR%20'1'='1`, headers: bearer(a.service) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs/${sqlKey}`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_KEY'],
        [{ method: 'PUT', path: `/api/scopes/${a.org.id}/configs/${sqlKey}`, headers: bearer(a.orgAdmin), body: { type: 'string', value: 'x' } }, 400, 'INVALID_KEY'],
        [{ method: 'DELETE', path: `/api/scopes/${a.org.id}/configs/${sqlKey}`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/scopes/${encodeURIComponent("global' OR '1'='1")}/configs`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_SCOPE'],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs?prefix=${sqlKey}`, headers: bearer(a.orgAdmin) }, 200, null],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs?prefix=%25`, headers: bearer(a.orgAdmin) }, 200, null],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs?prefix=_`, headers: bearer(a.orgAdmin) }, 200, null],
        [{ method: 'GET', path: `/api/audit?key=${sqlKey}&actor=${sqlKey}`, headers: bearer(t.adminToken) }, 200, null],
        [{ method: 'GET', path: `/api/sdk/configs/stripe_key`, headers: { ...bearer(a.service), 'X-Bifrost-Org': "' OR 1=1 --" } }, 403, 'ORG_FORBIDDEN'],
        [{ method: 'GET', path: `/api/orgs/${sqlKey}`, headers: bearer(t.adminToken) }, 400, 'INVALID_ID'],
        [{ method: 'POST', path: '/api/orgs', headers: bearer(t.adminToken), body: { name: "x' OR 1=1 --" } }, 400, 'VALIDATION_FAILED'],
        // Traversal: never another scope's row, never a file.
        [{ method: 'GET', path: `/api/sdk/configs/..%2f..%2fscopes%2f${b.org.id}%2fconfigs%2fstripe_key`, headers: bearer(a.service) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/sdk/configs/%2e%2e%2fstripe_key`, headers: bearer(a.service) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/sdk/configs/%2e%2e`, headers: bearer(a.service) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/sdk/configs/..`, headers: bearer(a.service) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/sdk/configs/.`, headers: bearer(a.service) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs/..%2f..%2f..%2fetc%2fpasswd`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_KEY'],
        [{ method: 'PUT', path: `/api/scopes/${a.org.id}/configs/..%2F${b.org.id}%2Fstripe_key`, headers: bearer(a.orgAdmin), body: { type: 'string', value: 'x' } }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs/%252e%252e%252f`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs/%00`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_KEY'],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs/%ZZ`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_PATH'],
        [{ method: 'GET', path: `/api/scopes/..%2f${b.org.id}/configs`, headers: bearer(a.orgAdmin) }, 400, 'INVALID_SCOPE'],
        [{ method: 'GET', path: `/api/scopes/${a.org.id}/configs/../../../${b.org.id}/configs/stripe_key`, headers: bearer(a.orgAdmin) }, 404, 'NOT_FOUND'],
        [{ method: 'GET', path: `/api/sdk/configs/../../scopes/${b.org.id}/configs`, headers: bearer(a.service) }, 404, 'NOT_FOUND'],
        // Swagger UI's static files: @fastify/static refuses traversal (403) or finds nothing (404).
        [{ method: 'GET', path: `/docs/../../../../etc/passwd` }, [403, 404], null],
        [{ method: 'GET', path: `/docs/..%2f..%2f..%2fpackage.json` }, [403, 404], null],
        [{ method: 'GET', path: `/docs/%2e%2e/%2e%2e/%2e%2e/package.json` }, [403, 404], null],
      ];
      for (const [call, status, code] of cases) {
        const res = await api(call);
        checkAnswer(res, call);
        const statuses = Array.isArray(status) ? status : [status];
        expect({ call: `${call.method} ${call.path}`, status: statuses.includes(res.status) ? status : res.status }).toEqual({ call: `${call.method} ${call.path}`, status });
        if (code) expect({ call: `${call.method} ${call.path}`, code: res.body.code }).toEqual({ call: `${call.method} ${call.path}`, code });
        // Filters are parameters, never SQL or LIKE patterns: a prefix matches literally.
        const filter = new URL(call.path, 'http://x').searchParams;
        for (const item of (res.body.items as { key: string }[] | undefined) ?? []) {
          if (filter.has('prefix')) expect(item.key.startsWith(filter.get('prefix')!)).toBe(true);
          if (filter.has('key')) expect(item.key).toBe(filter.get('key'));
        }
        expect(res.text).not.toContain('root:x:0:0');
        expect(res.text).not.toContain('"name": "bifrost-config"');
      }
      await sameExceptNewAudit(before, await snapshot());
    });

    it('oversize bodies (413), wrong content types (415), broken JSON (400): nothing written', async () => {
      const before = await snapshot();
      const path = `/api/scopes/${a.org.id}/configs/body_check`;
      const huge = JSON.stringify({ type: 'string', value: `${MARK}${'x'.repeat(1024 * 1024)}` });
      const cases: [Call, number, string][] = [
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: huge }, 413, 'PAYLOAD_TOO_LARGE'],
        [{ method: 'PUT', path: '/api/sdk/configs/body_check', headers: bearer(a.service), body: huge }, 413, 'PAYLOAD_TOO_LARGE'],
        [{ method: 'POST', path: '/api/orgs', headers: bearer(t.adminToken), body: huge }, 413, 'PAYLOAD_TOO_LARGE'],
        [{ method: 'PUT', path, headers: { ...bearer(t.adminToken), 'Content-Type': 'text/plain' }, body: `{"type":"string","value":"${MARK}"}` }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        [{ method: 'PUT', path, headers: { ...bearer(t.adminToken), 'Content-Type': 'application/x-www-form-urlencoded' }, body: `type=string&value=${MARK}` }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        [{ method: 'PUT', path, headers: { ...bearer(t.adminToken), 'Content-Type': 'multipart/form-data; boundary=x' }, body: `--x\r\nContent-Disposition: form-data; name="value"\r\n\r\n${MARK}\r\n--x--` }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        [{ method: 'PUT', path, headers: { ...bearer(t.adminToken), 'Content-Type': 'application/xml' }, body: `<c><value>${MARK}</value></c>` }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        [{ method: 'PUT', path, headers: { ...bearer(t.adminToken), 'Content-Type': 'application/jsonp' }, body: `{"type":"string","value":"${MARK}"}` }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        [{ method: 'POST', path: '/api/orgs', headers: { ...bearer(t.adminToken), 'Content-Type': 'text/json' }, body: `{"name":"${MARK}"}` }, 415, 'UNSUPPORTED_MEDIA_TYPE'],
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: `{"type":"string","value":"${MARK}"` }, 400, 'INVALID_JSON'],
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: `{"type":"json","value":{"__proto__":{"admin":"${MARK}"}}}` }, 400, 'INVALID_JSON'],
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: `{"type":"json","value":{"constructor":{"prototype":{"admin":"${MARK}"}}}}` }, 400, 'INVALID_JSON'],
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: `{"type":"json","value":${'['.repeat(65)}"${MARK}"${']'.repeat(65)}}` }, 400, 'JSON_TOO_DEEP'],
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: '' }, 400, 'INVALID_JSON'],
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: { type: 'string', value: `${MARK}${'y'.repeat(64 * 1024)}` } }, 400, 'VALUE_TOO_LARGE'],
        [{ method: 'PUT', path, headers: bearer(t.adminToken), body: { type: 'int', value: `${MARK}` } }, 400, 'INVALID_VALUE'],
      ];
      for (const [call, status, code] of cases) {
        const res = await api(call);
        checkAnswer(res, call);
        expect({ call: `${call.method} ${call.path} ${JSON.stringify(call.headers?.['Content-Type'] ?? '')}`, status: res.status, code: res.body.code }).toEqual({
          call: `${call.method} ${call.path} ${JSON.stringify(call.headers?.['Content-Type'] ?? '')}`,
          status,
          code,
        });
      }
      await sameExceptNewAudit(before, await snapshot());
      // The limit is 1 MiB of body: a body of exactly that size is read (and then judged on its content).
      const exact = JSON.stringify({ type: 'json', value: 'z'.repeat(1024 * 1024 - 30) });
      const padded = exact + ' '.repeat(1024 * 1024 - Buffer.byteLength(exact));
      expect(Buffer.byteLength(padded)).toBe(1024 * 1024);
      const atLimit = await api({ method: 'PUT', path, headers: bearer(t.adminToken), body: padded });
      expect({ status: atLimit.status, code: atLimit.body.code }).toEqual({ status: 400, code: 'VALUE_TOO_LARGE' });
      const overLimit = await api({ method: 'PUT', path, headers: bearer(t.adminToken), body: padded + ' ' });
      expect({ status: overLimit.status, code: overLimit.body.code }).toEqual({ status: 413, code: 'PAYLOAD_TOO_LARGE' });
      // A body with no Content-Type at all is refused too.
      const untyped = await api({ method: 'PUT', path, headers: { ...bearer(t.adminToken), 'Content-Type': '' }, body: '{"type":"string","value":"x"}' });
      expect(untyped.status).toBeGreaterThanOrEqual(400);
      expect(untyped.status).toBeLessThan(500);
      expect((await api({ method: 'GET', path, headers: bearer(t.adminToken) })).status).toBe(404);
    });
  });

  it('an unknown property is refused without naming it: its name is the client\'s text (a pasted secret)', async () => {
    const name = `sk_live_${MARK}`;
    const calls: Call[] = [
      { method: 'PUT', path: `/api/scopes/${a.org.id}/configs/named`, headers: bearer(t.adminToken), body: { type: 'string', value: 'v', [name]: 1 } },
      { method: 'POST', path: '/api/tokens', headers: bearer(t.adminToken), body: { name: 'n', role: 'member', orgId: a.org.id, [name]: 'x', [`${name}2`]: 'y' } },
      { method: 'PUT', path: '/api/sdk/configs/named', headers: bearer(a.service), body: { value: 'v', [name]: true } },
      { method: 'POST', path: '/api/orgs', headers: bearer(t.adminToken), body: { name: 'named-org', [name]: {} } },
    ];
    if (executionsPresent) {
      calls.push({ method: 'POST', path: `/api/executions/${executionId}/logs`, headers: bearer(a.service), body: { lines: [{ level: 'info', message: 'm', [name]: 'x' }] } });
    }
    for (const call of calls) {
      const res = await hostile(call, (status) => status === 400);
      expect({ path: call.path, code: res.body.code }).toEqual({ path: call.path, code: 'VALIDATION_FAILED' });
      expect(res.text).not.toContain('sk_live_');
      expect(res.body.message).toMatch(/not allowed/);
    }
  });

  describe('security headers and CORS', () => {
    const HELMET: Record<string, RegExp> = {
      'content-security-policy': /default-src 'self'/,
      'x-content-type-options': /^nosniff$/,
      'x-frame-options': /^SAMEORIGIN$/,
      'referrer-policy': /^no-referrer$/,
      'cross-origin-opener-policy': /^same-origin$/,
      'cross-origin-resource-policy': /^same-origin$/,
      'x-dns-prefetch-control': /^off$/,
      'x-download-options': /^noopen$/,
      'x-permitted-cross-domain-policies': /^none$/,
      'x-xss-protection': /^0$/,
    };

    it('every kind of answer carries helmet’s headers and no x-powered-by', async () => {
      const answers = await Promise.all([
        api({ method: 'GET', path: '/health' }),
        api({ method: 'GET', path: '/api/me', headers: bearer(t.adminToken) }),
        api({ method: 'GET', path: '/api/sdk/configs/stripe_key', headers: bearer(a.service) }),
        api({ method: 'GET', path: '/api/me', from: freshSource() }),
        api({ method: 'GET', path: '/api/nothing-here', headers: bearer(t.adminToken) }),
        api({ method: 'PUT', path: '/api/sdk/configs/x', headers: { ...bearer(a.service), 'Content-Type': 'text/plain' }, body: 'x' }),
        api({ method: 'GET', path: '/docs-json' }),
      ]);
      expect(answers.map((r) => r.status)).toEqual([200, 200, 200, 401, 404, 415, 200]);
      for (const res of answers) {
        expect(res.headers['x-powered-by']).toBeUndefined();
        expect(res.headers.server).toBeUndefined();
        for (const [name, pattern] of Object.entries(HELMET)) expect({ name, value: res.headers[name] }).toEqual({ name, value: expect.stringMatching(pattern) });
      }
      // The secret read is not cached by anything on the way.
      expect(answers[2].headers['access-control-allow-origin']).toBeUndefined();
      // Over plain HTTP (HTTPS_ONLY off, the default) no HTTPS-only header: with
      // upgrade-insecure-requests Swagger UI stays blank on any host but localhost.
      for (const res of answers) {
        expect(res.headers['strict-transport-security']).toBeUndefined();
        expect(res.headers['content-security-policy']).not.toMatch(/upgrade-insecure-requests/);
      }
    });

    it('every /api answer carries Cache-Control: no-store, errors and the plaintext read first', async () => {
      const answers = await Promise.all([
        api({ method: 'GET', path: '/api/sdk/configs/stripe_key', headers: bearer(a.service) }),
        api({ method: 'POST', path: '/api/tokens', headers: bearer(t.adminToken), body: { name: 'no-store-check', role: 'member', orgId: a.org.id } }),
        api({ method: 'GET', path: `/api/scopes/${a.org.id}/configs`, headers: bearer(t.adminToken) }),
        api({ method: 'GET', path: '/api/me', from: freshSource() }),
        api({ method: 'GET', path: '/api/nothing-here', headers: bearer(t.adminToken) }),
        api({ method: 'PUT', path: '/api/sdk/configs/x', headers: { ...bearer(a.service), 'Content-Type': 'text/plain' }, body: 'x' }),
        api({ method: 'GET', path: `/api/scopes/${b.org.id}/configs`, headers: bearer(a.member) }),
      ]);
      expect(answers.map((r) => r.status)).toEqual([200, 201, 200, 401, 404, 415, 403]);
      for (const res of answers) expect(res.headers['cache-control']).toBe('no-store');
    });

    it('a method a path does not serve is 405 with Allow; an unknown path stays 404', async () => {
      const cases: [string, string, string][] = [
        ['DELETE', '/api/me', 'GET, HEAD'],
        ['OPTIONS', '/api/me', 'GET, HEAD'],
        ['POST', `/api/scopes/${a.org.id}/configs/plain`, 'DELETE, GET, HEAD, PATCH, PUT'],
        ['POST', '/health', 'GET, HEAD'],
        ['PUT', '/api/orgs', 'GET, HEAD, POST'],
      ];
      for (const [method, path, allow] of cases) {
        const res = await api({ method, path, headers: bearer(t.adminToken) });
        expect({ method, path, status: res.status, code: res.body.code, allow: res.headers.allow }).toEqual({ method, path, status: 405, code: 'METHOD_NOT_ALLOWED', allow });
      }
      // Without a token too (the route table is no secret: /docs-json is public), and unauthenticated
      // is not a reason to hide it behind a 401 that a client would take for a bad token.
      const anonymous = await api({ method: 'PATCH', path: '/api/me', from: freshSource() });
      expect(anonymous.status).toBe(405);
      const unknown = await api({ method: 'GET', path: '/api/no-such-thing', headers: bearer(t.adminToken) });
      expect({ status: unknown.status, allow: unknown.headers.allow }).toEqual({ status: 404, allow: undefined });
    });

    it('a 401 says which scheme it wants (RFC 6750), and whether the token sent was refused', async () => {
      const none = await api({ method: 'GET', path: '/api/me', from: freshSource() });
      expect(none.status).toBe(401);
      expect(none.headers['www-authenticate']).toBe('Bearer realm="bifrost"');
      const bad = await api({ method: 'GET', path: '/api/me', headers: bearer('bft_' + randomBytes(32).toString('base64url')), from: freshSource() });
      expect(bad.status).toBe(401);
      expect(bad.headers['www-authenticate']).toBe('Bearer realm="bifrost", error="invalid_token"');
      const ok = await api({ method: 'GET', path: '/api/me', headers: bearer(t.adminToken) });
      expect(ok.headers['www-authenticate']).toBeUndefined();
    });

    it('CORS is off by default: no Access-Control-* header, preflights are not granted', async () => {
      const origin = 'https://evil.example';
      const simple = await api({ method: 'GET', path: '/api/me', headers: { ...bearer(t.adminToken), Origin: origin } });
      expect(simple.status).toBe(200);
      expect(Object.keys(simple.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
      const preflight = await api({ method: 'OPTIONS', path: '/api/me', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization' } });
      expect(preflight.status).toBeLessThan(500);
      expect(Object.keys(preflight.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    });
  });
});

describe(`slow clients (${DB})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ listen: true, env: { REQUEST_TIMEOUT_MS: '1500' } });
  });
  afterAll(async () => t?.close());

  /** Sends the headers and the first bytes of a body, then nothing: what does the server do? */
  function trickle(path: string, headers: Record<string, string>): Promise<{ status: number; closedAfterMs: number }> {
    const url = new URL(t.baseUrl);
    return new Promise((resolve, reject) => {
      const started = Date.now();
      const socket = netConnect(Number(url.port), url.hostname, () => {
        const head = [`PUT ${path} HTTP/1.1`, `Host: ${url.host}`, 'Content-Type: application/json', 'Content-Length: 1000', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
        socket.write(head.join('\r\n') + '\r\n\r\n{"type":"string","value":"');
      });
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), closedAfterMs: Date.now() - started }));
      setTimeout(() => socket.destroy(), 20_000).unref();
    });
  }

  it('a body that never finishes gets 408 and its connection closed once REQUEST_TIMEOUT_MS has passed', async () => {
    const org = await seedOrg(t, 'slow');
    const answer = await trickle(`/api/scopes/${org.org.id}/configs/slow_key`, bearer(t.adminToken));
    expect(answer.status).toBe(408);
    expect(answer.closedAfterMs).toBeLessThan(15_000); // not the 20 s the test itself gives up after
    expect((await t.http().get(`/api/scopes/${org.org.id}/configs/slow_key`).set(bearer(t.adminToken))).status).toBe(404);
  });
});

describe(`a body without valid credentials is never read (issue 13, item 4) (${DB})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    // Far longer than these tests wait: an answer cannot be the request timeout's 408.
    t = await startApp({ listen: true, env: { REQUEST_TIMEOUT_MS: '600000' } });
  });
  afterAll(async () => t?.close());

  /** Sends a request's headers, announcing a body it never sends, and reads what comes back until the server closes. */
  function headersOnly(method: string, path: string, headers: Record<string, string>): Promise<{ status: number; head: string; body: string }> {
    const url = new URL(t.baseUrl);
    return new Promise((resolve, reject) => {
      const socket = netConnect(Number(url.port), url.hostname, () => {
        const head = [`${method} ${path} HTTP/1.1`, `Host: ${url.host}`, 'Content-Type: application/json', ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`)];
        socket.write(head.join('\r\n') + '\r\n\r\n');
      });
      let text = '';
      socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
      socket.on('error', reject);
      socket.on('close', () => {
        const [head, body = ''] = text.split('\r\n\r\n', 2);
        resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), head: head.toLowerCase(), body });
      });
    });
  }

  it('no token, a malformed one or an unknown one: 401 at once and the connection closed, the announced body never sent', async () => {
    const org = await seedOrg(t, 'early');
    const path = `/api/scopes/${org.org.id}/configs/early_key`;
    const cases: [Record<string, string>, string][] = [
      [{}, 'MISSING_TOKEN'],
      [{ Authorization: 'Basic abc' }, 'MALFORMED_TOKEN'],
      [bearer(`bft_${'x'.repeat(40)}`), 'INVALID_TOKEN'],
    ];
    for (const [headers, code] of cases) {
      const answer = await headersOnly('PUT', path, { ...headers, 'Content-Length': '1000000' });
      expect(answer.status).toBe(401);
      expect(JSON.parse(answer.body.replace(/^[0-9a-f]+\r\n/, '').replace(/\r\n0\r\n$/, '')).code).toBe(code);
      expect(answer.head).toContain('connection: close');
      expect(answer.head).toContain('www-authenticate: bearer');
    }
    // Each is audited as any denial, naming the route and the org it aimed at.
    const reasons = async () =>
      (await rawRows<{ reason: string }>(t, "SELECT reason FROM audit_entries WHERE action = 'auth.denied' AND reason LIKE '401 %'")).map((r) => r.reason);
    for (let i = 0; i < 200 && (await reasons()).length < 3; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await reasons()).sort()).toEqual(
      ['INVALID_TOKEN', 'MALFORMED_TOKEN', 'MISSING_TOKEN'].map((code) => `401 ${code} PUT /api/scopes/:scope/configs/:key target=${org.org.id}`),
    );
    // A chunked import (up to 512 MiB) likewise.
    const upload = await headersOnly('POST', '/api/import', { 'Transfer-Encoding': 'chunked' });
    expect(upload.status).toBe(401);
    // A valid token's body is read and applied as before.
    await t.http().put(path).set(bearer(t.adminToken)).send({ type: 'string', value: 'v' }).expect(201);
    const chunked = await rawHttpChunked(t.baseUrl, path, bearer(t.adminToken), '{"type":"string","value":"w"}');
    expect(chunked).toBe(200);
  }, 60_000);

  /** A PUT whose body is sent chunked, in two parts. */
  function rawHttpChunked(baseUrl: string, path: string, headers: Record<string, string>, body: string): Promise<number> {
    const url = new URL(baseUrl);
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: url.hostname, port: url.port, method: 'PUT', path, headers: { ...headers, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.write(body.slice(0, 5));
      req.end(body.slice(5));
    });
  }
});

describe(`HTTPS_ONLY=true (${DB})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ listen: true, env: { HTTPS_ONLY: 'true' } });
  });
  afterAll(async () => t?.close());

  it('sends the HTTPS-only headers: Strict-Transport-Security and upgrade-insecure-requests', async () => {
    for (const path of ['/health', '/docs-json', '/api/me']) {
      const res = await send(t.baseUrl, { method: 'GET', path, headers: bearer(t.adminToken) });
      expect(res.headers['strict-transport-security']).toMatch(/max-age=31536000/);
      expect(res.headers['content-security-policy']).toMatch(/upgrade-insecure-requests/);
    }
  });
});

describe(`CORS with CORS_ORIGINS (${DB})`, () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp({ listen: true, env: { CORS_ORIGINS: 'https://ui.example.com,https://admin.example.com' } });
  });
  afterAll(async () => t?.close());

  it('grants the listed origins only, with the API’s headers', async () => {
    for (const origin of ['https://ui.example.com', 'https://admin.example.com']) {
      const preflight = await send(t.baseUrl, { method: 'OPTIONS', path: '/api/me', headers: { Origin: origin, 'Access-Control-Request-Method': 'PUT', 'Access-Control-Request-Headers': 'authorization,content-type,x-bifrost-org' } });
      expect(preflight.status).toBeLessThan(300);
      expect(preflight.headers['access-control-allow-origin']).toBe(origin);
      const allowed = String(preflight.headers['access-control-allow-headers']).toLowerCase();
      for (const h of ['authorization', 'content-type', 'x-bifrost-org']) expect(allowed).toContain(h);
      const simple = await send(t.baseUrl, { method: 'GET', path: '/api/me', headers: { ...bearer(t.adminToken), Origin: origin } });
      expect(simple.status).toBe(200);
      expect(simple.headers['access-control-allow-origin']).toBe(origin);
      expect(simple.headers['x-powered-by']).toBeUndefined();
    }
    for (const origin of ['https://evil.example', 'https://ui.example.com.evil.example', 'null', 'http://ui.example.com']) {
      const preflight = await send(t.baseUrl, { method: 'OPTIONS', path: '/api/me', headers: { Origin: origin, 'Access-Control-Request-Method': 'GET' } });
      expect(preflight.status).toBeLessThan(500);
      expect(preflight.headers['access-control-allow-origin']).toBeUndefined();
      const simple = await send(t.baseUrl, { method: 'GET', path: '/api/me', headers: { ...bearer(t.adminToken), Origin: origin } });
      expect(simple.headers['access-control-allow-origin']).toBeUndefined();
      expect(simple.headers['access-control-allow-credentials']).toBeUndefined();
    }
  });
});
