import { Logger } from '@nestjs/common';
import request from 'supertest';
import { CryptoService } from '../src/crypto/crypto.service';
import { decodeExecutionSecret } from '../src/executions/execution.entity';
import { SecretRegistry } from '../src/scrubber/secret-registry';
import { rawCount, rawRows } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

type Seeded = Awaited<ReturnType<typeof seedOrg>>;

const REDACTED = '[REDACTED]';

// Secrets whose forms all differ from the raw text: URL (+ / = & space), HTML (& < > " '), JSON (" \ and
// a control character), non-ASCII (base64 and \uXXXX), and a multi-line PEM-like one.
const ORG_SECRET = `sk_live_Org+Sécret/Val=42&x<y>"q'\\end tab\there`;
const GLOBAL_SECRET = 'gl0bal-Secret-Token-1234567890';
const MULTILINE_SECRET = '-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA1x2y3zQW\nERTYUIOPasdfghjklZXCVB\n-----END KEY-----';
const DYNAMIC_SECRET = 'ya29.dynamic-oauth+token/XYZ987==';
const LATE_SECRET = 'late-registered-token-ABCDEF123';
const SDK_SECRET = 'sdk-read-secret-PLAIN-5555';

/** The base64 characters determined by `bytes` alone at byte `offset` of a longer base64 text. */
function base64Run(bytes: Buffer, offset: number): string {
  const text = Buffer.concat([Buffer.alloc(offset, 0x41), bytes, Buffer.alloc(3, 0x41)]).toString('base64');
  return text.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
}

const htmlEscape = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

/** Each encoded form of a secret that a workflow might leak, by name. */
function encodedForms(secret: string): Record<string, string> {
  const bytes = Buffer.from(secret, 'utf8');
  const forms: Record<string, string> = {
    raw: secret,
    json: JSON.stringify(secret).slice(1, -1),
    url: encodeURIComponent(secret),
    urlForm: new URLSearchParams({ v: secret }).toString().slice(2),
    base64: bytes.toString('base64'),
    base64url: bytes.toString('base64url'),
    html: htmlEscape(secret),
    // The secret inside a longer base64 text, at byte offsets 1 and 2.
    base64At1: Buffer.concat([Buffer.from('a'), bytes, Buffer.from('tail')]).toString('base64'),
    base64At2: Buffer.concat([Buffer.from('ab'), bytes, Buffer.from('tail')]).toString('base64'),
  };
  const lines = secret.split('\n').map((l) => l.trim()).filter((l) => l.length >= 4);
  if (lines.length > 1) lines.forEach((line, i) => (forms[`line${i}`] = line));
  return forms;
}

/** What must never appear: every form of every secret, the determined base64 runs included. */
function probesOf(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = encodedForms(secret);
  delete forms.base64At1;
  delete forms.base64At2;
  const probes = new Set(Object.values(forms));
  for (const offset of [0, 1, 2]) {
    const run = base64Run(bytes, offset);
    probes.add(run);
    probes.add(run.replace(/\+/g, '-').replace(/\//g, '_'));
  }
  if (secret.includes('\n')) for (const line of secret.split('\n')) if (line.trim().length >= 4) for (const p of probesOf(line.trim())) probes.add(p);
  return [...probes].filter((p) => p.length >= 4);
}

const ALL_SECRETS = [ORG_SECRET, GLOBAL_SECRET, MULTILINE_SECRET, DYNAMIC_SECRET, LATE_SECRET, SDK_SECRET];
const PROBES = ALL_SECRETS.map((s) => [s, probesOf(s)] as const);

/** Fails with the secret and the form that leaked. */
function expectNoSecret(text: string, where: string, secrets: readonly string[] = ALL_SECRETS): void {
  for (const [secret, probes] of PROBES) {
    if (!secrets.includes(secret)) continue;
    for (const probe of probes) {
      if (text.includes(probe)) throw new Error(`${where}: leaks ${JSON.stringify(probe)} (a form of ${JSON.stringify(secret.slice(0, 12))}...)`);
    }
  }
}


describe(`scrubber and executions (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let acme: Seeded;
  let other: Seeded;
  let admin: Record<string, string>;
  const api = () => request(t.app.getHttpServer());

  /** Every response of this suite is checked, whatever the test asserts besides. */
  const checked = async (req: request.Test, where: string, secrets?: readonly string[]) => {
    const res = await req;
    expectNoSecret(res.text ?? '', where, secrets);
    expectNoSecret(JSON.stringify(res.headers), `${where} (headers)`, secrets);
    return res;
  };

  const putConfig = (scope: string, key: string, body: object, token = t.adminToken) =>
    checked(api().put(`/api/scopes/${scope}/configs/${key}`).set(bearer(token)).send(body), `PUT ${key}`);

  const startExecution = async (service = acme.service, workflow = 'charge_card') => {
    const res = await checked(api().post('/api/executions').set(bearer(service)).send({ workflow }), 'POST /api/executions');
    expect(res.status).toBe(201);
    return res.body as { id: string; orgId: string; workflow: string; status: string };
  };

  beforeAll(async () => {
    t = await startApp();
    admin = bearer(t.adminToken);
    acme = await seedOrg(t, 'scrub-acme');
    other = await seedOrg(t, 'scrub-other');
    expect((await putConfig('global', 'global_token', { type: 'secret', value: GLOBAL_SECRET })).status).toBe(201);
    expect((await putConfig(acme.org.id, 'stripe_key', { type: 'secret', value: ORG_SECRET }, acme.orgAdmin)).status).toBe(201);
    expect((await putConfig(acme.org.id, 'tls_key', { type: 'secret', value: MULTILINE_SECRET }, acme.orgAdmin)).status).toBe(201);
  });
  afterAll(async () => t?.close());

  describe('a workflow that logs, returns and fails with secrets in every form', () => {
    let execution: { id: string };
    const written: string[] = [];

    beforeAll(async () => {
      execution = await startExecution();
      await checked(api().post(`/api/executions/${execution.id}/secrets`).set(bearer(acme.service)).send({ values: [DYNAMIC_SECRET] }), 'POST secrets').then((r) =>
        expect(r.status).toBe(204),
      );
      const lines: { level: string; message: string }[] = [];
      for (const secret of [ORG_SECRET, GLOBAL_SECRET, MULTILINE_SECRET, DYNAMIC_SECRET]) {
        for (const [form, text] of Object.entries(encodedForms(secret))) {
          lines.push({ level: 'info', message: `${form}: before ${text} after` });
          written.push(text);
        }
      }
      lines.push({ level: 'error', message: `all at once: ${ORG_SECRET}${GLOBAL_SECRET}|${DYNAMIC_SECRET}` });
      const res = await checked(api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.service)).send({ lines }), 'POST logs');
      expect(res.status).toBe(204);
    });

    it('stores every log line scrubbed, in order, each with a redaction', async () => {
      const rows = await rawRows<{ level: string; message: string }>(t, 'SELECT level, message FROM execution_logs WHERE execution_id = ? ORDER BY id', [execution.id]);
      expect(rows.length).toBe(written.length + 1);
      for (const row of rows) {
        expectNoSecret(row.message, `stored log ${row.message.slice(0, 20)}`);
        expect(row.message).toContain(REDACTED);
      }
      // The raw, JSON, URL, base64 and HTML forms are replaced whole, leaving the text around them.
      expect(rows[0].message).toBe(`raw: before ${REDACTED} after`);
      expect(rows.filter((r) => /^(raw|json|url|urlForm|base64|base64url|html): before \[REDACTED\] after$/.test(r.message)).length).toBe(4 * 7);
      expect(rows[rows.length - 1]).toEqual({ level: 'error', message: `all at once: ${REDACTED}|${REDACTED}` });
    });

    it('stores the result and the error scrubbed, object keys included, and answers the finish scrubbed', async () => {
      const result = {
        charged: true,
        token: ORG_SECRET,
        [GLOBAL_SECRET]: 'a key that is a secret',
        nested: [{ deep: [`Bearer ${DYNAMIC_SECRET}`, encodedForms(ORG_SECRET).base64At2] }, encodedForms(MULTILINE_SECRET)],
        url: `https://api.example.com/?key=${encodeURIComponent(ORG_SECRET)}`,
      };
      const error = { name: 'CardDeclined', message: `declined for ${ORG_SECRET} with ${encodedForms(GLOBAL_SECRET).base64url}` };
      const res = await checked(api().post(`/api/executions/${execution.id}/finish`).set(bearer(acme.service)).send({ status: 'failed', result, error }), 'POST finish');
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ id: execution.id, status: 'failed', result: { charged: true, token: REDACTED, [REDACTED]: 'a key that is a secret' } });
      expect(res.body.error).toEqual({ name: 'CardDeclined', message: `declined for ${REDACTED} with ${REDACTED}` });
      expect(res.body.logs.length).toBe(written.length + 1);

      const [row] = await rawRows<{ status: string; result: string; error: string; workflow: string }>(t, 'SELECT status, result, error, workflow FROM executions WHERE id = ?', [execution.id]);
      expect(row.status).toBe('failed');
      expectNoSecret(row.result, 'stored result');
      expectNoSecret(row.error, 'stored error');
      expect(JSON.parse(row.result).url).toBe(`https://api.example.com/?key=${REDACTED}`);
    });

    it('answers GET scrubbed to the org’s service token, member and org_admin, and to an admin', async () => {
      for (const token of [acme.service, acme.member, acme.orgAdmin, t.adminToken]) {
        const res = await checked(api().get(`/api/executions/${execution.id}`).set(bearer(token)), 'GET execution');
        expect(res.status).toBe(200);
        expect(res.body).toMatchObject({ id: execution.id, orgId: acme.org.id, workflow: 'charge_card', status: 'failed' });
        expect(Object.keys(res.body).sort()).toEqual(['error', 'finishedAt', 'id', 'logs', 'orgId', 'result', 'startedAt', 'status', 'workflow']);
        expect(res.body.logs[0]).toEqual({ level: 'info', message: `raw: before ${REDACTED} after`, at: expect.any(String) });
      }
    });

    it('lists executions to an admin (every org) and to the org, never with a secret', async () => {
      const all = await checked(api().get('/api/executions').set(admin), 'GET executions (admin)');
      expect(all.status).toBe(200);
      expect(all.body.items.map((e: { id: string }) => e.id)).toContain(execution.id);
      const mine = await checked(api().get('/api/executions?limit=1').set(bearer(acme.member)), 'GET executions (member)');
      expect(mine.body.items).toHaveLength(1);
      expect(mine.body.items.every((e: { orgId: string }) => e.orgId === acme.org.id)).toBe(true);
      const theirs = await checked(api().get('/api/executions').set(bearer(other.member)), 'GET executions (other org)');
      expect(theirs.body.items.map((e: { id: string }) => e.id)).not.toContain(execution.id);
      await api().get(`/api/executions?orgId=${acme.org.id}`).set(bearer(other.member)).expect(403);
    });

    it('refuses a second finish (409) and further logs (409), storing nothing', async () => {
      const before = await rawCount(t, 'execution_logs', 'execution_id = ?', [execution.id]);
      const again = await checked(api().post(`/api/executions/${execution.id}/finish`).set(bearer(acme.service)).send({ status: 'success', result: ORG_SECRET }), 'finish again');
      expect(again.status).toBe(409);
      expect(again.body.code).toBe('EXECUTION_FINISHED');
      const late = await api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.service)).send({ lines: [{ level: 'info', message: 'late' }] });
      expect(late.status).toBe(409);
      expect(await rawCount(t, 'execution_logs', 'execution_id = ?', [execution.id])).toBe(before);
    });
  });

  describe('dynamic secrets', () => {
    it('stores them encrypted, and scrubs what was stored before they were registered', async () => {
      const execution = await startExecution();
      await api()
        .post(`/api/executions/${execution.id}/logs`)
        .set(bearer(acme.service))
        .send({ lines: [{ level: 'info', message: `got token ${LATE_SECRET}` }] })
        .expect(204);
      // Not registered yet: stored as written (nothing knew it was a secret).
      expect((await rawRows<{ message: string }>(t, 'SELECT message FROM execution_logs WHERE execution_id = ?', [execution.id]))[0].message).toContain(LATE_SECRET);

      await api().post(`/api/executions/${execution.id}/secrets`).set(bearer(acme.service)).send({ values: [LATE_SECRET, LATE_SECRET, 'abc'] }).expect(204);
      const stored = await rawRows<{ ciphertext: string }>(t, 'SELECT ciphertext FROM execution_secrets WHERE execution_id = ?', [execution.id]);
      // De-duplicated, and 'abc' (under 4 characters) is not a secret by rule.
      expect(stored).toHaveLength(1);
      expect(stored[0].ciphertext).not.toContain(LATE_SECRET);
      expect(decodeExecutionSecret(t.app.get(CryptoService).decryptString(stored[0].ciphertext))).toBe(LATE_SECRET);
      expect((await rawRows<{ message: string }>(t, 'SELECT message FROM execution_logs WHERE execution_id = ?', [execution.id]))[0].message).toBe(`got token ${REDACTED}`);

      await api()
        .post(`/api/executions/${execution.id}/logs`)
        .set(bearer(acme.service))
        .send({ lines: [{ level: 'info', message: `again ${Buffer.from(LATE_SECRET).toString('base64')}` }] })
        .expect(204);
      const res = await checked(api().get(`/api/executions/${execution.id}`).set(bearer(acme.member)), 'GET execution');
      expect(res.body.logs.map((l: { message: string }) => l.message)).toEqual([`got token ${REDACTED}`, `again ${REDACTED}`]);
    });

    it('accepts any string as a dynamic secret, one with a lone surrogate too, and scrubs it', async () => {
      const execution = await startExecution();
      const lone = 'lone\ud800surrogate-secret';
      await api()
        .post(`/api/executions/${execution.id}/secrets`)
        .set(bearer(acme.service))
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ values: [lone] }))
        .expect(204);
      await api()
        .post(`/api/executions/${execution.id}/logs`)
        .set(bearer(acme.service))
        .set('Content-Type', 'application/json')
        .send(JSON.stringify({ lines: [{ level: 'info', message: `x ${lone} y` }] }))
        .expect(204);
      const [row] = await rawRows<{ message: string }>(t, 'SELECT message FROM execution_logs WHERE execution_id = ?', [execution.id]);
      expect(row.message).toBe(`x ${REDACTED} y`);
    });

    it('scrubs an execution’s dynamic secrets from any response that names it in X-Bifrost-Execution', async () => {
      const execution = await startExecution();
      const secret = 'named-execution-secret-QWERTY';
      await api().post(`/api/executions/${execution.id}/secrets`).set(bearer(acme.service)).send({ values: [secret] }).expect(204);
      await api().put('/api/sdk/configs/echo').set(bearer(acme.service)).send({ value: `echo ${secret}` }).expect(204);
      const plain = await api().get('/api/sdk/configs').set(bearer(acme.service)).expect(200);
      expect(plain.body.echo).toBe(`echo ${secret}`);
      const named = await api().get('/api/sdk/configs').set(bearer(acme.service)).set('X-Bifrost-Execution', execution.id).expect(200);
      expect(named.body.echo).toBe(`echo ${REDACTED}`);
      // Another org naming the execution gets nothing of its secrets (no oracle either way).
      await api().put('/api/sdk/configs/echo').set(bearer(other.service)).send({ value: `echo ${secret}` }).expect(204);
      const foreign = await api().get('/api/sdk/configs').set(bearer(other.service)).set('X-Bifrost-Execution', execution.id).expect(200);
      expect(foreign.body.echo).toBe(`echo ${secret}`);
    });
  });

  describe('an SDK read of a secret during an execution', () => {
    it('returns the plaintext value, registers the secret with the execution, and keeps it scrubbed after the config changes', async () => {
      await putConfig(acme.org.id, 'sdk_token', { type: 'secret', value: SDK_SECRET }, acme.orgAdmin);
      const execution = await startExecution();
      const read = await api().get('/api/sdk/configs/sdk_token').set(bearer(acme.service)).set('X-Bifrost-Execution', execution.id);
      expect(read.status).toBe(200);
      expect(read.body).toEqual({ key: 'sdk_token', type: 'secret', value: SDK_SECRET, source: 'org' });
      const stored = await rawRows<{ ciphertext: string }>(t, 'SELECT ciphertext FROM execution_secrets WHERE execution_id = ?', [execution.id]);
      expect(stored.map((r) => decodeExecutionSecret(t.app.get(CryptoService).decryptString(r.ciphertext)))).toEqual([SDK_SECRET]);
      // Reading it again registers nothing new.
      await api().get('/api/sdk/configs/sdk_token').set(bearer(acme.service)).set('X-Bifrost-Execution', execution.id).expect(200);
      expect(await rawCount(t, 'execution_secrets', 'execution_id = ?', [execution.id])).toBe(1);

      // The config secret is rotated: the old value is no longer the org's, but the execution saw it.
      await putConfig(acme.org.id, 'sdk_token', { type: 'secret', value: 'a-completely-new-value-000' }, acme.orgAdmin);
      await api()
        .post(`/api/executions/${execution.id}/logs`)
        .set(bearer(acme.service))
        .send({ lines: [{ level: 'debug', message: `old value ${SDK_SECRET}` }] })
        .expect(204);
      const [row] = await rawRows<{ message: string }>(t, 'SELECT message FROM execution_logs WHERE execution_id = ?', [execution.id]);
      expect(row.message).toBe(`old value ${REDACTED}`);
    });

    it('answers 404 EXECUTION_NOT_FOUND for an unknown execution or another org’s, registering nothing', async () => {
      const theirs = await startExecution(other.service);
      for (const id of ['00000000-0000-4000-8000-000000000000', theirs.id, 'not-an-id']) {
        const res = await checked(api().get('/api/sdk/configs/stripe_key').set(bearer(acme.service)).set('X-Bifrost-Execution', id), 'SDK read, bad execution');
        expect(res.status).toBe(404);
        expect(res.body.code).toBe('EXECUTION_NOT_FOUND');
      }
      expect(await rawCount(t, 'execution_secrets', 'execution_id = ?', [theirs.id])).toBe(0);
    });
  });

  describe('every response is scrubbed', () => {
    it('never shows a secret to an admin listing configs, even inside non-secret values and keys', async () => {
      // A credential in a plain value is refused unless meant (LOOKS_LIKE_A_SECRET): here it is the point.
      await putConfig(acme.org.id, 'dsn', { type: 'string', value: `postgres://app:${encodeURIComponent(ORG_SECRET)}@db/app`, allowSecretLikeValue: true }, acme.orgAdmin);
      await putConfig(acme.org.id, 'blob', { type: 'json', value: { [ORG_SECRET]: [GLOBAL_SECRET, { b64: Buffer.from(ORG_SECRET).toString('base64') }] } }, acme.orgAdmin);
      await putConfig('global', 'banner', { type: 'string', value: `global says ${GLOBAL_SECRET}` });

      const list = await checked(api().get(`/api/scopes/${acme.org.id}/configs`).set(admin), 'admin list');
      expect(list.status).toBe(200);
      const dsn = list.body.items.find((c: { key: string }) => c.key === 'dsn');
      expect(dsn.value).toBe(`postgres://app:${REDACTED}@db/app`);
      const blob = list.body.items.find((c: { key: string }) => c.key === 'blob');
      expect(blob.value).toEqual({ [REDACTED]: [REDACTED, { b64: REDACTED }] });
      for (const c of list.body.items.filter((i: { type: string }) => i.type === 'secret')) expect(c.value).toBe('••••••');

      await checked(api().get('/api/scopes/global/configs').set(admin), 'admin global list');
      await checked(api().get(`/api/orgs/${acme.org.id}/effective-configs`).set(admin), 'effective configs');
      await checked(api().get(`/api/scopes/${acme.org.id}/configs/blob`).set(bearer(acme.member)), 'member read');
      await checked(api().get('/api/sdk/configs').set(bearer(acme.service)), 'SDK list');
      await checked(api().get('/api/audit').set(admin), 'audit');
      // The SDK read's value is the one field exempt; its other fields are still scrubbed.
      const sdk = await api().get('/api/sdk/configs/dsn').set(bearer(acme.service)).expect(200);
      expect(sdk.body.value).toBe(`postgres://app:${encodeURIComponent(ORG_SECRET)}@db/app`);
    });

    it('never echoes the value of a config write that fails validation', async () => {
      const unregistered = 'sk_test_never-stored-0xDEADBEEF';
      const cases: object[] = [
        { type: 'int', value: unregistered },
        { type: 'bool', value: unregistered },
        { type: 'int', value: ORG_SECRET },
        { type: 'nope', value: unregistered },
        { type: 'json', value: { deep: unregistered, n: 1 }, description: 42 },
        { type: 'string', value: unregistered, extra: unregistered },
        { type: 'secret', value: 12345 },
      ];
      for (const body of cases) {
        const res = await checked(api().put(`/api/scopes/${acme.org.id}/configs/bad_write`).set(bearer(acme.orgAdmin)).send(body), 'bad write');
        expect(res.status).toBe(400);
        expect(res.text).not.toContain(unregistered);
        expect(res.text).not.toContain('12345');
      }
      const sdk = await checked(api().put('/api/sdk/configs/bad_sdk_write').set(bearer(acme.service)).send({ value: unregistered, isSecret: 'yes' }), 'bad SDK write');
      expect(sdk.status).toBe(400);
      expect(sdk.text).not.toContain(unregistered);
    });

    it('scrubs error bodies, including those that name a key equal to a secret', async () => {
      // A global secret whose value is also a valid key name, and an undecryptable secret under that key.
      const keylike = 'Keylike_Secret_Value_77';
      await putConfig('global', 'keylike_holder', { type: 'secret', value: keylike });
      await putConfig(acme.org.id, keylike, { type: 'secret', value: 'whatever-value' }, acme.orgAdmin);
      await t.dataSource.query('UPDATE configs SET ciphertext = ? WHERE scope = ? AND `key` = ?', ['gAAAAABnot-a-valid-token', acme.org.id, keylike]);
      const res = await api().get(`/api/sdk/configs/${keylike}`).set(bearer(acme.service));
      expect(res.status).toBe(500);
      expect(res.body.code).toBe('DECRYPTION_FAILED');
      expect(res.body.message).toContain(`'${REDACTED}'`);
      expect(res.text).not.toContain(keylike);
      await t.dataSource.query('DELETE FROM configs WHERE scope = ? AND `key` = ?', [acme.org.id, keylike]);
    });

    it('fails closed: a response that cannot be scrubbed is a 500 without the handler’s output', async () => {
      const registry = t.app.get(SecretRegistry);
      const spy = jest.spyOn(registry, 'forRequest').mockRejectedValueOnce(new Error('scrubber broke'));
      try {
        const res = await api().get(`/api/scopes/${acme.org.id}/configs`).set(admin);
        expect(res.status).toBe(500);
        expect(res.body).toEqual({ statusCode: 500, error: 'Internal Server Error', code: 'SCRUBBING_FAILED', message: expect.any(String) });
        expect(res.text).not.toContain('dsn');
      } finally {
        spy.mockRestore();
      }
    });

    it('scrubs the service’s own log lines', async () => {
      new Logger('ScrubTest').warn(`a careless line with ${ORG_SECRET} and ${encodeURIComponent(GLOBAL_SECRET)}`);
      const line = t.logLines.find((l) => l.includes('careless line'));
      expect(line).toBeDefined();
      expect(line).toContain(REDACTED);
      for (const l of t.logLines) expectNoSecret(l, 'log line');
    });
  });

  describe('executions: bad input', () => {
    it('refuses batches over 1,000 lines or 1 MiB with 413, storing nothing', async () => {
      const execution = await startExecution();
      const tooMany = Array.from({ length: 1001 }, (_, i) => ({ level: 'info', message: `line ${i}` }));
      const res = await api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.service)).send({ lines: tooMany });
      expect(res.status).toBe(413);
      expect(res.body.code).toBe('LOG_BATCH_TOO_LARGE');
      const big = Array.from({ length: 3 }, () => ({ level: 'info', message: 'x'.repeat(400 * 1024) }));
      const tooBig = await api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.service)).send({ lines: big });
      expect(tooBig.status).toBe(413);
      expect(['LOG_BATCH_TOO_LARGE', 'PAYLOAD_TOO_LARGE']).toContain(tooBig.body.code);
      expect(await rawCount(t, 'execution_logs', 'execution_id = ?', [execution.id])).toBe(0);
      await api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.service)).send({ lines: tooMany.slice(0, 1000) }).expect(204);
      expect(await rawCount(t, 'execution_logs', 'execution_id = ?', [execution.id])).toBe(1000);
    });

    it('answers 404 EXECUTION_NOT_FOUND for an unknown id or another org’s, on every route', async () => {
      const theirs = await startExecution(other.service);
      for (const id of ['00000000-0000-4000-8000-000000000000', theirs.id, 'nope']) {
        const calls = [
          api().post(`/api/executions/${id}/logs`).set(bearer(acme.service)).send({ lines: [{ level: 'info', message: 'x' }] }),
          api().post(`/api/executions/${id}/secrets`).set(bearer(acme.service)).send({ values: ['some-secret-value'] }),
          api().post(`/api/executions/${id}/finish`).set(bearer(acme.service)).send({ status: 'success' }),
          api().get(`/api/executions/${id}`).set(bearer(acme.service)),
          api().get(`/api/executions/${id}`).set(bearer(acme.member)),
        ];
        for (const call of calls) {
          const res = await call;
          expect(res.status).toBe(404);
          expect(res.body.code).toBe('EXECUTION_NOT_FOUND');
        }
      }
      expect(await rawCount(t, 'execution_logs', 'execution_id = ?', [theirs.id])).toBe(0);
      expect(await rawCount(t, 'execution_secrets', 'execution_id = ?', [theirs.id])).toBe(0);
      await api().get(`/api/executions/${theirs.id}`).set(admin).expect(200);
    });

    it('checks roles and bodies', async () => {
      await api().post('/api/executions').set(bearer(acme.member)).send({ workflow: 'w' }).expect(403);
      await api().post('/api/executions').set(admin).send({ workflow: 'w' }).expect(403);
      await api().post('/api/executions').set(bearer(acme.service)).send({ workflow: '' }).expect(400);
      const execution = await startExecution();
      await api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.member)).send({ lines: [] }).expect(403);
      await api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.service)).send({ lines: [{ level: 'info', message: 42 }] }).expect(400);
      await api().post(`/api/executions/${execution.id}/secrets`).set(bearer(acme.service)).send({ values: [42] }).expect(400);
      await api().post(`/api/executions/${execution.id}/finish`).set(bearer(acme.service)).send({ status: 'done' }).expect(400);
      const done = await api().post(`/api/executions/${execution.id}/finish`).set(bearer(acme.service)).send({ status: 'success', result: { ok: 1 } }).expect(200);
      expect(done.body).toMatchObject({ status: 'success', result: { ok: 1 }, error: null, logs: [], finishedAt: expect.any(String) });
    });

    it('lets an org-less service token act for the org in X-Bifrost-Org', async () => {
      const token = (await api().post('/api/tokens').set(admin).send({ name: 'engine', role: 'service' }).expect(201)).body.token as string;
      const created = await api().post('/api/executions').set(bearer(token)).set('X-Bifrost-Org', 'scrub-acme').send({ workflow: 'w' }).expect(201);
      expect(created.body).toMatchObject({ orgId: acme.org.id, workflow: 'w', status: 'running' });
      await api().post('/api/executions').set(bearer(token)).send({ workflow: 'w' }).expect(400);
      const read = await api().get(`/api/executions/${created.body.id}`).set(bearer(token)).set('X-Bifrost-Org', acme.org.id).expect(200);
      expect(read.body.id).toBe(created.body.id);
      await api().get(`/api/executions/${created.body.id}`).set(bearer(token)).set('X-Bifrost-Org', other.org.id).expect(404);
    });

    it('documents every executions route in the OpenAPI document', async () => {
      const doc = (await api().get('/docs-json').expect(200)).body;
      for (const path of ['/api/executions', '/api/executions/{id}', '/api/executions/{id}/logs', '/api/executions/{id}/secrets', '/api/executions/{id}/finish']) {
        expect(doc.paths[path]).toBeDefined();
      }
    });
  });

  describe('transformed forms of a registered secret (hex, quoted, wrapped base64, upper-case percent)', () => {
    const SECRET = `it's-a-$ecret "pa55" w0rd`;
    const bytes = Buffer.from(SECRET, 'utf8');
    const hex = bytes.toString('hex');
    const percentAll = [...bytes].map((b) => '%' + b.toString(16).toUpperCase().padStart(2, '0')).join('');
    const shellSingle = `'${SECRET.replace(/'/g, `'\\''`)}'`;
    const shlex = `'${SECRET.replace(/'/g, `'"'"'`)}'`;
    const shellDouble = `"${SECRET.replace(/["$`\\]/g, '\\$&')}"`;
    const sql = `'${SECRET.replace(/'/g, "''")}'`;
    /** base64 of a longer payload holding the secret at `offset`, wrapped at `width` columns with `eol`. */
    const wrapped = (offset: number, width: number, eol: string): string => {
      const b64 = Buffer.concat([Buffer.alloc(offset, 0x5a), bytes, Buffer.from('tail of the payload')]).toString('base64');
      const lines: string[] = [];
      for (let i = 0; i < b64.length; i += width) lines.push(b64.slice(i, i + width));
      return lines.join(eol);
    };
    // Offsets that put a line break inside the secret's run, at each of the three byte offsets.
    const pem = wrapped(40, 64, '\n');
    const mime = wrapped(50, 76, '\r\n');
    const pemAt2 = wrapped(35, 64, '\n');
    const run = (offset: number) => {
      const text = Buffer.concat([Buffer.alloc(offset, 0x5a), bytes, Buffer.alloc(3, 0x5a)]).toString('base64');
      return text.slice(Math.ceil((8 * offset) / 6), Math.floor((8 * (offset + bytes.length)) / 6));
    };
    const unwrap = (s: string) => s.replace(/\r\n|\n/g, '');
    /** No transformed form of SECRET (nor its base64 run, once the lines are joined) in `text`. */
    const expectClean = (text: string, where: string) => {
      for (const form of [SECRET, hex, hex.toUpperCase(), percentAll, shellSingle.slice(1, -1), shlex.slice(1, -1), shellDouble.slice(1, -1), sql.slice(1, -1)]) {
        if (text.includes(form)) throw new Error(`${where}: leaks a transformed form of the secret`);
      }
      for (const offset of [40, 50, 35]) if (unwrap(text).includes(run(offset))) throw new Error(`${where}: leaks the secret's wrapped base64`);
    };
    let execution: { id: string };

    beforeAll(async () => {
      // The wrapped runs really cross a line break (else the test would not test wrapping).
      for (const [text, offset] of [[pem, 40], [mime, 50], [pemAt2, 35]] as const) {
        expect(text.includes(run(offset))).toBe(false);
        expect(unwrap(text).includes(run(offset))).toBe(true);
      }
      expect((await putConfig(acme.org.id, 'transformed_key', { type: 'secret', value: SECRET }, acme.orgAdmin)).status).toBe(201);
      execution = await startExecution();
    });

    it('stores log lines with each form scrubbed, and keeps the text around them', async () => {
      const lines = [
        { level: 'debug', message: `sha input ${hex}` },
        { level: 'debug', message: `HEX ${hex.toUpperCase()}` },
        { level: 'info', message: `GET /cb?code=${percentAll}&state=1` },
        { level: 'info', message: `+ curl -H ${shellSingle} https://api.test` },
        { level: 'info', message: `+ python -c run ${shlex}` },
        { level: 'info', message: `export TOKEN=${shellDouble}` },
        { level: 'info', message: `UPDATE creds SET v = ${sql};` },
        { level: 'info', message: `-----BEGIN PRIVATE KEY-----\n${pem}\n-----END PRIVATE KEY-----` },
        { level: 'info', message: `Content-Transfer-Encoding: base64\r\n\r\n${mime}\r\n` },
        { level: 'info', message: pemAt2 },
      ];
      await checked(api().post(`/api/executions/${execution.id}/logs`).set(bearer(acme.service)).send({ lines }), 'POST logs').then((r) => expect(r.status).toBe(204));
      const rows = await rawRows<{ message: string }>(t, 'SELECT message FROM execution_logs WHERE execution_id = ? ORDER BY id', [execution.id]);
      expect(rows.length).toBe(lines.length);
      rows.forEach((row, i) => {
        expectClean(row.message, `stored log ${i}`);
        expect(row.message).toContain(REDACTED);
      });
      expect(rows.slice(0, 7).map((r) => r.message)).toEqual([
        `sha input ${REDACTED}`,
        `HEX ${REDACTED}`,
        `GET /cb?code=${REDACTED}&state=1`,
        `+ curl -H '${REDACTED}' https://api.test`,
        `+ python -c run '${REDACTED}'`,
        `export TOKEN="${REDACTED}"`,
        `UPDATE creds SET v = '${REDACTED}';`,
      ]);
      expect(rows[7].message.startsWith('-----BEGIN PRIVATE KEY-----\n')).toBe(true);
      expect(rows[7].message.endsWith('\n-----END PRIVATE KEY-----')).toBe(true);
    });

    it('stores the result and the error scrubbed, and answers them scrubbed', async () => {
      const result = { digest: hex.toUpperCase(), cmd: `sh -c ${shellSingle}`, attachment: { data: mime }, pem: `-----BEGIN X-----\n${pem}\n-----END X-----\n` };
      const error = { name: 'UploadFailed', message: `could not upload ${pemAt2} (${percentAll})` };
      const res = await checked(api().post(`/api/executions/${execution.id}/finish`).set(bearer(acme.service)).send({ status: 'failed', result, error }), 'POST finish');
      expect(res.status).toBe(200);
      expectClean(JSON.stringify(res.body), 'finish answer');
      expect(res.body.result.digest).toBe(REDACTED);
      const [row] = await rawRows<{ result: string; error: string }>(t, 'SELECT result, error FROM executions WHERE id = ?', [execution.id]);
      for (const [name, text] of [['result', row.result], ['error', row.error]] as const) {
        expectClean(text, `stored ${name}`);
        expectClean(JSON.stringify(JSON.parse(text)), `stored ${name} (parsed)`);
        expect(text).toContain(REDACTED);
      }
      const stored = JSON.parse(row.result) as { digest: string; cmd: string; attachment: { data: string }; pem: string };
      expect(stored.digest).toBe(REDACTED);
      expect(stored.cmd).toBe(`sh -c '${REDACTED}'`);
      expect(stored.attachment.data).toContain(REDACTED);
      const read = await checked(api().get(`/api/executions/${execution.id}`).set(bearer(acme.member)), 'GET execution');
      expectClean(JSON.stringify(read.body), 'GET execution');
    });

    it('lets ordinary hex, UUIDs, URLs and wrapped base64 of other data through unchanged', async () => {
      const other = await startExecution();
      const plainWrapped = Buffer.alloc(200, 7).toString('base64').replace(/(.{64})/g, '$1\n');
      const lines = [
        { level: 'info', message: 'commit 3f786850e387550fdab836ed7e6dc881de23001b' },
        { level: 'info', message: 'request 123e4567-e89b-12d3-a456-426614174000 to https://api.example.com/v1/items?page=2' },
        { level: 'info', message: plainWrapped },
        { level: 'info', message: `echo 'it'\\''s fine' "and \\$this"` },
      ];
      await checked(api().post(`/api/executions/${other.id}/logs`).set(bearer(acme.service)).send({ lines }), 'POST logs').then((r) => expect(r.status).toBe(204));
      const rows = await rawRows<{ message: string }>(t, 'SELECT message FROM execution_logs WHERE execution_id = ? ORDER BY id', [other.id]);
      expect(rows.map((r) => r.message)).toEqual(lines.map((l) => l.message));
    });
  });

  afterAll(() => {
    for (const line of t?.logLines ?? []) expectNoSecret(line, 'log line');
  });
});

const multi = onMysql ? describe : describe.skip;
// SQLite is one file that only one service process uses; several instances share MySQL/MariaDB only.
multi('two service instances on one MariaDB database', () => {
  let a: TestApp;
  let b: TestApp;
  let org: Seeded;

  beforeAll(async () => {
    a = await startApp();
    b = await startApp({ db: a.db });
    org = await seedOrg(a, 'two-instances');
  });
  afterAll(async () => {
    await b?.close();
    await a?.close();
  });

  it('scrubs on instance B a secret set through instance A, on B’s next request', async () => {
    const secret = 'set-through-A-secret-Value-9876';
    await request(b.app.getHttpServer()).put(`/api/scopes/${org.org.id}/configs/note`).set(bearer(org.orgAdmin)).send({ type: 'string', value: `note ${secret}` }).expect(201);
    // Not a secret yet: B shows it (and caches the org's scrubber).
    const before = await request(b.app.getHttpServer()).get(`/api/scopes/${org.org.id}/configs/note`).set(bearer(org.member)).expect(200);
    expect(before.body.value).toBe(`note ${secret}`);

    await request(a.app.getHttpServer()).put(`/api/scopes/${org.org.id}/configs/x_secret`).set(bearer(org.orgAdmin)).send({ type: 'secret', value: secret }).expect(201);
    const after = await request(b.app.getHttpServer()).get(`/api/scopes/${org.org.id}/configs/note`).set(bearer(org.member)).expect(200);
    expect(after.body.value).toBe(`note ${REDACTED}`);
    const adminView = await request(b.app.getHttpServer()).get('/api/scopes/' + org.org.id + '/configs').set(bearer(b.adminToken)).expect(200);
    expect(JSON.stringify(adminView.body)).not.toContain(secret);

    // And a global secret set through B is scrubbed by A.
    const global = 'global-set-through-B-4242';
    await request(a.app.getHttpServer()).get(`/api/scopes/${org.org.id}/configs/note`).set(bearer(org.member)).expect(200);
    await request(b.app.getHttpServer()).put('/api/scopes/global/configs/g_secret').set(bearer(b.adminToken)).send({ type: 'secret', value: global }).expect(201);
    await request(b.app.getHttpServer()).put(`/api/scopes/${org.org.id}/configs/note`).set(bearer(org.orgAdmin)).send({ type: 'string', value: `note ${global}` }).expect(200);
    const fromA = await request(a.app.getHttpServer()).get(`/api/scopes/${org.org.id}/configs/note`).set(bearer(org.member)).expect(200);
    expect(fromA.body.value).toBe(`note ${REDACTED}`);
  });

  it('agrees on an execution’s dynamic secrets across instances', async () => {
    const created = await request(a.app.getHttpServer()).post('/api/executions').set(bearer(org.service)).send({ workflow: 'two' }).expect(201);
    const id = created.body.id as string;
    const first = 'dynamic-registered-on-B-1111';
    const dynamic = 'dynamic-registered-on-A-5151';
    // B caches the execution's secret set (one secret) first.
    await request(b.app.getHttpServer()).post(`/api/executions/${id}/secrets`).set(bearer(org.service)).send({ values: [first] }).expect(204);
    await request(b.app.getHttpServer()).post(`/api/executions/${id}/logs`).set(bearer(org.service)).send({ lines: [{ level: 'info', message: `hello ${first}` }] }).expect(204);
    await request(a.app.getHttpServer()).post(`/api/executions/${id}/secrets`).set(bearer(org.service)).send({ values: [dynamic] }).expect(204);
    await request(b.app.getHttpServer()).post(`/api/executions/${id}/logs`).set(bearer(org.service)).send({ lines: [{ level: 'info', message: `token ${dynamic}` }] }).expect(204);
    const rows = await rawRows<{ message: string }>(a, 'SELECT message FROM execution_logs WHERE execution_id = ? ORDER BY id', [id]);
    expect(rows.map((r) => r.message)).toEqual([`hello ${REDACTED}`, `token ${REDACTED}`]);
    const finished = await request(b.app.getHttpServer()).post(`/api/executions/${id}/finish`).set(bearer(org.service)).send({ status: 'success', result: dynamic }).expect(200);
    expect(finished.body.result).toBe(REDACTED);
    for (const line of [...a.logLines, ...b.logLines]) expect(line).not.toContain(dynamic);
  });
});
