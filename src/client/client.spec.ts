import { inspect } from 'node:util';

import {
  BifrostClient,
  BifrostError,
  ClientLogEvent,
  ConfigNotFoundError,
  ConnectionError,
  NotFoundError,
  ServerError,
  ServiceUnavailableError,
  TimeoutError,
  ValidationError,
} from './index';
import type { BifrostClientOptions } from './types';
import { closedPort, fakeBifrost, sendError, sendJson, startStandIn, standInsPerTest, specClient, rejection } from './testing/stand-in-server';

const TOKEN = 'bft_client_spec_token_0123456789abcdef0123456789abcdef';

const serve = standInsPerTest();
const client = (url: string, extra: Partial<BifrostClientOptions> = {}): BifrostClient => specClient(TOKEN, url, extra);


describe('BifrostClient: construction', () => {
  it('exposes config and execution with bound methods', async () => {
    const fake = fakeBifrost({ token: TOKEN, configs: { region: { type: 'string', value: 'eu-west-1' } } });
    const s = await serve(fake.handler);
    const { config, execution } = client(s.url);
    const { get } = config;
    expect(await get('region')).toBe('eu-west-1');
    const { start } = execution;
    const exec = await start('wf');
    expect(execution.id).toBe(exec.id);
  });

  it('strips trailing slashes from baseUrl', async () => {
    const s = await serve((_req, res) => sendJson(res, 200, { key: 'k', type: 'int', value: 1, source: 'org' }));
    await client(s.url + '///').config.get('k');
    expect(s.requests[0].url).toBe('/api/sdk/configs/k');
  });

  it('rejects bad options without echoing the token', () => {
    expect(() => new BifrostClient({ baseUrl: '', token: TOKEN })).toThrow(TypeError);
    expect(() => new BifrostClient({ baseUrl: 'ftp://x', token: TOKEN })).toThrow(/http/);
    expect(() => new BifrostClient({ baseUrl: 'http://127.0.0.1:1', token: '' })).toThrow(/token is required/);
    expect(() => new BifrostClient({ baseUrl: 'http://127.0.0.1:1', token: TOKEN, timeoutMs: -1 })).toThrow(/timeoutMs/);
    for (const token of [`${TOKEN}\n`, ` ${TOKEN}`, `${TOKEN}東`]) {
      let err: unknown;
      try {
        new BifrostClient({ baseUrl: 'http://127.0.0.1:1', token });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TypeError);
      expect(String(err)).not.toContain(TOKEN);
    }
  });

  it('refuses an org or an execution id that an HTTP header cannot carry as it is, rather than fail on every call', () => {
    const make = (extra: Record<string, string>) => () => new BifrostClient({ baseUrl: 'http://127.0.0.1:1', token: TOKEN, ...extra });
    for (const org of ['東京', ' spaced', 'spaced ', 'two\nlines', 'nul\u0000']) {
      expect(make({ org })).toThrow(/X-Bifrost-Org.*org id/);
    }
    expect(make({ executionId: 'exé-ünicode-ok' })).not.toThrow();
    expect(make({ executionId: 'exec 東' })).toThrow(/X-Bifrost-Execution/);
    // Latin-1, inner spaces: sent as they are
    for (const org of ['acme', 'Zürich Ops', 'a  b', '3f1c2a4e-8f7b-4c1d-9a0e-2b6d5c4f3e21']) expect(make({ org })).not.toThrow();
  });

  it('keeps the token out of inspect and JSON', () => {
    const c = client('http://127.0.0.1:1', { executionId: 'e1' });
    expect(inspect(c)).not.toContain(TOKEN);
    expect(JSON.stringify(c)).not.toContain(TOKEN);
    for (const part of [c.config, c.execution]) {
      expect(inspect(part, { depth: 10, showHidden: true })).not.toContain(TOKEN);
      expect(JSON.stringify(part)).not.toContain(TOKEN);
    }
    expect(c.executionId).toBe('e1');
  });
});

describe('config', () => {
  it('get returns the typed value', async () => {
    const fake = fakeBifrost({
      token: TOKEN,
      configs: {
        retries: { type: 'int', value: 5 },
        enabled: { type: 'bool', value: true },
        limits: { type: 'json', value: { max: [1, 2] } },
        stripe_api_key: { type: 'secret', value: 'sk_live_abc', source: 'global' },
      },
    });
    const s = await serve(fake.handler);
    const { config } = client(s.url);
    const retries: number = await config.get<number>('retries');
    expect(retries).toBe(5);
    expect(await config.get<boolean>('enabled')).toBe(true);
    expect(await config.get<{ max: number[] }>('limits')).toEqual({ max: [1, 2] });
    expect(await config.get<string>('stripe_api_key')).toBe('sk_live_abc');
    expect(s.requests.map((r) => `${r.method} ${r.url}`)).toEqual([
      'GET /api/sdk/configs/retries',
      'GET /api/sdk/configs/enabled',
      'GET /api/sdk/configs/limits',
      'GET /api/sdk/configs/stripe_api_key',
    ]);
  });

  it('URL-encodes the key', async () => {
    const s = await serve((_req, res) => sendJson(res, 200, { key: 'x', type: 'string', value: 'v', source: 'org' }));
    const { config } = client(s.url);
    await config.get('a b/c?d#e');
    await config.set('a.b-c_d', 1);
    expect(s.requests[0].url).toBe('/api/sdk/configs/a%20b%2Fc%3Fd%23e');
    expect(s.requests[1].url).toBe('/api/sdk/configs/a.b-c_d');
  });

  it('refuses keys that would change the URL', async () => {
    const { config } = client('http://127.0.0.1:1');
    for (const bad of ['', '.', '..']) {
      const err = await rejection(config.get(bad));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.code).toBe('INVALID_KEY');
    }
  });

  it('a missing key raises ConfigNotFoundError, like a KeyError', async () => {
    const s = await serve(fakeBifrost({ token: TOKEN }).handler);
    const err = (await rejection(client(s.url).config.get('stripe_api_key'))) as ConfigNotFoundError;
    expect(err).toBeInstanceOf(ConfigNotFoundError);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toBeInstanceOf(BifrostError);
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('ConfigNotFoundError');
    expect(err.message).toBe("'stripe_api_key'");
    expect(String(err)).toBe("ConfigNotFoundError: 'stripe_api_key'");
    expect(err.key).toBe('stripe_api_key');
    expect(err.status).toBe(404);
    expect(err.code).toBe('CONFIG_NOT_FOUND');
    expect(s.requests).toHaveLength(1);
  });

  it('returns the default instead, even an explicit undefined', async () => {
    const s = await serve(fakeBifrost({ token: TOKEN }).handler);
    const { config } = client(s.url);
    expect(await config.get('missing', { default: 'fallback' })).toBe('fallback');
    expect(await config.get<number | null>('missing', { default: null })).toBeNull();
    expect(await config.get('missing', { default: undefined })).toBeUndefined();
    expect(await config.get('missing', { default: 0 })).toBe(0);
    await expect(config.get('missing', {})).rejects.toBeInstanceOf(ConfigNotFoundError);
  });

  it('does not use the default for another 404 or another error', async () => {
    let status = 404;
    const s = await serve((_req, res) =>
      status === 404 ? sendError(res, 404, 'NOT_FOUND', 'Cannot GET') : sendError(res, 403, 'FORBIDDEN', 'no'),
    );
    const { config } = client(s.url);
    const err = await rejection(config.get('k', { default: 1 }));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).not.toBeInstanceOf(ConfigNotFoundError);
    status = 403;
    await expect(config.get('k', { default: 1 })).rejects.toMatchObject({ name: 'ForbiddenError', status: 403 });
  });

  it('set sends allowSecretLikeValue when given', async () => {
    const fake = fakeBifrost({ token: TOKEN, configs: {} });
    const s = await serve(fake.handler);
    const { config } = client(s.url);
    await config.set('legacy_dsn', 'postgres://app:pw@db/app', { allowSecretLikeValue: true });
    expect(s.requests[0].body).toEqual({ value: 'postgres://app:pw@db/app', allowSecretLikeValue: true });
  });

  it('set, list and delete', async () => {
    const fake = fakeBifrost({ token: TOKEN, configs: { region: { type: 'string', value: 'eu' } } });
    const s = await serve(fake.handler);
    const { config } = client(s.url);
    await expect(config.set('webhook_secret', 'whsec_123456', { isSecret: true })).resolves.toBeUndefined();
    await config.set('max_retries', 3);
    await config.set('features', { a: true });
    expect(s.requests[0]).toMatchObject({
      method: 'PUT',
      url: '/api/sdk/configs/webhook_secret',
      body: { value: 'whsec_123456', isSecret: true },
    });
    expect(s.requests[0].headers['content-type']).toBe('application/json');
    expect(s.requests[1].body).toEqual({ value: 3 });
    expect(s.requests[2].body).toEqual({ value: { a: true } });
    expect(fake.configs.get('max_retries')).toEqual({ type: 'int', value: 3 });

    expect(await config.list()).toEqual({ region: 'eu', webhook_secret: '••••••', max_retries: 3, features: { a: true } });
    expect(s.requests[3]).toMatchObject({ method: 'GET', url: '/api/sdk/configs' });

    await expect(config.delete('region')).resolves.toBeUndefined();
    expect(s.requests[4]).toMatchObject({ method: 'DELETE', url: '/api/sdk/configs/region' });
    const err = (await rejection(config.delete('region'))) as ConfigNotFoundError;
    expect(err).toBeInstanceOf(ConfigNotFoundError);
    expect(err.message).toBe("'region'");
  });

  it('rejects a 2xx answer that is not JSON or has no value', async () => {
    let mode = 'text';
    const s = await serve((_req, res) => {
      if (mode === 'text') {
        res.writeHead(200, { 'content-type': 'text/html' });
        res.end('<html>proxy</html>');
      } else sendJson(res, 200, { key: 'k' });
    });
    const { config } = client(s.url);
    await expect(config.get('k')).rejects.toMatchObject({ name: 'ServerError', code: 'INVALID_RESPONSE' });
    mode = 'novalue';
    await expect(config.get('k')).rejects.toMatchObject({ name: 'ServerError', code: 'INVALID_RESPONSE' });
  });
});

describe('headers', () => {
  it('sends Authorization, X-Bifrost-Org and X-Bifrost-Execution', async () => {
    const fake = fakeBifrost({ token: TOKEN, configs: { k: { type: 'string', value: 'v' } } });
    const s = await serve(fake.handler);
    const { config } = client(s.url, { org: 'acme', executionId: 'exec-given' });
    await config.get('k');
    await config.list();
    await config.set('k', 'w');
    for (const r of s.requests) {
      expect(r.headers.authorization).toBe(`Bearer ${TOKEN}`);
      expect(r.headers['x-bifrost-org']).toBe('acme');
      expect(r.headers['x-bifrost-execution']).toBe('exec-given');
      expect(r.headers.accept).toBe('application/json');
    }
  });

  it('names the execution from execution.start on later SDK reads', async () => {
    const fake = fakeBifrost({ token: TOKEN, configs: { k: { type: 'string', value: 'v' } } });
    const s = await serve(fake.handler);
    const c = client(s.url);
    await c.config.get('k');
    expect(s.requests[0].headers['x-bifrost-execution']).toBeUndefined();
    expect(s.requests[0].headers['x-bifrost-org']).toBeUndefined();
    const exec = await c.execution.start('charge_card');
    await c.config.get('k');
    expect(s.requests[2].headers['x-bifrost-execution']).toBe(exec.id);
    expect(c.executionId).toBe(exec.id);
  });

  it('surfaces the x-request-id header', async () => {
    const s = await serve((_req, res) => sendError(res, 400, 'VALIDATION_FAILED', 'bad', {}, { 'x-request-id': 'req-42' }));
    const err = await rejection(client(s.url).config.get('k'));
    expect(err.requestId).toBe('req-42');
  });
});

describe('retries', () => {
  function failing(times: number, fail: (res: Parameters<Parameters<typeof startStandIn>[0]>[1], raw: Parameters<Parameters<typeof startStandIn>[0]>[2]) => void) {
    let n = 0;
    return (async (_req, res, raw) => {
      n++;
      if (n <= times) return fail(res, raw);
      return sendJson(res, 200, { key: 'k', type: 'string', value: 'ok', source: 'org' });
    }) as Parameters<typeof startStandIn>[0];
  }

  it('retries a GET on 503 and succeeds', async () => {
    const s = await serve(failing(2, (res) => sendError(res, 503, 'AUDIT_UNAVAILABLE', 'audit down')));
    expect(await client(s.url).config.get('k')).toBe('ok');
    expect(s.requests).toHaveLength(3);
  });

  it('retries 502 and 504 too', async () => {
    const s = await serve(
      failing(2, (res) => {
        const st = s.requests.length === 1 ? 502 : 504;
        res.writeHead(st, { 'content-type': 'text/html' });
        res.end('<html>gateway</html>');
      }),
    );
    expect(await client(s.url).config.get('k')).toBe('ok');
    expect(s.requests).toHaveLength(3);
  });

  it('gives up after `retries` retries with the last error', async () => {
    const s = await serve((_req, res) => sendError(res, 503, 'DATABASE_UNAVAILABLE', 'db down'));
    const err = await rejection(client(s.url).config.get('k'));
    expect(err).toBeInstanceOf(ServiceUnavailableError);
    expect(err.code).toBe('DATABASE_UNAVAILABLE');
    expect(err.attempts).toBe(4);
    expect(s.requests).toHaveLength(4);
    const s2 = await serve((_req, res) => sendError(res, 503, 'DATABASE_UNAVAILABLE', 'db down'));
    await rejection(client(s2.url, { retries: 0 }).config.get('k'));
    expect(s2.requests).toHaveLength(1);
  });

  it('retries a GET on a dropped connection', async () => {
    const s = await serve(failing(1, (_res, raw) => raw.socket.destroy()));
    expect(await client(s.url).config.get('k')).toBe('ok');
    expect(s.requests).toHaveLength(2);
  });

  it('retries PUT and DELETE (idempotent)', async () => {
    const s = await serve(failing(1, (res) => sendError(res, 503, 'AUDIT_UNAVAILABLE', 'x')));
    const { config } = client(s.url);
    await config.set('k', 'v');
    expect(s.requests.map((r) => r.method)).toEqual(['PUT', 'PUT']);
    const s2 = await serve(failing(1, (_res, raw) => raw.socket.destroy()));
    await client(s2.url).config.delete('k');
    expect(s2.requests.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
  });

  it('retries on connection refused, then raises ConnectionError', async () => {
    const port = await closedPort();
    const events: ClientLogEvent[] = [];
    const err = await rejection(client(`http://127.0.0.1:${port}`, { logger: (e) => events.push(e) }).config.get('k'));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(err.name).toBe('ConnectionError');
    expect(err.status).toBe(0);
    expect(err.code).toBe('CONNECTION_FAILED');
    expect((err as ConnectionError).causeCode).toBe('ECONNREFUSED');
    expect(err.attempts).toBe(4);
    expect(events.map((e) => e.attempt)).toEqual([1, 2, 3, 4]);
    expect(events.slice(0, 3).every((e) => typeof e.retryInMs === 'number')).toBe(true);
    expect(events[3].retryInMs).toBeUndefined();
    expect(err.message).not.toContain(TOKEN);
  });

  it.each([
    [400, 'VALIDATION_FAILED'],
    [401, 'UNAUTHORIZED'],
    [404, 'EXECUTION_NOT_FOUND'],
    [409, 'SECRET_VALUE_MISSING'],
    [429, 'RATE_LIMITED'],
    [500, 'INTERNAL_ERROR'],
    [500, 'DECRYPTION_FAILED'],
  ])('never retries a %i (%s)', async (status, code) => {
    const s = await serve((_req, res) => sendError(res, status, code, 'no'));
    const err = await rejection(client(s.url).config.get('k'));
    expect(err.status).toBe(status);
    expect(err.attempts).toBe(1);
    expect(s.requests).toHaveLength(1);
  });

  it('never retries a POST, on 503 or on a dropped connection', async () => {
    const s = await serve((_req, res) => sendError(res, 503, 'AUDIT_UNAVAILABLE', 'x'));
    await expect(client(s.url).execution.start('wf')).rejects.toBeInstanceOf(ServiceUnavailableError);
    expect(s.requests).toHaveLength(1);
    const s2 = await serve((_req, _res, raw) => raw.socket.destroy());
    await expect(client(s2.url).execution.start('wf')).rejects.toBeInstanceOf(ConnectionError);
    expect(s2.requests).toHaveLength(1);
  });

  it('backs off with full jitter within [0, min(cap, base·2ⁿ)]', () => {
    const c = new BifrostClient({ baseUrl: 'http://127.0.0.1:1', token: TOKEN });
    const http = (c as unknown as { http: { backoffMs(n: number): number } }).http;
    for (let n = 0; n < 8; n++) {
      const ceiling = Math.min(2000, 100 * 2 ** n);
      const samples = Array.from({ length: 200 }, () => http.backoffMs(n));
      expect(Math.min(...samples)).toBeGreaterThanOrEqual(0);
      expect(Math.max(...samples)).toBeLessThanOrEqual(ceiling);
      expect(samples.every(Number.isInteger)).toBe(true);
      expect(new Set(samples).size).toBeGreaterThan(1);
    }
  });

  it('waits at least Retry-After (capped) before retrying a 503', async () => {
    const s = await serve(failing(1, (res) => sendError(res, 503, 'AUDIT_UNAVAILABLE', 'x', {}, { 'retry-after': '1' })));
    const events: ClientLogEvent[] = [];
    await client(s.url, { retryMaxMs: 50, logger: (e) => events.push(e) }).config.get('k');
    expect(events[0].retryInMs).toBe(50);
  });
});

describe('timeouts', () => {
  const hang = () => undefined; // never answers

  it('raises TimeoutError after timeoutMs', async () => {
    const s = await serve(hang);
    const started = Date.now();
    const err = await rejection(client(s.url, { timeoutMs: 100, retries: 0 }).config.get('k'));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err.name).toBe('TimeoutError');
    expect(err.code).toBe('TIMEOUT');
    expect(err.status).toBe(0);
    expect(err.message).toMatch(/GET \/api\/sdk\/configs\/k timed out after 100 ms/);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('retries a timed-out GET, not a timed-out POST', async () => {
    const s = await serve(hang);
    await expect(client(s.url, { timeoutMs: 50, retries: 2 }).config.get('k')).rejects.toBeInstanceOf(TimeoutError);
    expect(s.requests).toHaveLength(3);
    const s2 = await serve(hang);
    await expect(client(s2.url, { timeoutMs: 50, retries: 2 }).execution.start('wf')).rejects.toBeInstanceOf(TimeoutError);
    expect(s2.requests).toHaveLength(1);
  });

  it('times out a body that never ends', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"key":"k",');
    });
    await expect(client(s.url, { timeoutMs: 100, retries: 0 }).config.get('k')).rejects.toBeInstanceOf(TimeoutError);
  });
});

describe('logger hook', () => {
  it('is silent by default and never sees bodies, values or the token', async () => {
    const fake = fakeBifrost({ token: TOKEN, configs: { stripe_api_key: { type: 'secret', value: 'sk_live_hook_secret' } } });
    const s = await serve(fake.handler);
    const events: ClientLogEvent[] = [];
    const spies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((m) => jest.spyOn(console, m).mockImplementation(() => undefined));
    try {
      const { config } = client(s.url, { logger: (e) => events.push(e) });
      await config.get('stripe_api_key');
      await config.set('other', 'value_hook_secret', { isSecret: true });
      await config.get('missing', { default: 1 });
      const silent = client(s.url);
      await silent.config.get('stripe_api_key');
      await silent.config.get('missing', { default: 1 });
      for (const spy of spies) expect(spy).not.toHaveBeenCalled();
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(events.map((e) => [e.method, e.path, e.status, e.attempt])).toEqual([
      ['GET', '/api/sdk/configs/stripe_api_key', 200, 1],
      ['PUT', '/api/sdk/configs/other', 204, 1],
      ['GET', '/api/sdk/configs/missing', 404, 1],
    ]);
    expect(events[2].errorCode).toBe('CONFIG_NOT_FOUND');
    const text = JSON.stringify(events);
    expect(text).not.toContain(TOKEN);
    expect(text).not.toContain('sk_live_hook_secret');
    expect(text).not.toContain('value_hook_secret');
  });

  it('a throwing logger does not break calls', async () => {
    const s = await serve((_req, res) => sendJson(res, 200, { key: 'k', type: 'int', value: 1, source: 'org' }));
    const c = client(s.url, {
      logger: () => {
        throw new Error('logger broke');
      },
    });
    expect(await c.config.get('k')).toBe(1);
  });
});

describe('server errors', () => {
  it('a 500 is a ServerError, not retried', async () => {
    const s = await serve((_req, res) => sendError(res, 500, 'INTERNAL_ERROR', 'Internal server error'));
    const err = await rejection(client(s.url).config.list());
    expect(err).toBeInstanceOf(ServerError);
    expect(s.requests).toHaveLength(1);
  });
});
