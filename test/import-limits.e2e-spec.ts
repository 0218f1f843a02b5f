import { ClientRequest, request as httpRequest } from 'node:http';
import { MAX_IMPORTS, MAX_IMPORTS_PER_PRINCIPAL } from '../src/export/import-body';
import { rawCount, rawHttp } from './helpers/raw-db';
import { bearer, seedOrg, startApp, TestApp } from './helpers/test-app';

/**
 * Issue 12, item 8 (the import spool): concurrent imports are capped per token (429
 * TOO_MANY_IMPORTS) and in all (503 IMPORTS_BUSY), both with Retry-After, so one caller cannot take
 * the temp disk. Uploads here are held open half-sent, as a slow client would.
 */
type Reply = { status: number; headers: Record<string, string | string[] | undefined>; body: Record<string, unknown> };

const HEAD = '{"format":"bifrost-config-bundle","version":1,"configs":[';
const rowsOf = (tag: string) => [1, 2].map((i) => JSON.stringify({ scope: 'global', key: `${tag}_${i}`, type: 'string', value: 'v' })).join(',') + ']}';
/**
 * Over the 8 MiB kept in memory, so an upload held open past this is being spooled to disk; and over
 * what loopback socket buffers can hold (a few MiB each way), so once its write has been flushed the
 * server is reading the body: its handler has run and its slot is taken.
 */
const PAD = ' '.repeat(24 * 1024 * 1024);

describe('concurrent imports (issue 12, item 8)', () => {
  let t: TestApp;
  const tokens: Record<string, string> = {};
  const open: ClientRequest[] = [];

  beforeAll(async () => {
    t = await startApp({ listen: true });
    tokens.admin = t.adminToken;
    for (const name of ['acme', 'globex', 'initech']) tokens[name] = (await seedOrg(t, name)).orgAdmin;
  });
  afterAll(async () => {
    for (const req of open) req.destroy();
    await t?.close();
  });

  const scopeFor = async (who: string) => {
    if (who === 'admin') return '"global"';
    const orgs = (await t.http().get('/api/orgs').set(bearer(tokens[who])).expect(200)).body.items as { name: string }[];
    return JSON.stringify({ org: orgs[0].name });
  };

  const bundleRows = async (who: string, tag: string) => rowsOf(tag).replace(/"scope":"global"/g, `"scope":${await scopeFor(who)}`);

  /** An import whose body is sent half now (padded over the in-memory limit) and the rest on finish(). */
  const slowUpload = async (who: string, tag: string) => {
    const rest = await bundleRows(who, tag);
    const url = new URL(t.baseUrl);
    let settle!: (r: Reply) => void;
    let fail!: (e: Error) => void;
    const done = new Promise<Reply>((res, rej) => ((settle = res), (fail = rej)));
    const req = httpRequest({ host: url.hostname, port: url.port, method: 'POST', path: '/api/import?dryRun=true', headers: { ...bearer(tokens[who]), 'Content-Type': 'application/json' } }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (c: Buffer) => parts.push(c));
      res.on('end', () => settle({ status: res.statusCode ?? 0, headers: res.headers, body: JSON.parse(Buffer.concat(parts).toString('utf8') || '{}') }));
    });
    req.on('error', fail);
    open.push(req);
    // Wait until the server holds this upload's slot (or has refused it), so that the next request,
    // a probe included, cannot overtake it: the order of arrival is the order of the calls here.
    await Promise.race([new Promise((r) => req.write(HEAD + PAD, r)), done.catch(() => undefined)]);
    return {
      finish: () => {
        req.end(rest);
        return done;
      },
      abort: () => {
        done.catch(() => undefined);
        req.destroy();
      },
    };
  };

  const quickImport = async (who: string, tag: string): Promise<Reply> =>
    rawHttp(t.baseUrl, 'POST', '/api/import?dryRun=true', bearer(tokens[who]), HEAD + (await bundleRows(who, tag)));

  /** Repeats a quick import until it answers `status` (the held uploads reach the server meanwhile). */
  const until = async (who: string, status: number, meanwhile = 200): Promise<Reply> => {
    let last: Reply | undefined;
    for (let i = 0; i < 200; i++) {
      last = await quickImport(who, `probe${i}`);
      if (last.status === status) return last;
      expect(last.status).toBe(meanwhile);
      await new Promise((r) => setTimeout(r, 25));
    }
    return last!;
  };

  it('refuses a third import of one token (429 TOO_MANY_IMPORTS) and any import once all slots are taken (503 IMPORTS_BUSY), with Retry-After', async () => {
    expect([MAX_IMPORTS_PER_PRINCIPAL, MAX_IMPORTS]).toEqual([2, 4]);
    const before = await rawCount(t, 'configs');
    const a1 = await slowUpload('admin', 'a1');
    const a2 = await slowUpload('admin', 'a2');
    const mine = await until('admin', 429);
    expect(mine.status).toBe(429);
    expect(mine.body.code).toBe('TOO_MANY_IMPORTS');
    expect(Number(mine.headers['retry-after'])).toBeGreaterThan(0);

    // Another token is not held up by the first one's imports.
    const b1 = await slowUpload('acme', 'b1');
    const b2 = await slowUpload('acme', 'b2');
    const busy = await until('globex', 503);
    expect(busy.status).toBe(503);
    expect(busy.body.code).toBe('IMPORTS_BUSY');
    expect(Number(busy.headers['retry-after'])).toBeGreaterThan(0);
    // Over its own cap, a token hears that first.
    expect((await quickImport('acme', 'b3')).body.code).toBe('TOO_MANY_IMPORTS');

    // The held uploads complete normally, each giving its slot back before it is answered.
    const done = await a1.finish();
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ created: 2, errors: [] });
    expect((await quickImport('globex', 'g1')).status).toBe(200);

    // A client that goes away gives its slot back too: fill the slots again (a2, b1, b2, g2), then
    // drop a2 and another token gets in.
    const g2 = await slowUpload('globex', 'g2');
    expect((await until('initech', 503)).body.code).toBe('IMPORTS_BUSY');
    a2.abort();
    expect((await until('initech', 200, 503)).status).toBe(200);

    for (const u of [b1, b2, g2]) expect((await u.finish()).status).toBe(200);
    // Every slot is free again: four at once are accepted.
    const four = await Promise.all(['admin', 'acme', 'globex', 'initech'].map((who) => quickImport(who, `end_${who}`)));
    expect(four.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    // Dry runs all: nothing was written.
    expect(await rawCount(t, 'configs')).toBe(before);
  }, 120_000);
});
