import { gzipSync } from 'node:zlib';
import { rawCount } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

/**
 * Issue 15: `GET /api/tokens` and `GET /api/orgs` page as every other list (`limit` 1-500,
 * `cursor`), a `limit` out of range is a 400 `INVALID_LIMIT` on every list rather than ignored, and
 * a compressed request body is a 415 `UNSUPPORTED_ENCODING` rather than bytes read as JSON.
 */
const DB = onMysql ? 'MariaDB' : 'SQLite';

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

describe(`lists page alike; bodies are not compressed (${DB})`, () => {
  let t: TestApp;
  let admin: Record<string, string>;
  let acme: Awaited<ReturnType<typeof seedOrg>>;

  beforeAll(async () => {
    t = await startApp();
    admin = bearer(t.adminToken);
    acme = await seedOrg(t, 'acme');
    // Names that sort apart from their creation order, and byte-wise: upper case before lower case.
    for (const name of ['zeta', 'Beta', 'alpha', 'mu', 'Émile']) await t.http().post('/api/orgs').set(admin).send({ name }).expect(201);
    for (let i = 0; i < 5; i++) await t.http().post('/api/tokens').set(admin).send({ name: `member-${i}`, role: 'member', orgId: acme.org.id }).expect(201);
  });
  afterAll(async () => t?.close());

  /** Every page of a list, `limit` at a time, with each page's size. */
  async function walk<T>(path: string, auth: Record<string, string>, limit: number): Promise<{ items: T[]; sizes: number[] }> {
    const items: T[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const query: Record<string, string> = { limit: String(limit), ...(cursor ? { cursor } : {}) };
      const page = (await t.http().get(path).query(query).set(auth).expect(200)).body as Page<T>;
      items.push(...page.items);
      sizes.push(page.items.length);
      cursor = page.nextCursor;
      expect(sizes.length).toBeLessThan(100);
    } while (cursor);
    return { items, sizes };
  }

  it('pages GET /api/orgs by name: every org once, in order, limit at a time', async () => {
    const all = (await t.http().get('/api/orgs').set(admin).expect(200)).body as Page<{ name: string }>;
    expect(all.nextCursor).toBeNull();
    expect(all.items.map((o) => o.name)).toEqual(['Beta', 'acme', 'alpha', 'mu', 'zeta', 'Émile']);
    const paged = await walk<{ name: string }>('/api/orgs', admin, 2);
    expect(paged.items.map((o) => o.name)).toEqual(all.items.map((o) => o.name));
    expect(paged.sizes).toEqual([2, 2, 2]);
    // Others see their own org, paged alike.
    expect((await walk<{ id: string }>('/api/orgs', bearer(acme.member), 1)).items.map((o) => o.id)).toEqual([acme.org.id]);
  });

  it('pages GET /api/tokens oldest first: every token once, limit at a time, for admin and org_admin', async () => {
    const all = (await t.http().get('/api/tokens').set(admin).expect(200)).body as Page<{ id: string; orgId: string | null }>;
    expect(all.items).toHaveLength(await rawCount(t, 'api_tokens'));
    expect(all.items.length).toBe(1 + 3 + 5); // bootstrap admin, acme's three, five members
    const paged = await walk<{ id: string }>('/api/tokens', admin, 4);
    expect(paged.items.map((x) => x.id)).toEqual(all.items.map((x) => x.id));
    expect(paged.sizes).toEqual([4, 4, 1]);
    const mine = await walk<{ id: string; orgId: string }>('/api/tokens', bearer(acme.orgAdmin), 3);
    expect(mine.items.map((x) => x.id)).toEqual(all.items.filter((x) => x.orgId === acme.org.id).map((x) => x.id));
    expect(mine.sizes).toEqual([3, 3, 2]);
  });

  it.each(['/api/tokens', '/api/orgs', '/api/audit', `/api/scopes/global/configs`, '/api/executions'])('refuses a limit out of range on %s: 400 INVALID_LIMIT', async (path) => {
    for (const limit of ['0', '-1', '501', '1.5', 'ten', '']) {
      const res = await t.http().get(path).query({ limit }).set(admin);
      expect({ limit, status: res.status, code: res.body.code }).toEqual({ limit, status: 400, code: 'INVALID_LIMIT' });
    }
    await t.http().get(path).query({ limit: '500' }).set(admin).expect(200);
  });

  it.each(['/api/tokens', '/api/orgs'])('refuses a cursor it did not issue on %s: 400 INVALID_CURSOR, never echoed', async (path) => {
    for (const cursor of ['not-a-cursor', Buffer.from('k:some_key').toString('base64url'), Buffer.from('t:yesterday|x').toString('base64url'), '%%%']) {
      const res = await t.http().get(path).query({ cursor }).set(admin);
      expect({ cursor, status: res.status, code: res.body.code }).toEqual({ cursor, status: 400, code: 'INVALID_CURSOR' });
      expect(res.text).not.toContain(cursor);
    }
    const res = await t.http().get(path).query({ sort: 'name' }).set(admin);
    expect({ status: res.status, code: res.body.code }).toEqual({ status: 400, code: 'VALIDATION_FAILED' });
  });

  it('refuses a compressed body with 415 UNSUPPORTED_ENCODING and writes nothing, on every JSON route', async () => {
    const body = gzipSync(JSON.stringify({ type: 'string', value: 'compressed' }));
    const put = await t.http().put('/api/scopes/global/configs/zipped').set(admin).set('Content-Type', 'application/json').set('Content-Encoding', 'gzip').send(body);
    expect({ status: put.status, code: put.body.code }).toEqual({ status: 415, code: 'UNSUPPORTED_ENCODING' });
    const sdk = await t.http().put('/api/sdk/configs/zipped').set(bearer(acme.service)).set('Content-Type', 'application/json').set('Content-Encoding', 'deflate').send(gzipSync('{"value":1}'));
    expect({ status: sdk.status, code: sdk.body.code }).toEqual({ status: 415, code: 'UNSUPPORTED_ENCODING' });
    expect(await rawCount(t, 'configs')).toBe(0);
    // `identity` is no encoding.
    await t.http().put('/api/scopes/global/configs/plain').set(admin).set('Content-Encoding', 'identity').send({ type: 'string', value: 'plain' }).expect(201);
  });

  it('refuses, on every list, a cursor of another list, its own with a stray character, or a repeated one', async () => {
    for (const key of ['pg_one', 'pg_two']) await t.http().put(`/api/scopes/global/configs/${key}`).set(admin).send({ type: 'string', value: 'v' }).expect(201);
    for (let i = 0; i < 2; i++) await t.http().post('/api/executions').set(bearer(acme.service)).send({ workflow: `wf-${i}` }).expect(201);
    const lists = ['/api/tokens', '/api/orgs', '/api/audit', '/api/scopes/global/configs', '/api/executions'];
    const issued = new Map<string, string>();
    for (const path of lists) {
      const page = (await t.http().get(path).query({ limit: '1' }).set(admin).expect(200)).body as Page<unknown>;
      expect({ path, next: typeof page.nextCursor }).toEqual({ path, next: 'string' });
      issued.set(path, page.nextCursor as string);
      await t.http().get(path).query({ limit: '1', cursor: page.nextCursor as string }).set(admin).expect(200);
    }
    for (const path of lists) {
      const own = issued.get(path) as string;
      const bad = [...lists.filter((p) => p !== path).map((p) => issued.get(p) as string), `${own}=`, `${own}%`, `${own}.`, 'A'.repeat(1025)];
      for (const cursor of bad) {
        const res = await t.http().get(path).query({ cursor }).set(admin);
        expect({ path, cursor, status: res.status, code: res.body.code }).toEqual({ path, cursor, status: 400, code: 'INVALID_CURSOR' });
      }
      const twice = await t.http().get(`${path}?limit=1&limit=2`).set(admin);
      expect({ path, status: twice.status, code: twice.body.code }).toEqual({ path, status: 400, code: 'VALIDATION_FAILED' });
    }
  });
});
