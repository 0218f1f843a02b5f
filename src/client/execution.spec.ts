import {
  BifrostClient,
  BifrostError,
  ExecutionNotStartedError,
  NotFoundError,
  ServerError,
  ServiceUnavailableError,
  ValidationError,
} from './index';
import type { BifrostClientOptions } from './types';
import { fakeBifrost, RecordedRequest, sendError, standInsPerTest, specClient } from './testing/stand-in-server';

const TOKEN = 'bft_execution_spec_token_00112233445566778899aabbccddeeff';

const serve = standInsPerTest();
const client = (url: string, extra: Partial<BifrostClientOptions> = {}): BifrostClient => specClient(TOKEN, url, extra);

async function fake(extra: Partial<ConstructorParameters<typeof BifrostClient>[0]> = {}) {
  const f = fakeBifrost({ token: TOKEN });
  const s = await serve(f.handler);
  return { ...f, s, c: client(s.url, extra) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(5);
  }
}

const logPosts = (reqs: RecordedRequest[]) => reqs.filter((r) => r.url.endsWith('/logs'));

describe('execution.start', () => {
  it('creates the execution and remembers its id', async () => {
    const { c, s } = await fake({ org: 'acme' });
    const { execution } = c;
    expect(execution.id).toBeUndefined();
    const exec = await execution.start('charge_card');
    expect(exec).toEqual({ id: 'exec-1', orgId: 'org-1', workflow: 'charge_card', status: 'running' });
    expect(s.requests[0]).toMatchObject({ method: 'POST', url: '/api/executions', body: { workflow: 'charge_card' } });
    expect(s.requests[0].headers['x-bifrost-org']).toBe('acme');
    expect(execution.id).toBe('exec-1');
    expect(c.executionId).toBe('exec-1');
  });

  it('validates the workflow name and the answer', async () => {
    const { c } = await fake();
    await expect(c.execution.start('')).rejects.toBeInstanceOf(ValidationError);
    const s = await serve((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await expect(client(s.url).execution.start('w')).rejects.toMatchObject({ code: 'INVALID_RESPONSE' });
  });

  it('works with an executionId given to the client, without start', async () => {
    const { c, executions, s } = await fake();
    const created = await c.execution.start('wf'); // creates exec-1 in the fake
    const other = client(s.url, { executionId: created.id });
    other.execution.log('info', 'hello');
    await other.execution.finish({ ok: true });
    expect(executions.get(created.id)).toMatchObject({ status: 'success', result: { ok: true }, logs: [{ level: 'info', message: 'hello' }] });
  });

  it('log, registerSecret and finish need an execution', async () => {
    const { c, s } = await fake();
    expect(() => c.execution.log('info', 'x')).toThrow(ExecutionNotStartedError);
    await expect(c.execution.registerSecret('abcd')).rejects.toBeInstanceOf(ExecutionNotStartedError);
    await expect(c.execution.finish()).rejects.toBeInstanceOf(ExecutionNotStartedError);
    await expect(c.execution.get()).rejects.toBeInstanceOf(ExecutionNotStartedError);
    expect(s.requests).toHaveLength(0);
  });

  it('refuses a log level the service would refuse, at the call, without losing the batch', async () => {
    const { c, s, executions } = await fake({ logFlushIntervalMs: 60_000 });
    const { id } = await c.execution.start('wf');
    c.execution.log('info', 'before');
    for (const level of ['', 'x'.repeat(17), 42 as unknown as string, undefined as unknown as string]) {
      let err: unknown;
      try {
        c.execution.log(level, 'bad');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ status: 0, code: 'INVALID_LEVEL' });
    }
    c.execution.log('x'.repeat(16), 'after');
    await c.execution.finish();
    expect(executions.get(id)!.logs).toEqual([
      { level: 'info', message: 'before' },
      { level: 'x'.repeat(16), message: 'after' },
    ]);
    expect(s.requests.filter((r) => r.url.endsWith('/logs'))).toHaveLength(1);
  });
});

describe('log batching', () => {
  it('sends N log calls in a few POSTs, in order, and flushes before finish', async () => {
    const { c, s, executions } = await fake({ logFlushIntervalMs: 60_000 });
    const { execution } = c;
    const { id } = await execution.start('wf');
    for (let i = 0; i < 250; i++) execution.log(i % 2 ? 'info' : 'debug', `line ${i}`);
    await execution.finish({ done: true });
    const posts = logPosts(s.requests);
    expect(posts.map((p) => (p.body as { lines: unknown[] }).lines.length)).toEqual([100, 100, 50]);
    for (const p of posts) expect(p).toMatchObject({ method: 'POST', url: `/api/executions/${id}/logs` });
    const finishIndex = s.requests.findIndex((r) => r.url.endsWith('/finish'));
    expect(finishIndex).toBe(s.requests.length - 1);
    expect(s.requests.slice(1, finishIndex).every((r) => r.url.endsWith('/logs'))).toBe(true);
    const stored = executions.get(id)!;
    expect(stored.logs).toHaveLength(250);
    expect(stored.logs.map((l) => l.message)).toEqual(Array.from({ length: 250 }, (_, i) => `line ${i}`));
    expect(stored.logs[0]).toEqual({ level: 'debug', message: 'line 0' });
    expect(stored.logs[1]).toEqual({ level: 'info', message: 'line 1' });
  });

  it('sends a full batch in the background without waiting for finish', async () => {
    const { c, s } = await fake({ logBatchSize: 10, logFlushIntervalMs: 60_000 });
    await c.execution.start('wf');
    for (let i = 0; i < 25; i++) c.execution.log('info', `l${i}`);
    await until(() => logPosts(s.requests).length === 2);
    expect(c.execution.pendingLines).toBe(5);
    await c.execution.flush();
    expect(logPosts(s.requests).map((p) => (p.body as { lines: unknown[] }).lines.length)).toEqual([10, 10, 5]);
  });

  it('sends buffered lines after a short timer', async () => {
    const { c, s } = await fake({ logFlushIntervalMs: 30 });
    await c.execution.start('wf');
    c.execution.log('info', 'a');
    c.execution.log('warning', 'b');
    c.execution.log('error', 'c');
    expect(logPosts(s.requests)).toHaveLength(0);
    await until(() => logPosts(s.requests).length === 1);
    expect(logPosts(s.requests)[0].body).toEqual({
      lines: [
        { level: 'info', message: 'a' },
        { level: 'warning', message: 'b' },
        { level: 'error', message: 'c' },
      ],
    });
    await sleep(60);
    expect(logPosts(s.requests)).toHaveLength(1);
  });

  it('flush() is public and sends nothing when nothing is buffered', async () => {
    const { c, s } = await fake({ logFlushIntervalMs: 60_000 });
    await c.execution.start('wf');
    await c.execution.flush();
    expect(logPosts(s.requests)).toHaveLength(0);
    c.execution.log('info', 'one');
    c.execution.log('info', 'two');
    const { flush } = c.execution;
    await flush();
    expect(logPosts(s.requests)).toHaveLength(1);
    expect(c.execution.pendingLines).toBe(0);
  });

  it('splits batches by size', async () => {
    const { c, s, executions } = await fake({ logBatchMaxBytes: 2_000, logFlushIntervalMs: 60_000 });
    const { id } = await c.execution.start('wf');
    for (let i = 0; i < 10; i++) c.execution.log('info', `${i}`.padEnd(500, 'x'));
    c.execution.log('info', 'y'.repeat(5_000)); // longer than a batch: goes alone
    await c.execution.flush();
    const sizes = logPosts(s.requests).map((p) => (p.body as { lines: unknown[] }).lines.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(11);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(4);
    expect(sizes[sizes.length - 1]).toBe(1);
    expect(executions.get(id)!.logs[10].message).toHaveLength(5_000);
  });

  it('sends the lines of an earlier execution to that execution after start()', async () => {
    const { c, executions } = await fake({ logFlushIntervalMs: 60_000 });
    const first = await c.execution.start('wf');
    c.execution.log('info', 'first');
    const second = await c.execution.start('wf');
    c.execution.log('info', 'second');
    await c.execution.flush();
    expect(executions.get(first.id)!.logs).toEqual([{ level: 'info', message: 'first' }]);
    expect(executions.get(second.id)!.logs).toEqual([{ level: 'info', message: 'second' }]);
  });

  it('never retries a log POST; a background failure is raised by the next flush', async () => {
    let failLogs = true;
    const f = fakeBifrost({ token: TOKEN });
    const s = await serve((req, res, raw) => {
      if (failLogs && req.url.endsWith('/logs')) return sendError(res, 503, 'AUDIT_UNAVAILABLE', 'down');
      return f.handler(req, res, raw);
    });
    const c = client(s.url, { logBatchSize: 2, logFlushIntervalMs: 60_000 });
    await c.execution.start('wf');
    c.execution.log('info', 'a');
    c.execution.log('info', 'b'); // full: background send, fails
    await until(() => logPosts(s.requests).length === 1);
    await sleep(20);
    expect(logPosts(s.requests)).toHaveLength(1);
    failLogs = false;
    c.execution.log('info', 'c');
    await expect(c.execution.flush()).rejects.toBeInstanceOf(ServiceUnavailableError);
    // 'c' was still delivered; the failed batch is not re-sent.
    expect(logPosts(s.requests)).toHaveLength(2);
    await expect(c.execution.flush()).resolves.toBeUndefined();
    await expect(c.execution.finish('ok')).resolves.toMatchObject({ status: 'success', result: 'ok' });
    expect(f.executions.get('exec-1')!.logs).toEqual([{ level: 'info', message: 'c' }]);
  });

  it('finish does not finish when the logs cannot be delivered; a second finish does', async () => {
    let failLogs = true;
    const f = fakeBifrost({ token: TOKEN });
    const s = await serve((req, res, raw) => {
      if (failLogs && req.url.endsWith('/logs')) return sendError(res, 500, 'INTERNAL_ERROR', 'boom');
      return f.handler(req, res, raw);
    });
    const c = client(s.url, { logFlushIntervalMs: 60_000 });
    await c.execution.start('wf');
    c.execution.log('info', 'a');
    await expect(c.execution.finish('r')).rejects.toBeInstanceOf(ServerError);
    expect(s.requests.filter((r) => r.url.endsWith('/finish'))).toHaveLength(0);
    failLogs = false;
    await expect(c.execution.finish('r')).resolves.toMatchObject({ status: 'success' });
  });
});

describe('registerSecret', () => {
  it('posts the value(s) and is not retried', async () => {
    const { c, s, executions } = await fake();
    const { id } = await c.execution.start('wf');
    await c.execution.registerSecret('oauth-token-123456');
    await c.execution.registerSecret(['a-secret-1', 'a-secret-2']);
    await c.execution.registerSecret([]);
    const posts = s.requests.filter((r) => r.url.endsWith('/secrets'));
    expect(posts.map((p) => p.body)).toEqual([{ values: ['oauth-token-123456'] }, { values: ['a-secret-1', 'a-secret-2'] }]);
    expect(posts[0].url).toBe(`/api/executions/${id}/secrets`);
    expect(executions.get(id)!.secrets).toHaveLength(3);

    const s2 = await serve((req, res) =>
      req.url === '/api/executions'
        ? res.writeHead(201, { 'content-type': 'application/json' }).end('{"id":"e9","orgId":"o","workflow":"w","status":"running"}')
        : sendError(res, 503, 'AUDIT_UNAVAILABLE', 'down'),
    );
    const c2 = client(s2.url);
    await c2.execution.start('w');
    await expect(c2.execution.registerSecret('abcdef')).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(s2.requests.filter((r) => r.url.endsWith('/secrets'))).toHaveLength(1);
  });
});

describe('finish', () => {
  it('a result finishes as success', async () => {
    const { c, s } = await fake();
    const { id } = await c.execution.start('wf');
    const rec = await c.execution.finish({ charged: true });
    expect(rec).toMatchObject({ id, status: 'success', result: { charged: true } });
    expect(s.requests.at(-1)).toMatchObject({ method: 'POST', url: `/api/executions/${id}/finish`, body: { status: 'success', result: { charged: true } } });
  });

  it('no result finishes as success without a result', async () => {
    const { c, s } = await fake();
    await c.execution.start('wf');
    await c.execution.finish();
    expect(s.requests.at(-1)!.body).toEqual({ status: 'success' });
  });

  it('an Error finishes as failed with {name, message}, never a stack', async () => {
    const { c, s } = await fake();
    await c.execution.start('wf');
    class PaymentDeclined extends Error {
      name = 'PaymentDeclined';
    }
    await c.execution.finish(new PaymentDeclined('card declined'));
    expect(s.requests.at(-1)!.body).toEqual({ status: 'failed', error: { name: 'PaymentDeclined', message: 'card declined' } });
  });

  it('an error from another realm is still an error', async () => {
    const { c, s } = await fake();
    await c.execution.start('wf');
    const foreign = await fetch('http://127.0.0.1:1/').catch((e: unknown) => e); // made by Node, outside Jest's realm
    await c.execution.finish(foreign);
    expect(s.requests.at(-1)!.body).toEqual({ status: 'failed', error: { name: 'TypeError', message: 'fetch failed' } });
  });

  it('fail() and finishWith() for explicit outcomes', async () => {
    const { c, s } = await fake();
    await c.execution.start('a');
    await c.execution.fail('plain text failure');
    expect(s.requests.at(-1)!.body).toEqual({ status: 'failed', error: { name: 'Error', message: 'plain text failure' } });
    await c.execution.start('b');
    await c.execution.finishWith({ status: 'failed', error: { name: 'Timeout', message: 'took too long' }, result: { partial: 1 } });
    expect(s.requests.at(-1)!.body).toEqual({ status: 'failed', result: { partial: 1 }, error: { name: 'Timeout', message: 'took too long' } });
    await c.execution.start('c');
    await c.execution.finishWith({ status: 'success', result: new Error('a result that happens to be an Error') as unknown });
    expect(s.requests.at(-1)!.body).toMatchObject({ status: 'success' });
    await expect(c.execution.finishWith({ status: 'done' as 'success' })).rejects.toBeInstanceOf(ValidationError);
  });

  it('finish is bound and not retried; a conflict is a typed error', async () => {
    const { c, s } = await fake();
    const { finish, start } = c.execution;
    await start('wf');
    await finish(1);
    const err = (await finish(2).catch((e: unknown) => e)) as BifrostError;
    expect(err.code).toBe('EXECUTION_FINISHED');
    expect(err.status).toBe(409);
    expect(s.requests.filter((r) => r.url.endsWith('/finish'))).toHaveLength(2);
  });
});

describe('execution.get', () => {
  it('reads an execution, a missing one is a NotFoundError', async () => {
    const { c } = await fake();
    const { id } = await c.execution.start('wf');
    c.execution.log('info', 'x');
    await c.execution.finish('r');
    expect(await c.execution.get()).toMatchObject({ id, status: 'success', result: 'r', logs: [{ level: 'info', message: 'x' }] });
    const err = await c.execution.get('nope').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ code: 'EXECUTION_NOT_FOUND', status: 404 });
  });
});
