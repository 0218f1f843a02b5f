import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

/**
 * Issue 16: the read every workflow makes (the SDK read naming its running execution with
 * X-Bifrost-Execution) asks the database one SELECT, as the bare read does: the execution's org and
 * secret count come in the read's own statement, and the registration and the response's scrubber
 * use them instead of asking again (they asked three more times). Counted at the driver.
 */
type Patched = { prototype: Record<string, (...args: unknown[]) => unknown> };

/** Every SQL text sent to the database while `work` runs. */
async function statementsOf(work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
   
  const targets: [Patched, string[]][] = onMysql
    ? [[require(join(dirname(require.resolve('mysql2')), 'lib', 'base', 'connection.js')) as Patched, ['query', 'execute']]]
    : [[require('typeorm/driver/better-sqlite3/BetterSqlite3QueryRunner').BetterSqlite3QueryRunner as Patched, ['query']]];
   
  const originals: [Patched, string, (...args: unknown[]) => unknown][] = [];
  for (const [cls, methods] of targets) {
    for (const method of methods) {
      const original = cls.prototype[method];
      originals.push([cls, method, original]);
      cls.prototype[method] = function (this: unknown, ...args: unknown[]) {
        const first = args[0] as string | { sql?: string };
        seen.push(typeof first === 'string' ? first : String(first?.sql ?? ''));
        return original.apply(this, args);
      };
    }
  }
  try {
    await work();
  } finally {
    for (const [cls, method, original] of originals) cls.prototype[method] = original;
  }
  return seen;
}

const selects = (sql: string[]) => sql.filter((s) => /^\s*(\(\s*)?SELECT/i.test(s));

describe(`the workflow's read asks one SELECT (issue 16)${onMysql ? ' (mysql)' : ' (sqlite)'}`, () => {
  let t: TestApp;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  let executionId: string;
  const value = `sk_live_${randomBytes(12).toString('hex')}`;

  beforeAll(async () => {
    t = await startApp({ listen: true });
    org = await seedOrg(t, 'wf');
    await t.http().put(`/api/scopes/${org.org.id}/configs/api_key`).set(bearer(t.adminToken)).send({ type: 'secret', value }).expect(201);
    await t.http().put(`/api/scopes/${org.org.id}/configs/plain`).set(bearer(t.adminToken)).send({ type: 'string', value: `says ${value}`, allowSecretLikeValue: true }).expect(201);
    executionId = (await t.http().post('/api/executions').set(bearer(org.service)).send({ workflow: 'charge_card' }).expect(201)).body.id;
  });
  afterAll(async () => t?.close());

  const read = (key: string, headers: Record<string, string> = {}) => t.http().get(`/api/sdk/configs/${key}`).set(bearer(org.service)).set(headers);

  it('a secret read naming a running execution that registered it: one SELECT, as the bare read', async () => {
    const inRun = { 'X-Bifrost-Execution': executionId };
    // First read: registers the secret (a transaction of its own).
    expect((await read('api_key', inRun).expect(200)).body.value).toBe(value);
    // Warm both paths once more, then count.
    await read('api_key').expect(200);
    await read('api_key', inRun).expect(200);
    const bare = selects(await statementsOf(() => read('api_key').expect(200)));
    const named = selects(await statementsOf(() => read('api_key', inRun).expect(200)));
    expect(bare).toEqual([expect.stringMatching(/LEFT JOIN configs/)]);
    expect(named).toHaveLength(1);
    // A plain config read in the run (its answer scrubbed with the run's secrets but for the value), still one SELECT.
    expect(selects(await statementsOf(() => read('plain', inRun).expect(200)))).toHaveLength(1);
  });

  it("the read with the execution token (issue 17): one SELECT too, the execution's status read in it", async () => {
    const started = (await t.http().post('/api/executions').set(bearer(org.service)).send({ workflow: 'charge_card' }).expect(201)).body;
    const withToken = () => t.http().get('/api/sdk/configs/api_key').set(bearer(started.token));
    expect((await withToken().expect(200)).body.value).toBe(value);
    await withToken().expect(200);
    const sql = selects(await statementsOf(() => withToken().expect(200)));
    expect(sql).toHaveLength(1);
    expect(sql[0]).toMatch(/SELECT te\.status FROM executions te WHERE te\.id = t\.execution_id/);
  });

  it('naming an execution of another org still fails as before (404), and nothing is registered with it', async () => {
    const other = await seedOrg(t, 'wf-other');
    const theirs = (await t.http().post('/api/executions').set(bearer(other.service)).send({ workflow: 'x' }).expect(201)).body.id;
    const res = await read('api_key', { 'X-Bifrost-Execution': theirs }).expect(404);
    expect(res.text).not.toContain(value);
    const record = await t.http().get(`/api/executions/${theirs}`).set(bearer(other.service)).expect(200);
    expect(record.body.status).toBe('running');
  });
});
