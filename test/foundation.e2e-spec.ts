import { randomBytes } from 'node:crypto';
import request from 'supertest';
import { ApiToken } from '../src/auth/api-token.entity';
import { bearer, seedOrg, startApp, TestApp } from './helpers/test-app';

describe('foundation: health, docs, orgs, tokens, roles, org scoping', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => t?.close());

  it('reports the database up on /health without auth', async () => {
    const res = await t.http().get('/health').expect(200);
    expect(res.body).toEqual({ status: 'ok', database: 'up' });
    expect(res.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('splits liveness from readiness: /health/live answers without the database, /health/ready says what is wrong', async () => {
    await t.http().get('/health/live').expect(200, { status: 'ok' });
    await t.http().get('/health/ready').expect(200, { status: 'ok', database: 'up', migrations: 'applied', keys: 'checked' });
    // A migration not applied (its row gone, as on a database an older version migrated): not ready.
    const [row] = await t.dataSource.query('SELECT id, timestamp, name FROM migrations ORDER BY timestamp DESC LIMIT 1');
    await t.dataSource.query('DELETE FROM migrations WHERE id = ?', [row.id]);
    try {
      await t.http().get('/health/ready').expect(503, { status: 'error', database: 'up', migrations: 'pending', keys: 'checked' });
      await t.http().get('/health/live').expect(200);
      // /health stays as it was (the database only), for compatibility.
      await t.http().get('/health').expect(200, { status: 'ok', database: 'up' });
    } finally {
      await t.dataSource.query('INSERT INTO migrations (id, timestamp, name) VALUES (?, ?, ?)', [row.id, row.timestamp, row.name]);
    }
    await t.http().get('/health/ready').expect(200);
  });

  it('logs one line per request: method, route pattern, status, duration, request id, principal; never the path values or the query (issue 20)', async () => {
    const res = await t.http().get('/api/scopes/global/configs/some_private_key_name?prefix=hidden_query').set(bearer(t.adminToken)).set('X-Request-Id', 'req-log-1');
    expect(res.status).toBe(404);
    const lines = t.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.context === 'Request' && l.requestId === 'req-log-1');
    expect(lines).toEqual([
      { level: 'info', time: expect.any(String), context: 'Request', requestId: 'req-log-1', msg: 'request', method: 'GET', route: '/api/scopes/:scope/configs/:key', status: 404, durationMs: expect.any(Number), principalId: expect.any(String), role: 'admin' },
    ]);
    const all = t.logLines.join('\n');
    expect(all).not.toContain('some_private_key_name');
    expect(all).not.toContain('hidden_query');
    expect(all).not.toContain(t.adminToken);
    // Nest's start-up chatter (modules and routes mapped) is at debug, below this run's info.
    expect(t.logLines.filter((l) => /"context":"(RouterExplorer|RoutesResolver|InstanceLoader)"/.test(l))).toEqual([]);
  });

  it('serves Prometheus metrics to an admin token only, with route patterns and never a key, value or token (issue 20)', async () => {
    const org = await seedOrg(t, 'metrics-org');
    const secret = 'sk_live_metrics_' + randomBytes(8).toString('hex');
    await t.http().put(`/api/scopes/${org.org.id}/configs/metrics_secret_key`).set(bearer(t.adminToken)).send({ type: 'secret', value: secret }).expect(201);
    await t.http().get('/api/sdk/configs/metrics_secret_key').set(bearer(org.service)).expect(200);
    await t.http().get('/api/tokens').expect(401); // an audited denial
    await t.http().get('/metrics').expect(401);
    await t.http().get('/metrics').set(bearer(org.orgAdmin)).expect(403);
    const res = await t.http().get('/metrics').set(bearer(t.adminToken)).expect(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain/);
    const text = res.text;
    expect(text).toMatch(/bifrost_http_requests_total\{method="GET",route="\/api\/sdk\/configs\/:key",status="200"\} [1-9]/);
    expect(text).toMatch(/bifrost_http_request_duration_seconds_bucket\{le="0\.1",method="GET",route="\/api\/sdk\/configs\/:key"\}/);
    expect(text).toMatch(/bifrost_audit_entries_total\{action="config\.read",outcome="success"\} [1-9]/);
    expect(text).toMatch(/bifrost_audit_entries_total\{action="auth\.denied",outcome="denied"\} [1-9]/);
    expect(text).toMatch(/bifrost_audit_queue_depth \d+/);
    expect(text).toMatch(/bifrost_scrubber_matcher_builds [1-9]/);
    expect(text).toMatch(/bifrost_process_cpu_seconds_total/);
    for (const needle of [secret, 'metrics_secret_key', org.org.id, t.adminToken, org.service]) expect(text).not.toContain(needle);
  });

  it('serves Swagger UI and the OpenAPI document with bearer auth and every route', async () => {
    await t.http().get('/docs/').expect(200).expect('content-type', /html/);
    const doc = (await t.http().get('/docs-json').expect(200)).body;
    expect(doc.components.securitySchemes.bearer).toMatchObject({ type: 'http', scheme: 'bearer' });
    for (const path of ['/api/orgs', '/api/orgs/{orgId}', '/api/tokens', '/api/tokens/{id}', '/api/me', '/api/scopes/{scope}/configs', '/api/scopes/{scope}/configs/{key}', '/api/orgs/{orgId}/effective-configs', '/api/sdk/configs', '/api/sdk/configs/{key}', '/api/audit', '/health']) {
      expect(doc.paths[path]).toBeDefined();
    }
    for (const [path, ops] of Object.entries<Record<string, { summary?: string; security?: unknown }>>(doc.paths)) {
      for (const op of Object.values(ops)) {
        expect(op.summary).toBeTruthy();
        if (path.startsWith('/api')) expect(op.security).toEqual([{ bearer: [] }]);
      }
    }
  });

  it('sets security headers and no x-powered-by', async () => {
    const res = await t.http().get('/health');
    expect(res.headers['x-powered-by']).toBeUndefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('creates an org and an org_admin token with the bootstrap token, and /api/me tells who', async () => {
    const org = await t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: 'acme' }).expect(201);
    expect(org.body).toEqual({ id: expect.stringMatching(/^[0-9a-f-]{36}$/), name: 'acme', createdAt: expect.any(String) });
    const created = await t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'acme-admin', role: 'org_admin', orgId: org.body.id }).expect(201);
    expect(created.body.token).toMatch(/^bft_[A-Za-z0-9_-]{43}$/);
    const me = await t.http().get('/api/me').set(bearer(created.body.token)).expect(200);
    expect(me.body).toEqual({ id: created.body.id, name: 'acme-admin', role: 'org_admin', orgId: org.body.id });
    await t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: 'acme' }).expect(409).expect((r) => expect(r.body.code).toBe('ORG_EXISTS'));
  });

  it('org names: stored in NFC, marks accepted, look-alikes of an existing name refused (REST and import)', async () => {
    const post = (name: string) => t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name });
    await post('globex').expect(201);
    await post('finance').expect(201);
    await post('glob\u200bex').expect(400); // an invisible character is no letter at all
    for (const lookalike of ['gl\u043ebex', '\uff47\uff4c\uff4f\uff42\uff45\uff58', 'G1obex'.replace('G', 'g'), '\ufb01nance']) {
      const res = await post(lookalike).expect(409);
      expect(res.body.code).toBe('ORG_NAME_CONFUSABLE');
      expect(res.text).not.toContain(lookalike);
    }
    const hindi = await post('\u0939\u093f\u0928\u094d\u0926\u0940').expect(201);
    expect(hindi.body.name).toBe('\u0939\u093f\u0928\u094d\u0926\u0940');
    const nfd = await post('cafe\u0301 eu').expect(201);
    expect(nfd.body.name).toBe('caf\u00e9 eu');
    await post('caf\u00e9 eu').expect(409).expect((r) => expect(r.body.code).toBe('ORG_EXISTS'));
    // A bundle that would create a look-alike is refused as a whole, row named.
    const bundle = { format: 'bifrost-config-bundle', version: 1, portable: true, exportedAt: new Date().toISOString(), configs: [{ scope: { org: 'gl\u043ebex' }, key: 'k', type: 'string', value: 'v' }] };
    const imported = await t.http().post('/api/import?createOrgs=true').set(bearer(t.adminToken)).send(bundle).expect(400);
    expect(imported.body.details.map((d: { code: string }) => d.code)).toEqual(['ORG_NAME_CONFUSABLE']);
    const names = (await t.http().get('/api/orgs').set(bearer(t.adminToken)).expect(200)).body.items.map((o: { name: string }) => o.name);
    expect(names.filter((n: string) => n.normalize('NFKC').replace(/\u200b/g, '').toLowerCase().includes('bex'))).toEqual(['globex']);
  });

  it('stores tokens only as SHA-256 hashes and never lists the token', async () => {
    const created = await t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'hash-check', role: 'admin' }).expect(201);
    const row = await t.dataSource.getRepository(ApiToken).findOneByOrFail({ id: created.body.id });
    expect(row.tokenHash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.tokenHash).not.toContain(created.body.token);
    const { createHash } = await import('node:crypto');
    expect(row.tokenHash).toBe(createHash('sha256').update(created.body.token).digest('hex'));
    const list = await t.http().get('/api/tokens').set(bearer(t.adminToken)).expect(200);
    expect(JSON.stringify(list.body)).not.toContain(created.body.token);
    expect(list.body.items.find((i: { id: string }) => i.id === created.body.id)).toMatchObject({ name: 'hash-check', role: 'admin' });
  });

  it('enforces roles and org scope: 403 across orgs, members cannot write', async () => {
    const a = await seedOrg(t, 'org-a');
    const b = await seedOrg(t, 'org-b');
    await t.http().get(`/api/orgs/${b.org.id}`).set(bearer(a.orgAdmin)).expect(403);
    await t.http().get(`/api/orgs/${a.org.id}`).set(bearer(a.member)).expect(200);
    await t.http().get(`/api/scopes/${b.org.id}/configs`).set(bearer(a.orgAdmin)).expect(403);
    await t.http().get(`/api/scopes/${b.org.id}/configs`).set(bearer(a.member)).expect(403);
    await t.http().put(`/api/scopes/${a.org.id}/configs/x`).set(bearer(a.member)).send({ type: 'string', value: 'v' }).expect(403);
    await t.http().put(`/api/scopes/global/configs/x`).set(bearer(a.orgAdmin)).send({ type: 'string', value: 'v' }).expect(403);
    await t.http().post('/api/orgs').set(bearer(a.orgAdmin)).send({ name: 'nope' }).expect(403);
    const orgs = await t.http().get('/api/orgs').set(bearer(a.member)).expect(200);
    expect(orgs.body.items.map((o: { name: string }) => o.name)).toEqual(['org-a']);
    // org_admin may create member and service tokens of its own org only
    await t.http().post('/api/tokens').set(bearer(a.orgAdmin)).send({ name: 'm2', role: 'member', orgId: a.org.id }).expect(201);
    await t.http().post('/api/tokens').set(bearer(a.orgAdmin)).send({ name: 'adm', role: 'admin' }).expect(403);
    await t.http().post('/api/tokens').set(bearer(a.orgAdmin)).send({ name: 'x', role: 'member', orgId: b.org.id }).expect(403);
    await t.http().get('/api/tokens').set(bearer(a.member)).expect(403);
    // unknown org ids: 403 for an org principal (no probing), 404/400 for admin
    const unknown = '00000000-0000-4000-8000-000000000000';
    await t.http().get(`/api/orgs/${unknown}`).set(bearer(a.member)).expect(403);
    await t.http().get(`/api/orgs/${unknown}`).set(bearer(t.adminToken)).expect(404).expect((r) => expect(r.body.code).toBe('ORG_NOT_FOUND'));
    await t.http().get(`/api/scopes/${unknown}/configs`).set(bearer(t.adminToken)).expect(400).expect((r) => expect(r.body.code).toBe('INVALID_SCOPE'));
    await t.http().get(`/api/orgs/not-a-uuid`).set(bearer(t.adminToken)).expect(400).expect((r) => expect(r.body.code).toBe('INVALID_ID'));
  });

  it('puts the response X-Request-Id on the audit entry of the request', async () => {
    const res = await t.http().post('/api/tokens').set(bearer(t.adminToken)).set('User-Agent', 'e2e-agent/1').send({ name: 'rid', role: 'admin' }).expect(201);
    const entries = (await t.http().get('/api/audit?action=token.create').set(bearer(t.adminToken)).expect(200)).body.items;
    const entry = entries.find((e: { key: string }) => e.key === res.body.id);
    expect(entry).toMatchObject({ requestId: res.headers['x-request-id'], userAgent: 'e2e-agent/1', actor: { name: 'bootstrap', role: 'admin' } });
    // A well-formed incoming id is kept; a malformed one is replaced.
    expect((await t.http().get('/health').set('X-Request-Id', 'abc-123')).headers['x-request-id']).toBe('abc-123');
    expect((await t.http().get('/health').set('X-Request-Id', 'bad id <script>')).headers['x-request-id']).not.toContain('<');
  });

  it('stops a revoked token at once', async () => {
    const created = await t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'short-lived', role: 'admin' }).expect(201);
    await t.http().get('/api/me').set(bearer(created.body.token)).expect(200);
    await t.http().delete(`/api/tokens/${created.body.id}`).set(bearer(t.adminToken)).expect(204);
    const res = await t.http().get('/api/me').set(bearer(created.body.token)).expect(401);
    expect(res.body).toEqual({ statusCode: 401, error: 'Unauthorized', code: 'INVALID_TOKEN', message: expect.any(String) });
    await t.http().delete(`/api/tokens/00000000-0000-4000-8000-000000000000`).set(bearer(t.adminToken)).expect(404);
  });

  it('answers bad input with a 4xx, a stable code and no echo', async () => {
    const marker = 'ECHO-' + randomBytes(8).toString('hex');
    const cases: [() => Promise<{ status: number; body: Record<string, unknown> }>, number, string][] = [
      [() => t.http().get('/api/me'), 401, 'MISSING_TOKEN'],
      [() => t.http().get('/api/me').set('Authorization', `Basic ${marker}`), 401, 'MALFORMED_TOKEN'],
      [() => t.http().get('/api/me').set('Authorization', `Bearer ${marker}`), 401, 'INVALID_TOKEN'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: marker, extra: marker }), 400, 'VALIDATION_FAILED'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: 'x'.repeat(101) + marker }), 400, 'VALIDATION_FAILED'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: 12345 }), 400, 'VALIDATION_FAILED'],
      [() => t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'x', role: marker }), 400, 'VALIDATION_FAILED'],
      [() => t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'x', role: 'member', orgId: marker }), 400, 'VALIDATION_FAILED'],
      [() => t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'x', role: 'member', orgId: '00000000-0000-4000-8000-000000000000' }), 404, 'ORG_NOT_FOUND'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).set('Content-Type', 'application/json').send(`{"name": "${marker}`), 400, 'INVALID_JSON'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).set('Content-Type', 'text/plain').send(marker), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [() => t.http().get(`/api/${marker}`).set(bearer(t.adminToken)), 404, 'NOT_FOUND'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).set('Content-Type', 'application/json').send(`{"name": "x", "__proto__": {"admin": "${marker}"}}`), 400, 'INVALID_JSON'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).set('Content-Type', 'application/json').send('['.repeat(5000) + ']'.repeat(5000)), 400, 'JSON_TOO_DEEP'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).send({ name: marker + 'x'.repeat(1024 * 1024) }), 413, 'PAYLOAD_TOO_LARGE'],
      [() => t.http().post('/api/orgs').set(bearer(t.adminToken)).set('Content-Type', 'application/json').send(''), 400, 'INVALID_JSON'],
    ];
    for (const [call, status, code] of cases) {
      const res = await call();
      expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
      expect(res.body).toMatchObject({ statusCode: status, error: expect.any(String), message: expect.any(String) });
      expect(JSON.stringify(res.body)).not.toContain(marker);
    }
  });
});

describe('throttling failed authentications', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => t?.close());

  it('answers 429 after more than 10 failures in a minute, but never to a valid token', async () => {
    for (let i = 0; i < 11; i++) await t.http().get('/api/me').set(bearer('bft_wrong' + i)).expect(401);
    const res = await t.http().get('/api/me').set(bearer('bft_wrong_again')).expect(429);
    expect(res.body.code).toBe('TOO_MANY_FAILED_AUTHENTICATIONS');
    expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
    await t.http().get('/api/me').expect(429);
    // A valid token from the same address is served: 256 random bits, no answer helps a guesser.
    await t.http().get('/api/me').set(bearer(t.adminToken)).expect(200);
    await t.http().get('/health').expect(200);
  });
});

describe('two applications in one process', () => {
  it('each authenticates against its own database, and closing one leaves the other working', async () => {
    const a = await startApp();
    const b = await startApp();
    try {
      await a.http().get('/api/me').set(bearer(a.adminToken)).expect(200);
      await b.http().get('/api/me').set(bearer(b.adminToken)).expect(200);
      await a.http().get('/api/me').set(bearer(b.adminToken)).expect(401);
      await b.http().get('/api/me').set(bearer(a.adminToken)).expect(401);
      await b.close();
      await a.http().get('/api/me').set(bearer(a.adminToken)).expect(200);
    } finally {
      await a.close();
    }
  });
});

describe('revocation on the SDK read (its own app: the refusals count toward the per-address throttle)', () => {
  let t: TestApp;
  beforeAll(async () => {
    t = await startApp();
  });
  afterAll(async () => t?.close());

  it('stops a revoked service token at once on the SDK read too, also when another instance revoked it', async () => {
    // The SDK read checks the token inside its own statement (@TokenCheckedByHandler) once the
    // token is known to this instance; revoking the row directly (as another instance would) must
    // still stop the very next request, whatever else that request gets wrong.
    const a = await seedOrg(t, 'revocation-org');
    const secret = 'sk_live_' + randomBytes(12).toString('hex');
    await t.http().put(`/api/scopes/${a.org.id}/configs/rev_secret`).set(bearer(a.orgAdmin)).send({ type: 'secret', value: secret }).expect(201);
    const other = await seedOrg(t, 'revocation-other');
    const service = async () => (await t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'rev-service', role: 'service', orgId: a.org.id }).expect(201)).body as { id: string; token: string };
    const revokeBehindItsBack = (id: string) => t.dataSource.query('UPDATE api_tokens SET revoked_at = ? WHERE id = ?', [t.dataSource.options.type === 'better-sqlite3' ? new Date().toISOString().replace('T', ' ').replace('Z', '') : new Date(), id]);

    const requests: [string, (token: string) => request.Test, number, string][] = [
      ['a read that would succeed', (token) => t.http().get('/api/sdk/configs/rev_secret').set(bearer(token)), 200, ''],
      ['an unknown key', (token) => t.http().get('/api/sdk/configs/no_such_key').set(bearer(token)), 404, 'CONFIG_NOT_FOUND'],
      ['an invalid key', (token) => t.http().get('/api/sdk/configs/bad%20key!').set(bearer(token)), 400, 'INVALID_KEY'],
      ['another org in X-Bifrost-Org', (token) => t.http().get('/api/sdk/configs/rev_secret').set(bearer(token)).set('X-Bifrost-Org', other.org.id), 403, 'ORG_FORBIDDEN'],
    ];
    for (const [what, send, status, code] of requests) {
      const token = await service();
      // Twice while valid: the second request is served from the known principal plus the in-statement check.
      for (let i = 0; i < 2; i++) {
        const ok = await send(token.token);
        expect({ what, status: ok.status, code: ok.body.code ?? '' }).toEqual({ what, status, code });
      }
      await revokeBehindItsBack(token.id);
      const res = await send(token.token);
      expect({ what, status: res.status, body: res.body }).toEqual({ what, status: 401, body: { statusCode: 401, error: 'Unauthorized', code: 'INVALID_TOKEN', message: expect.any(String) } });
      expect(JSON.stringify(res.body)).not.toContain(secret);
      const audit = (await t.http().get('/api/audit').query({ action: 'auth.denied', limit: 200 }).set(bearer(t.adminToken)).expect(200)).body.items as { requestId: string; reason: string; outcome: string }[];
      expect(audit.filter((e) => e.requestId === res.headers['x-request-id'])).toEqual([expect.objectContaining({ outcome: 'denied', reason: expect.stringMatching(/^401 INVALID_TOKEN GET \/api\/sdk\/configs\/:key$/) })]);
      // And it stays refused.
      await send(token.token).expect(401);
    }
    // No read of the secret was audited as a success after a revocation.
    const reads = (await t.http().get('/api/audit').query({ action: 'config.read', limit: 200 }).set(bearer(t.adminToken)).expect(200)).body.items as { outcome: string }[];
    expect(reads.filter((e) => e.outcome === 'success')).toHaveLength(2);
  });

  it('tells a revoked token its 401 on the SDK read even where its role is refused (the check settled for every error)', async () => {
    const a = await seedOrg(t, 'revocation-role');
    const member = (await t.http().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'rev-member', role: 'member', orgId: a.org.id }).expect(201)).body as { id: string; token: string };
    // Twice while valid: known to this instance, so the second request's row is left to the handler.
    for (let i = 0; i < 2; i++) expect((await t.http().get('/api/sdk/configs/any_key').set(bearer(member.token)).expect(403)).body.code).toBe('ROLE_NOT_ALLOWED');
    await t.dataSource.query('UPDATE api_tokens SET revoked_at = ? WHERE id = ?', [t.dataSource.options.type === 'better-sqlite3' ? new Date().toISOString().replace('T', ' ').replace('Z', '') : new Date(), member.id]);
    expect((await t.http().get('/api/sdk/configs/any_key').set(bearer(member.token)).expect(401)).body.code).toBe('INVALID_TOKEN');
  });
});
