import { inspect } from 'node:util';

import {
  BifrostClient,
  BifrostError,
  ConfigNotFoundError,
  ConflictError,
  ConnectionError,
  DecryptionFailedError,
  ExecutionNotStartedError,
  ForbiddenError,
  InvalidValueError,
  NotFoundError,
  PayloadTooLargeError,
  pythonRepr,
  RateLimitedError,
  SecretValueMissingError,
  ServerError,
  ServiceUnavailableError,
  TimeoutError,
  UnauthorizedError,
  ValidationError,
} from './index';
import type { BifrostClientOptions } from './types';
import { closedPort, sendError, sendJson, StandIn, standInsPerTest, rejection } from './testing/stand-in-server';

const TOKEN = 'bft_errors_spec_token_fedcba9876543210fedcba9876543210';

const serve = standInsPerTest();
const client = (url: string, extra: Partial<BifrostClientOptions> = {}): BifrostClient => new BifrostClient({ baseUrl: url, token: TOKEN, retries: 0, ...extra });


type Cls = abstract new (...args: never[]) => BifrostError;

describe('error mapping: by code first, then by status', () => {
  const cases: [number, string | undefined, Cls, string, Cls[]][] = [
    [404, 'CONFIG_NOT_FOUND', ConfigNotFoundError, 'ConfigNotFoundError', [NotFoundError]],
    [409, 'SECRET_VALUE_MISSING', SecretValueMissingError, 'SecretValueMissingError', [ConflictError]],
    [500, 'DECRYPTION_FAILED', DecryptionFailedError, 'DecryptionFailedError', [ServerError]],
    [400, 'INVALID_VALUE', InvalidValueError, 'InvalidValueError', [ValidationError]],
    [400, 'VALUE_TOO_LARGE', InvalidValueError, 'InvalidValueError', [ValidationError]],
    [400, 'VALIDATION_FAILED', ValidationError, 'ValidationError', []],
    [400, 'INVALID_KEY', ValidationError, 'ValidationError', []],
    [422, undefined, ValidationError, 'ValidationError', []],
    [401, 'UNAUTHORIZED', UnauthorizedError, 'UnauthorizedError', []],
    [401, undefined, UnauthorizedError, 'UnauthorizedError', []],
    [403, 'FORBIDDEN', ForbiddenError, 'ForbiddenError', []],
    [403, 'ORG_FORBIDDEN', ForbiddenError, 'ForbiddenError', []],
    [404, 'EXECUTION_NOT_FOUND', NotFoundError, 'NotFoundError', []],
    [404, undefined, NotFoundError, 'NotFoundError', []],
    [409, 'ORG_EXISTS', ConflictError, 'ConflictError', []],
    [409, 'EXECUTION_FINISHED', ConflictError, 'ConflictError', []],
    [413, 'PAYLOAD_TOO_LARGE', PayloadTooLargeError, 'PayloadTooLargeError', []],
    [413, undefined, PayloadTooLargeError, 'PayloadTooLargeError', []],
    [429, 'RATE_LIMITED', RateLimitedError, 'RateLimitedError', []],
    [429, 'TOO_MANY_AUTH_FAILURES', RateLimitedError, 'RateLimitedError', []],
    [503, 'AUDIT_UNAVAILABLE', ServiceUnavailableError, 'ServiceUnavailableError', [ServerError]],
    [503, 'DATABASE_UNAVAILABLE', ServiceUnavailableError, 'ServiceUnavailableError', [ServerError]],
    [500, 'AUDIT_UNAVAILABLE', ServiceUnavailableError, 'ServiceUnavailableError', [ServerError]],
    [500, 'INTERNAL_ERROR', ServerError, 'ServerError', []],
    [502, undefined, ServerError, 'ServerError', []],
    [504, undefined, ServerError, 'ServerError', []],
    [418, 'TEAPOT', BifrostError, 'BifrostError', []],
  ];

  it.each(cases)('%i %s → %p', async (status, code, Class, name, parents) => {
    const s = await serve((_req, res) =>
      code === undefined
        ? sendJson(res, status, { statusCode: status, message: 'plain' }, { 'x-request-id': 'rid-1' })
        : sendError(res, status, code, `a ${code} happened`, { details: { field: 'value' } }, { 'x-request-id': 'rid-1' }),
    );
    const err = await rejection(client(s.url).config.get('stripe_api_key'));
    expect(err).toBeInstanceOf(Class);
    expect(err).toBeInstanceOf(BifrostError);
    expect(err).toBeInstanceOf(Error);
    for (const p of parents) expect(err).toBeInstanceOf(p);
    expect(err.constructor.name).toBe(name);
    expect(err.name).toBe(name);
    expect(err.status).toBe(status);
    expect(err.requestId).toBe('rid-1');
    expect(err.method).toBe('GET');
    expect(err.path).toBe('/api/sdk/configs/stripe_api_key');
    if (code !== undefined) {
      expect(err.code).toBe(code);
      expect(err.details).toEqual({ field: 'value' });
    } else {
      expect(err.code).toMatch(/^[A-Z_0-9]+$/);
    }
    if (Class === ConfigNotFoundError) expect(err.message).toBe("'stripe_api_key'");
    else if (code !== undefined) expect(err.message).toBe(`a ${code} happened`);
  });

  it('a body that is not JSON still gives a typed error with a generic message', async () => {
    const s = await serve((_req, res) => {
      res.writeHead(502, { 'content-type': 'text/html' });
      res.end(`<html>bad gateway ${TOKEN}</html>`);
    });
    const err = await rejection(client(s.url).config.list());
    expect(err).toBeInstanceOf(ServerError);
    expect(err.code).toBe('BAD_GATEWAY');
    expect(err.message).toBe('GET /api/sdk/configs failed: HTTP 502 Bad Gateway');
  });

  it('a NestJS-style array message is joined', async () => {
    const s = await serve((_req, res) => sendJson(res, 400, { statusCode: 400, message: ['value must be a string', 'x is bad'], error: 'Bad Request' }));
    const err = await rejection(client(s.url).config.set('k', 1));
    expect(err).toBeInstanceOf(ValidationError);
    expect(err.message).toBe('value must be a string; x is bad');
    expect(err.code).toBe('VALIDATION_FAILED');
  });

  it('client-side errors', async () => {
    const err = await rejection(
      (async () => {
        client('http://127.0.0.1:1').execution.log('info', 'x');
      })(),
    );
    expect(err).toBeInstanceOf(ExecutionNotStartedError);
    expect(err.code).toBe('EXECUTION_NOT_STARTED');
    const t = new TimeoutError('t');
    expect([t.status, t.code, t.name]).toEqual([0, 'TIMEOUT', 'TimeoutError']);
    const c = new ConnectionError('c', { causeCode: 'ECONNRESET' });
    expect([c.status, c.code, c.name, c.causeCode]).toEqual([0, 'CONNECTION_FAILED', 'ConnectionError', 'ECONNRESET']);
  });
});

describe('ConfigNotFoundError reads like a KeyError', () => {
  it('quotes the key as Python repr does', () => {
    expect(pythonRepr('stripe_api_key')).toBe("'stripe_api_key'");
    expect(pythonRepr("it's")).toBe(`"it's"`);
    expect(pythonRepr(`it's "x"`)).toBe(`'it\\'s "x"'`);
    expect(pythonRepr('a\\b\n')).toBe("'a\\\\b\\n'");
    expect(pythonRepr('é')).toBe("'é'");
    expect(pythonRepr('\x01')).toBe("'\\x01'");
    const e = new ConfigNotFoundError('stripe_api_key');
    expect(e.message).toBe("'stripe_api_key'");
    expect(e.key).toBe('stripe_api_key');
    expect(e.name).toBe('ConfigNotFoundError');
    expect(e.code).toBe('CONFIG_NOT_FOUND');
    expect(e.status).toBe(404);
    expect(`${e}`).toBe("ConfigNotFoundError: 'stripe_api_key'");
  });
});

describe('no error carries the token or a submitted value', () => {
  const VALUE = 'sk_live_submitted_value_abcdefgh';
  const MULTI = 'line-one-secret\nline-two-secret';

  function everything(err: unknown): string {
    const e = err as BifrostError;
    return [e.message, String(e), e.stack ?? '', JSON.stringify(e), JSON.stringify(e.details ?? null), inspect(e, { depth: 10 })].join('\n');
  }

  /** A careless server that echoes everything it got. */
  async function echoing(status: number, code: string): Promise<StandIn> {
    return serve((req, res) => {
      const got = JSON.stringify({ headers: req.headers, body: req.body });
      sendError(res, status, code, `rejected ${got} from ${req.headers.authorization}`, {
        details: { received: req.body, auth: req.headers.authorization, [JSON.stringify(req.body)]: 'as key' },
      });
    });
  }

  it.each([
    [400, 'INVALID_VALUE'],
    [409, 'CONFLICT'],
    [413, 'PAYLOAD_TOO_LARGE'],
    [500, 'INTERNAL_ERROR'],
    [503, 'AUDIT_UNAVAILABLE'],
  ])('config.set with %i %s', async (status, code) => {
    const s = await echoing(status, code);
    const c = client(s.url);
    for (const value of [VALUE, { nested: [VALUE] }, MULTI]) {
      const err = await rejection(c.config.set('k', value, { isSecret: true }));
      expect(err).toBeInstanceOf(BifrostError);
      const text = everything(err);
      expect(text).not.toContain(TOKEN);
      expect(text).not.toContain(VALUE);
      expect(text).not.toContain('line-one-secret');
      expect(text).not.toContain('line-two-secret');
      expect(err.message).toContain('[REDACTED]');
    }
  });

  it('execution.registerSecret and log lines', async () => {
    const s = await serve((req, res) => {
      if (req.url === '/api/executions') return sendJson(res, 201, { id: 'e1', orgId: 'o', workflow: 'w', status: 'running' });
      sendError(res, 400, 'VALIDATION_FAILED', `bad ${JSON.stringify(req.body)} ${req.headers.authorization}`);
    });
    const c = client(s.url);
    await c.execution.start('w');
    const err = await rejection(c.execution.registerSecret(VALUE));
    expect(everything(err)).not.toContain(VALUE);
    expect(everything(err)).not.toContain(TOKEN);
    c.execution.log('info', `charging with ${VALUE}`);
    const err2 = await rejection(c.execution.flush());
    expect(err2).toBeInstanceOf(ValidationError);
    expect(everything(err2)).not.toContain(VALUE);
    expect(everything(err2)).not.toContain(TOKEN);
  });

  it('transport errors', async () => {
    const port = await closedPort();
    const c = client(`http://127.0.0.1:${port}`);
    const err = await rejection(c.config.set('k', VALUE));
    expect(err).toBeInstanceOf(ConnectionError);
    expect(everything(err)).not.toContain(TOKEN);
    expect(everything(err)).not.toContain(VALUE);
    const s = await serve(() => undefined);
    const err2 = await rejection(client(s.url, { timeoutMs: 50 }).config.set('k', VALUE));
    expect(err2).toBeInstanceOf(TimeoutError);
    expect(everything(err2)).not.toContain(TOKEN);
    expect(everything(err2)).not.toContain(VALUE);
  });

  it('a 404 on get names the key only', async () => {
    const s = await serve((req, res) => sendError(res, 404, 'CONFIG_NOT_FOUND', `no config, token ${req.headers.authorization}`));
    const err = await rejection(client(s.url).config.get('stripe_api_key'));
    expect(err.message).toBe("'stripe_api_key'");
    expect(everything(err)).not.toContain(TOKEN);
  });
});
