import { randomBytes } from 'node:crypto';
import request from 'supertest';
import type { AuditItem as ServiceAuditItem } from '../src/audit/audit.service';
import { ConfigEntity } from '../src/configs/config.entity';
import { Keyring } from '../src/crypto/keyring';
import { auditLeaks, breakAudit, configRow, leakForms, rawCount, rawRows, repairAudit, sentTo } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

const UA = 'audit-e2e/1.0';

/** An entry as it arrives over HTTP: the service's AuditItem with its date as JSON text. */
type AuditItem = Omit<ServiceAuditItem, 'at'> & { at: string };

type Seeded = Awaited<ReturnType<typeof seedOrg>>;
type Actor = { id: string; name: string; role: string };

describe(`audit log (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let a: Seeded;
  let b: Seeded;
  const who: Record<string, Actor> = {};
  /** Everything that must never show up in an audit row, in any form. */
  const secrets: string[] = [];
  const ciphertexts: string[] = [];
  const tokens: string[] = [];
  const plainValues: string[] = [];

  const api = () => request(t.baseUrl);
  const as = (req: request.Test, token?: string) => (token ? req.set(bearer(token)) : req).set('User-Agent', UA);
  const path = (scope: string, key: string) => `/api/scopes/${scope}/configs/${encodeURIComponent(key)}`;
  const sdkRead = (key: string, token: string, headers: Record<string, string> = {}) => as(api().get(`/api/sdk/configs/${key}`), token).set(headers);
  const putConfig = (scope: string, key: string, body: { type: string; value: unknown; description?: string }, token = t.adminToken) =>
    as(api().put(path(scope, key)), token).send(body);

  /** PUT a secret and remember its plaintext and stored ciphertext for the final scan. */
  async function putSecret(scope: string, key: string, value: string, status: number, token = t.adminToken): Promise<request.Response> {
    secrets.push(value);
    const res = await putConfig(scope, key, { type: 'secret', value }, token).expect(status);
    const row = await configRow(t, scope, key);
    if (row?.ciphertext) ciphertexts.push(row.ciphertext as string);
    return res;
  }

  /** All entries (admin's view, newest first), optionally filtered. */
  async function audit(query: Record<string, string> = {}, token = t.adminToken): Promise<{ items: AuditItem[]; nextCursor: string | null }> {
    const res = await as(api().get('/api/audit'), token).query({ limit: '500', ...query }).expect(200);
    return res.body;
  }

  /** The entries written for the request that got this response. */
  async function entriesOf(res: request.Response): Promise<AuditItem[]> {
    const requestId = res.headers['x-request-id'];
    expect(requestId).toEqual(expect.any(String));
    return (await audit()).items.filter((i) => i.requestId === requestId);
  }

  async function oneEntryOf(res: request.Response): Promise<AuditItem> {
    const entries = await entriesOf(res);
    expect(entries).toHaveLength(1);
    return entries[0];
  }

  const entryShape = (res: request.Response, actor: Actor | null, fields: Partial<AuditItem>) => ({
    id: expect.stringMatching(/^\d+$/),
    at: expect.any(String),
    actor: actor ?? { id: null, name: null, role: null },
    scope: null,
    key: null,
    configType: null,
    reason: null,
    executionId: null,
    requestId: res.headers['x-request-id'],
    ip: expect.stringMatching(/^(::ffff:)?127\.0\.0\.1$|^::1$/),
    userAgent: UA,
    ...fields,
  });

  beforeAll(async () => {
    t = await startApp({ listen: true });
    a = await seedOrg(t, 'aud-a');
    b = await seedOrg(t, 'aud-b');
    tokens.push(t.adminToken, a.orgAdmin, a.member, a.service, b.orgAdmin, b.member, b.service);
    for (const [name, token] of Object.entries({ admin: t.adminToken, aOrgAdmin: a.orgAdmin, aMember: a.member, aService: a.service, bService: b.service, bOrgAdmin: b.orgAdmin })) {
      const me = (await api().get('/api/me').set(bearer(token)).expect(200)).body;
      who[name] = { id: me.id, name: me.name, role: me.role };
    }
  });
  afterAll(async () => t?.close());

  describe('one entry per audited operation, with the right fields', () => {
    const s1 = 'sk_audit_' + randomBytes(12).toString('hex');

    it('records an SDK read that found a secret', async () => {
      await putSecret(a.org.id, 'aud_secret', s1, 201);
      const plain = await sdkRead('aud_secret', a.service).expect(200);
      expect(plain.body.value).toBe(s1);
      expect(await oneEntryOf(plain)).toEqual(
        entryShape(plain, who.aService, { action: 'config.read', scope: a.org.id, key: 'aud_secret', configType: 'secret', outcome: 'success' }),
      );
      // Within an execution: the entry names it.
      const execution = (await as(api().post('/api/executions'), a.service).send({ workflow: 'audit-workflow' }).expect(201)).body;
      const before = Date.now();
      const res = await sdkRead('aud_secret', a.service, { 'X-Bifrost-Execution': execution.id }).expect(200);
      expect(res.body.value).toBe(s1);
      const entry = await oneEntryOf(res);
      expect(entry).toEqual(
        entryShape(res, who.aService, { action: 'config.read', scope: a.org.id, key: 'aud_secret', configType: 'secret', outcome: 'success', executionId: execution.id }),
      );
      expect(Math.abs(new Date(entry.at).getTime() - before)).toBeLessThan(60_000);
      // An execution that is not the org's: the read fails, and that failure is an entry too.
      const unknownExecution = '00000000-0000-4000-8000-00000000e0e0';
      const failed = await sdkRead('aud_secret', a.service, { 'X-Bifrost-Execution': unknownExecution }).expect(404);
      expect(failed.text).not.toContain(s1);
      expect(await oneEntryOf(failed)).toEqual(
        entryShape(failed, who.aService, {
          action: 'config.read',
          scope: a.org.id,
          key: 'aud_secret',
          configType: 'secret',
          outcome: 'failure',
          reason: failed.body.code,
          executionId: unknownExecution,
        }),
      );
      // A caller-chosen request id is kept when it is well-formed.
      const mine = await sdkRead('aud_secret', a.service, { 'X-Request-Id': 'client-req-0001' }).expect(200);
      expect(mine.headers['x-request-id']).toBe('client-req-0001');
      expect((await oneEntryOf(mine)).requestId).toBe('client-req-0001');
    });

    it('records a global config read by an org service in the scope where it was found', async () => {
      await putConfig('global', 'aud_global', { type: 'int', value: 5 }).expect(201);
      const res = await sdkRead('aud_global', a.service).expect(200);
      expect(await oneEntryOf(res)).toEqual(entryShape(res, who.aService, { action: 'config.read', scope: 'global', key: 'aud_global', configType: 'int', outcome: 'success' }));
    });

    it('records SDK reads that failed: not found, missing value, decryption failed', async () => {
      const notFound = await sdkRead('aud_missing', a.service).expect(404);
      expect(await oneEntryOf(notFound)).toEqual(
        entryShape(notFound, who.aService, { action: 'config.read', scope: a.org.id, key: 'aud_missing', outcome: 'failure', reason: 'CONFIG_NOT_FOUND' }),
      );

      const row = { type: 'secret' as const, value: null, description: null, updatedBy: 'test', createdAt: new Date(), updatedAt: new Date() };
      await t.dataSource.getRepository(ConfigEntity).insert({ ...row, scope: a.org.id, key: 'aud_no_value', ciphertext: null, hasValue: false });
      const missing = await sdkRead('aud_no_value', a.service).expect(409);
      expect(await oneEntryOf(missing)).toEqual(
        entryShape(missing, who.aService, { action: 'config.read', scope: a.org.id, key: 'aud_no_value', configType: 'secret', outcome: 'failure', reason: 'SECRET_VALUE_MISSING' }),
      );

      const foreignPlain = 'foreign-secret-' + randomBytes(8).toString('hex');
      const foreign = Keyring.fromSecrets('another-deployments-key-0123456789abcdef').encrypt(foreignPlain);
      secrets.push(foreignPlain);
      ciphertexts.push(foreign);
      await t.dataSource.getRepository(ConfigEntity).insert({ ...row, scope: a.org.id, key: 'aud_foreign', ciphertext: foreign, hasValue: true });
      const broken = await sdkRead('aud_foreign', a.service).expect(500);
      expect(broken.body.code).toBe('DECRYPTION_FAILED');
      expect(await oneEntryOf(broken)).toEqual(
        entryShape(broken, who.aService, { action: 'config.read', scope: a.org.id, key: 'aud_foreign', configType: 'secret', outcome: 'failure', reason: 'DECRYPTION_FAILED' }),
      );
    });

    it('records denied SDK reads with the principal and the reason code', async () => {
      for (const [name, token] of [
        ['aMember', a.member],
        ['aOrgAdmin', a.orgAdmin],
        ['admin', t.adminToken],
      ] as const) {
        const res = await sdkRead('aud_secret', token).expect(403);
        expect(res.text).not.toContain(s1);
        const entry = await oneEntryOf(res);
        expect(entry).toEqual(
          entryShape(res, who[name], {
            action: 'auth.denied',
            outcome: 'denied',
            scope: who[name].role === 'admin' ? null : a.org.id,
            key: 'aud_secret',
            reason: expect.stringMatching(/^403 ROLE_NOT_ALLOWED GET \/api\/sdk\/configs\/:key$/),
          }),
        );
      }
      const crossOrg = await sdkRead('aud_secret', a.service, { 'X-Bifrost-Org': b.org.id }).expect(403);
      expect(await oneEntryOf(crossOrg)).toMatchObject({ action: 'auth.denied', outcome: 'denied', actor: who.aService, key: 'aud_secret', reason: expect.stringMatching(/^403 ORG_FORBIDDEN /) });
    });

    it('records each list request once: scope list, masked read, effective view, SDK list', async () => {
      const list = await as(api().get(`/api/scopes/${a.org.id}/configs?type=secret`), a.member).expect(200);
      expect(await oneEntryOf(list)).toEqual(entryShape(list, who.aMember, { action: 'config.list', scope: a.org.id, outcome: 'success', reason: 'type=secret' }));
      const paged = await as(api().get(`/api/scopes/${a.org.id}/configs?limit=1`), a.member).expect(200);
      expect(paged.body.items).toHaveLength(1);
      expect(await oneEntryOf(paged)).toMatchObject({ action: 'config.list', scope: a.org.id });

      const single = await as(api().get(path(a.org.id, 'aud_secret')), a.member).expect(200);
      expect(await oneEntryOf(single)).toEqual(entryShape(single, who.aMember, { action: 'config.read', scope: a.org.id, key: 'aud_secret', configType: 'secret', outcome: 'success', reason: 'masked read' }));

      const effective = await as(api().get(`/api/orgs/${a.org.id}/effective-configs`), a.orgAdmin).expect(200);
      expect(await oneEntryOf(effective)).toEqual(entryShape(effective, who.aOrgAdmin, { action: 'config.list', scope: a.org.id, outcome: 'success', reason: 'effective' }));

      const sdkList = await as(api().get('/api/sdk/configs'), a.service).expect(200);
      expect(await oneEntryOf(sdkList)).toEqual(entryShape(sdkList, who.aService, { action: 'config.list', scope: a.org.id, outcome: 'success', reason: 'sdk' }));
    });

    it('records create, update, description change and delete, through the admin API and the SDK', async () => {
      const value = 'plain-value-' + randomBytes(6).toString('hex');
      plainValues.push(value);
      const created = await putConfig(a.org.id, 'aud_crud', { type: 'string', value }, a.orgAdmin).expect(201);
      expect(await oneEntryOf(created)).toEqual(entryShape(created, who.aOrgAdmin, { action: 'config.create', scope: a.org.id, key: 'aud_crud', configType: 'string', outcome: 'success' }));
      const updated = await putConfig(a.org.id, 'aud_crud', { type: 'json', value: { v: value } }, a.orgAdmin).expect(200);
      expect(await oneEntryOf(updated)).toEqual(entryShape(updated, who.aOrgAdmin, { action: 'config.update', scope: a.org.id, key: 'aud_crud', configType: 'json', outcome: 'success' }));
      const patched = await as(api().patch(path(a.org.id, 'aud_crud')), a.orgAdmin).send({ description: 'why it exists' }).expect(200);
      expect(await oneEntryOf(patched)).toEqual(
        entryShape(patched, who.aOrgAdmin, { action: 'config.update', scope: a.org.id, key: 'aud_crud', configType: 'json', outcome: 'success', reason: 'description' }),
      );
      const deleted = await as(api().delete(path(a.org.id, 'aud_crud')), a.orgAdmin).expect(204);
      expect(await oneEntryOf(deleted)).toEqual(entryShape(deleted, who.aOrgAdmin, { action: 'config.delete', scope: a.org.id, key: 'aud_crud', configType: 'json', outcome: 'success' }));

      const s2 = 'sdk-written-' + randomBytes(10).toString('hex');
      secrets.push(s2);
      const sdkPut = await as(api().put('/api/sdk/configs/aud_sdk'), a.service).send({ value: s2, isSecret: true }).expect(204);
      ciphertexts.push((await configRow(t, a.org.id, 'aud_sdk'))!.ciphertext as string);
      expect(await oneEntryOf(sdkPut)).toEqual(entryShape(sdkPut, who.aService, { action: 'config.create', scope: a.org.id, key: 'aud_sdk', configType: 'secret', outcome: 'success' }));
      const sdkDelete = await as(api().delete('/api/sdk/configs/aud_sdk'), a.service).expect(204);
      expect(await oneEntryOf(sdkDelete)).toEqual(entryShape(sdkDelete, who.aService, { action: 'config.delete', scope: a.org.id, key: 'aud_sdk', configType: 'secret', outcome: 'success' }));

      // A rejected write writes nothing, the audit log included.
      const rejected = await putConfig(a.org.id, 'aud_crud', { type: 'int', value: 'nope' }, a.orgAdmin).expect(400);
      expect(await entriesOf(rejected)).toEqual([]);
    });

    it('records token creation and revocation, never the token', async () => {
      const created = await as(api().post('/api/tokens'), a.orgAdmin).send({ name: 'aud-new-member', role: 'member', orgId: a.org.id }).expect(201);
      tokens.push(created.body.token);
      expect(await oneEntryOf(created)).toEqual(
        entryShape(created, who.aOrgAdmin, { action: 'token.create', scope: a.org.id, key: created.body.id, outcome: 'success', reason: 'role member' }),
      );
      const revoked = await as(api().delete(`/api/tokens/${created.body.id}`), a.orgAdmin).expect(204);
      expect(await oneEntryOf(revoked)).toEqual(entryShape(revoked, who.aOrgAdmin, { action: 'token.revoke', scope: a.org.id, key: created.body.id, outcome: 'success' }));
      const adminToken = await as(api().post('/api/tokens'), t.adminToken).send({ name: 'aud-ops', role: 'admin' }).expect(201);
      tokens.push(adminToken.body.token);
      expect(await oneEntryOf(adminToken)).toMatchObject({ action: 'token.create', scope: 'global', key: adminToken.body.id, actor: who.admin });
    });

    it('records denied requests: 401 without credentials, 403 with the principal', async () => {
      const none = await as(api().get(`/api/scopes/${a.org.id}/configs`)).expect(401);
      expect(await oneEntryOf(none)).toEqual(
        // Unauthenticated: filed under no org (admins only), the org it aimed at named in the reason.
        entryShape(none, null, { action: 'auth.denied', outcome: 'denied', scope: null, reason: `401 MISSING_TOKEN GET /api/scopes/:scope/configs target=${a.org.id}` }),
      );
      const wrong = 'bft_' + randomBytes(32).toString('base64url');
      tokens.push(wrong);
      const invalid = await as(api().get('/api/sdk/configs/aud_secret'), wrong).expect(401);
      expect(await oneEntryOf(invalid)).toEqual(
        entryShape(invalid, null, { action: 'auth.denied', outcome: 'denied', key: 'aud_secret', reason: expect.stringMatching(/^401 INVALID_TOKEN /) }),
      );
      const malformed = await as(api().get('/api/me')).set('Authorization', `Basic ${Buffer.from('user:' + wrong).toString('base64')}`).expect(401);
      expect(await oneEntryOf(malformed)).toMatchObject({ action: 'auth.denied', outcome: 'denied', reason: expect.stringMatching(/^401 MALFORMED_TOKEN /) });
      const forbidden = await putConfig(b.org.id, 'aud_cross', { type: 'string', value: 'x' }, a.orgAdmin).expect(403);
      expect(await oneEntryOf(forbidden)).toEqual(
        // Cross-org: filed under the caller's own org, never in the target's view.
        entryShape(forbidden, who.aOrgAdmin, { action: 'auth.denied', outcome: 'denied', scope: a.org.id, key: 'aud_cross', reason: `403 ORG_FORBIDDEN PUT /api/scopes/:scope/configs/:key target=${b.org.id}` }),
      );
      const memberWrite = await putConfig(a.org.id, 'aud_member', { type: 'string', value: 'x' }, a.member).expect(403);
      expect(await oneEntryOf(memberWrite)).toMatchObject({ action: 'auth.denied', actor: who.aMember, scope: a.org.id, key: 'aud_member', reason: expect.stringMatching(/^403 ROLE_NOT_ALLOWED PUT /) });
    });
  });

  describe('denials with junk in the path', () => {
    it('records them without the junk, and never fails the entries batched with them', async () => {
      const junkScope = 'junk-scope-' + 'x'.repeat(300);
      const junkKey = 'not a key ' + 'y'.repeat(400);
      await putConfig(a.org.id, 'aud_junk_target', { type: 'string', value: 'target' }).expect(201);
      const results = await Promise.all([
        ...Array.from({ length: 20 }, () => sdkRead('aud_junk_target', a.service)),
        ...Array.from({ length: 5 }, () => as(api().get(`/api/scopes/${junkScope}/configs`), a.service)),
        ...Array.from({ length: 5 }, () => as(api().get(`/api/scopes/${junkScope}/configs/${encodeURIComponent(junkKey)}`), a.service)),
        ...Array.from({ length: 5 }, () => sdkRead(encodeURIComponent(junkKey), a.member)),
      ]);
      expect(results.slice(0, 20).map((r) => r.status)).toEqual(Array(20).fill(200));
      expect(results.slice(20).map((r) => r.status)).toEqual(Array(15).fill(403));
      for (const res of results.slice(20)) {
        const entry = await oneEntryOf(res);
        expect(entry).toMatchObject({ action: 'auth.denied', outcome: 'denied', key: null });
        expect(entry.scope === null || entry.scope === a.org.id).toBe(true);
        expect(JSON.stringify(entry)).not.toMatch(/junk|xxxx|yyyy|not a key/);
      }
      for (const res of results.slice(0, 20)) expect(await oneEntryOf(res)).toMatchObject({ action: 'config.read', outcome: 'success' });
    });
  });

  describe('GET /api/audit', () => {
    it('filters by scope, key, action, actor, outcome, since and until', async () => {
      await sdkRead('aud_secret', b.service).expect(404); // an entry in org B
      const all = (await audit()).items;
      expect(all.length).toBeGreaterThan(20);
      const check = async (query: Record<string, string>, predicate: (i: AuditItem) => boolean) => {
        const { items } = await audit(query);
        expect({ query, found: items.length > 0 }).toEqual({ query, found: true });
        expect(items.filter((i) => !predicate(i))).toEqual([]);
        // Nothing that matches is left out.
        expect({ query, ids: items.map((i) => i.id) }).toEqual({ query, ids: all.filter(predicate).map((i) => i.id) });
      };
      await check({ scope: a.org.id }, (i) => i.scope === a.org.id);
      await check({ scope: b.org.id }, (i) => i.scope === b.org.id);
      await check({ scope: 'global' }, (i) => i.scope === 'global');
      await check({ key: 'aud_secret' }, (i) => i.key === 'aud_secret');
      await check({ action: 'config.read' }, (i) => i.action === 'config.read');
      await check({ action: 'auth.denied' }, (i) => i.action === 'auth.denied');
      await check({ actor: who.aService.id }, (i) => i.actor.id === who.aService.id);
      await check({ actor: who.aService.name }, (i) => i.actor.name === who.aService.name);
      await check({ outcome: 'failure' }, (i) => i.outcome === 'failure');
      await check({ outcome: 'denied' }, (i) => i.outcome === 'denied');
      await check({ scope: a.org.id, key: 'aud_secret', action: 'config.read', outcome: 'success', actor: who.aService.id }, (i) =>
        i.scope === a.org.id && i.key === 'aud_secret' && i.action === 'config.read' && i.outcome === 'success' && i.actor.id === who.aService.id,
      );
      // Keys are case-sensitive here too.
      expect((await audit({ key: 'AUD_SECRET' })).items).toEqual([]);

      const times = all.map((i) => new Date(i.at).getTime());
      const mid = all[Math.floor(all.length / 2)];
      const midAt = new Date(mid.at).getTime();
      await check({ since: mid.at }, (i) => new Date(i.at).getTime() >= midAt);
      await check({ until: mid.at }, (i) => new Date(i.at).getTime() <= midAt);
      await check({ since: mid.at, until: mid.at }, (i) => new Date(i.at).getTime() === midAt);
      expect((await audit({ since: new Date(Math.max(...times) + 1000).toISOString() })).items).toEqual([]);
      expect((await audit({ until: '2000-01-01' })).items).toEqual([]);
      // Offsets are honoured: the same instant written in another zone.
      const shifted = new Date(midAt + 2 * 3600_000).toISOString().replace('Z', '+02:00');
      await check({ since: shifted }, (i) => new Date(i.at).getTime() >= midAt);
    });

    it('pages newest first by cursor, stable while new entries arrive', async () => {
      const full = (await audit({ scope: a.org.id })).items;
      expect(full.length).toBeGreaterThan(10);
      const ids = full.map((i) => BigInt(i.id));
      for (let k = 1; k < ids.length; k++) expect(ids[k] < ids[k - 1]).toBe(true);

      const walked: AuditItem[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const page: { items: AuditItem[]; nextCursor: string | null } = await audit({ scope: a.org.id, limit: '4', ...(cursor ? { cursor } : {}) });
        expect(page.items.length).toBeLessThanOrEqual(4);
        walked.push(...page.items);
        cursor = page.nextCursor;
        if (pages++ === 0) await sdkRead('aud_secret', a.service).expect(200); // a newer entry mid-walk
      } while (cursor);
      expect(walked.map((i) => i.id)).toEqual(full.map((i) => i.id));
      expect(pages).toBe(Math.ceil(full.length / 4));
    });

    it('rejects bad filters with a code and no echo', async () => {
      const m = 'ECHO' + randomBytes(6).toString('hex');
      const cases: [Record<string, string>, string][] = [
        [{ since: m }, 'INVALID_DATE'],
        [{ since: 'yesterday' }, 'INVALID_DATE'],
        [{ until: '2024-13-01T00:00:00Z' }, 'INVALID_DATE'],
        [{ until: '2024-01-01T25:00:00Z' }, 'INVALID_DATE'],
        [{ since: '1700000000' }, 'INVALID_DATE'],
        [{ action: m }, 'INVALID_ACTION'],
        [{ action: 'config.reveal' }, 'INVALID_ACTION'],
        [{ outcome: m }, 'INVALID_OUTCOME'],
        [{ limit: '501' }, 'INVALID_LIMIT'],
        [{ limit: '0' }, 'INVALID_LIMIT'],
        [{ limit: '-5' }, 'INVALID_LIMIT'],
        [{ limit: '1.5' }, 'INVALID_LIMIT'],
        [{ limit: m }, 'INVALID_LIMIT'],
        [{ cursor: m }, 'INVALID_CURSOR'],
        [{ cursor: Buffer.from('a:12x').toString('base64url') }, 'INVALID_CURSOR'],
        [{ cursor: Buffer.from('k:aud_secret').toString('base64url') }, 'INVALID_CURSOR'],
        [{ bogus: m }, 'VALIDATION_FAILED'],
      ];
      for (const [query, code] of cases) {
        const res = await as(api().get('/api/audit'), t.adminToken).query({ limit: '10', ...query });
        expect({ query, status: res.status, code: res.body.code }).toEqual({ query, status: 400, code });
        expect(res.text).not.toContain(m);
      }
    });

    it('is closed to members and service tokens, and that denial is itself an entry', async () => {
      for (const [name, token] of [
        ['aMember', a.member],
        ['aService', a.service],
      ] as const) {
        const res = await as(api().get('/api/audit'), token).expect(403);
        expect(res.body.items).toBeUndefined();
        expect(await oneEntryOf(res)).toEqual(
          entryShape(res, who[name], { action: 'auth.denied', outcome: 'denied', scope: a.org.id, reason: expect.stringMatching(/^403 ROLE_NOT_ALLOWED GET \/api\/audit$/) }),
        );
      }
    });

    it('shows an org_admin its own org only', async () => {
      const bEntries = (await audit({ scope: b.org.id })).items;
      expect(bEntries.length).toBeGreaterThan(0);
      const mine = (await audit({}, a.orgAdmin)).items;
      expect(mine.length).toBeGreaterThan(10);
      expect(mine.filter((i) => i.scope !== a.org.id)).toEqual([]);
      expect(mine.map((i) => i.id)).toEqual((await audit({ scope: a.org.id })).items.map((i) => i.id));
      const filtered = (await audit({ action: 'config.read', outcome: 'success' }, a.orgAdmin)).items;
      expect(filtered.length).toBeGreaterThan(0);
      expect(filtered.every((i) => i.scope === a.org.id && i.action === 'config.read' && i.outcome === 'success')).toBe(true);
      await as(api().get('/api/audit'), a.orgAdmin).query({ scope: a.org.id }).expect(200);
      for (const scope of [b.org.id, 'global']) {
        const res = await as(api().get('/api/audit'), a.orgAdmin).query({ scope }).expect(403);
        expect(res.body.code).toBe('ORG_FORBIDDEN');
        expect(res.body.items).toBeUndefined();
        expect(await oneEntryOf(res)).toMatchObject({ action: 'auth.denied', actor: who.aOrgAdmin, outcome: 'denied', reason: expect.stringMatching(/^403 ORG_FORBIDDEN GET \/api\/audit$/) });
      }
      const bView = (await audit({}, b.orgAdmin)).items;
      expect(bView.every((i) => i.scope === b.org.id)).toBe(true);
      expect(bView.some((i) => i.scope === a.org.id)).toBe(false);
    });

    it('has no endpoint that changes or deletes an entry', async () => {
      const [latest] = (await audit({ limit: '1' })).items;
      const before = await rawCount(t, 'audit_entries');
      // /api/audit is served for GET only (405 with Allow); /api/audit/{id} is no path at all (404).
      for (const [res, status] of [
        [await as(api().delete('/api/audit'), t.adminToken), 405],
        [await as(api().delete(`/api/audit/${latest.id}`), t.adminToken), 404],
        [await as(api().put(`/api/audit/${latest.id}`), t.adminToken).send({ reason: 'x' }), 404],
        [await as(api().patch(`/api/audit/${latest.id}`), t.adminToken).send({ reason: 'x' }), 404],
        [await as(api().post('/api/audit'), t.adminToken).send({ action: 'config.read' }), 405],
      ] as const) {
        expect(res.status).toBe(status);
        if (status === 405) expect(res.headers.allow).toBe('GET, HEAD');
      }
      expect(await rawCount(t, 'audit_entries')).toBe(before);
    });
  });

  describe('fail-closed', () => {
    afterEach(async () => repairAudit(t));

    it('refuses writes and reads with 503 AUDIT_UNAVAILABLE while the audit log cannot be written, and changes nothing', async () => {
      await putConfig(a.org.id, 'fc_existing', { type: 'string', value: 'before-outage' }).expect(201);
      const fcSecret = 'fc-secret-before-' + randomBytes(6).toString('hex');
      await putSecret(a.org.id, 'fc_secret', fcSecret, 201);
      const existing = await configRow(t, a.org.id, 'fc_existing');
      const existingSecret = await configRow(t, a.org.id, 'fc_secret');
      const configsBefore = await rawCount(t, 'configs');
      const tokensBefore = await rawCount(t, 'api_tokens');
      const secretVersionsBefore = await rawRows(t, 'SELECT * FROM secret_versions ORDER BY scope');
      const s1 = secrets[0];

      await breakAudit(t);
      const auditBefore = await rawCount(t, 'audit_entries');
      const outageSecret = 'outage-secret-' + randomBytes(8).toString('hex');
      secrets.push(outageSecret);
      const refused = [
        await putConfig(a.org.id, 'fc_new', { type: 'string', value: 'never-stored' }),
        await putConfig(a.org.id, 'fc_new_secret', { type: 'secret', value: outageSecret }),
        await putConfig(a.org.id, 'fc_existing', { type: 'string', value: 'during-outage' }),
        await putConfig(a.org.id, 'fc_secret', { type: 'secret', value: outageSecret }),
        await putConfig('global', 'fc_global', { type: 'int', value: 1 }),
        await as(api().patch(path(a.org.id, 'fc_existing')), t.adminToken).send({ description: 'during outage' }),
        await as(api().delete(path(a.org.id, 'fc_existing')), t.adminToken),
        await as(api().put('/api/sdk/configs/fc_sdk'), a.service).send({ value: outageSecret, isSecret: true }),
        await as(api().delete('/api/sdk/configs/fc_existing'), a.service),
        await as(api().post('/api/tokens'), t.adminToken).send({ name: 'outage-token', role: 'member', orgId: a.org.id }),
        await as(api().get(`/api/scopes/${a.org.id}/configs`), a.member),
        await as(api().get(path(a.org.id, 'fc_existing')), a.member),
        await as(api().get(`/api/orgs/${a.org.id}/effective-configs`), a.member),
        await as(api().get('/api/sdk/configs'), a.service),
      ];
      for (const res of refused) {
        expect({ url: sentTo(res), status: res.status, code: res.body.code }).toEqual({
          url: sentTo(res),
          status: 503,
          code: 'AUDIT_UNAVAILABLE',
        });
        expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', code: 'AUDIT_UNAVAILABLE', message: expect.any(String) });
        expect(res.text).not.toContain(outageSecret);
      }
      expect(refused[9].body.token).toBeUndefined();

      // SDK reads fail too, every outcome, and never carry the value.
      const reads = await Promise.all([
        sdkRead('aud_secret', a.service),
        sdkRead('fc_secret', a.service),
        sdkRead('fc_existing', a.service),
        sdkRead('fc_missing', a.service),
        ...Array.from({ length: 10 }, () => sdkRead('aud_secret', a.service)),
      ]);
      for (const res of reads) {
        expect(res.status).toBe(503);
        expect(res.body).toEqual({ statusCode: 503, error: 'Service Unavailable', code: 'AUDIT_UNAVAILABLE', message: expect.any(String) });
        expect(res.text).not.toContain(s1);
        expect(res.text).not.toContain(fcSecret);
        expect(res.text).not.toContain('before-outage');
      }
      // A denial is still a denial.
      await putConfig(a.org.id, 'fc_member', { type: 'string', value: 'x' }, a.member).expect(403);

      expect(await rawCount(t, 'audit_entries')).toBe(auditBefore);
      expect(await rawCount(t, 'configs')).toBe(configsBefore);
      expect(await rawCount(t, 'api_tokens')).toBe(tokensBefore);
      expect(await configRow(t, a.org.id, 'fc_new')).toBeUndefined();
      expect(await configRow(t, a.org.id, 'fc_new_secret')).toBeUndefined();
      expect(await configRow(t, a.org.id, 'fc_sdk')).toBeUndefined();
      expect(await configRow(t, 'global', 'fc_global')).toBeUndefined();
      expect(await configRow(t, a.org.id, 'fc_existing')).toEqual(existing);
      expect(await configRow(t, a.org.id, 'fc_secret')).toEqual(existingSecret);
      expect(await rawRows(t, 'SELECT * FROM secret_versions ORDER BY scope')).toEqual(secretVersionsBefore);

      // Back up: everything works again.
      await repairAudit(t);
      const created = await putConfig(a.org.id, 'fc_new', { type: 'string', value: 'after-outage' }).expect(201);
      expect(await oneEntryOf(created)).toMatchObject({ action: 'config.create', key: 'fc_new' });
      const read = await sdkRead('fc_secret', a.service).expect(200);
      expect(read.body.value).toBe(fcSecret);
      expect(await oneEntryOf(read)).toMatchObject({ action: 'config.read', key: 'fc_secret', outcome: 'success' });
      await putConfig(a.org.id, 'fc_existing', { type: 'string', value: 'after-outage' }).expect(200);
    });
  });

  describe('group commit', () => {
    it('answers each of many concurrent SDK reads only after its own entry is committed', async () => {
      const observer = await openObserver(t);
      try {
        const n = 40;
        const results = await Promise.all(
          Array.from({ length: n }, async (_, i) => {
            const requestId = `gc-${i}-${randomBytes(4).toString('hex')}`;
            const res = await sdkRead('aud_secret', a.service, { 'X-Request-Id': requestId });
            // Checked on another connection the moment the response is in: committed, not just written.
            const committed = await observer.count(requestId);
            return { status: res.status, requestId, committed };
          }),
        );
        expect(results.filter((r) => r.status !== 200)).toEqual([]);
        expect(results.filter((r) => r.committed !== 1)).toEqual([]);
        const ids = new Set(results.map((r) => r.requestId));
        const entries = (await audit({ key: 'aud_secret', action: 'config.read' })).items.filter((i) => ids.has(i.requestId ?? ''));
        expect(entries).toHaveLength(n);
      } finally {
        await observer.close();
      }
    });
  });

  describe('never a value', () => {
    it('takes no credential as a request id or an execution id', async () => {
      for (const [header, token] of [
        ['X-Request-Id', a.service],
        ['X-Request-Id', t.adminToken],
        ['X-Bifrost-Execution', a.service],
      ] as const) {
        const res = await sdkRead('aud_secret', a.service, { [header]: token });
        expect([200, 404]).toContain(res.status);
        expect(res.headers['x-request-id']).not.toBe(token);
        const entry = await oneEntryOf(res);
        expect(entry.requestId).toBe(res.headers['x-request-id']);
        expect(entry.executionId).toBeNull();
        expect(JSON.stringify(entry)).not.toContain(token);
      }
    });

    it('holds no secret, ciphertext, hash, value or token in any column of any entry', async () => {
      // Exercise the secrets once more through every path that audits.
      for (const key of ['aud_secret', 'fc_secret']) await sdkRead(key, a.service).expect(200);
      await as(api().get('/api/sdk/configs'), a.service).expect(200);
      for (const row of await rawRows<{ ciphertext: string | null }>(t, 'SELECT ciphertext FROM configs WHERE ciphertext IS NOT NULL')) ciphertexts.push(row.ciphertext!);

      const needles = new Map<string, string>();
      for (const s of secrets) for (const f of leakForms(s)) needles.set(f, `secret ${s.slice(0, 6)}…`);
      for (const c of ciphertexts) {
        needles.set(c, 'ciphertext');
        needles.set(c.slice(10, 50), 'ciphertext fragment');
      }
      for (const tok of tokens) for (const f of leakForms(tok)) needles.set(f, 'token');
      for (const v of plainValues) needles.set(v, 'config value');
      expect(secrets.length).toBeGreaterThanOrEqual(5);
      expect(tokens.length).toBeGreaterThanOrEqual(9);

      const { rows, leaks } = await auditLeaks(t, needles);
      expect(rows).toBeGreaterThan(50);
      expect(leaks).toEqual([]);
    });
  });
});

/** A second, independent connection to the test database: it sees only what is committed. */
async function openObserver(t: TestApp): Promise<{ count(requestId: string): Promise<number>; close(): Promise<void> }> {
  if (t.dataSource.options.type === 'better-sqlite3') {
    // better-sqlite3 ships no types here; this is the little of it the observer uses.
    type ReadOnlyDb = { prepare(sql: string): { get(...params: unknown[]): unknown }; close(): void };
    const Database = require('better-sqlite3') as new (path: string, options: { readonly: boolean; fileMustExist: boolean }) => ReadOnlyDb;
    const db = new Database(t.db.url.slice('sqlite:'.length), { readonly: true, fileMustExist: true });
    const stmt = db.prepare('SELECT COUNT(*) AS n FROM audit_entries WHERE request_id = ?');
    return {
      count: async (requestId) => Number((stmt.get(requestId) as { n: number }).n),
      close: async () => void db.close(),
    };
  }
  const mysql = await import('mysql2/promise');
  const conn = await mysql.createConnection(t.db.url);
  return {
    count: async (requestId) => {
      // A fresh snapshot for each look.
      await conn.query('COMMIT');
      const [rows] = await conn.query('SELECT COUNT(*) AS n FROM audit_entries WHERE request_id = ?', [requestId]);
      return Number((rows as { n: number }[])[0].n);
    },
    close: () => conn.end(),
  };
}
