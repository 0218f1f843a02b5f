/**
 * The service client (`src/client`, published as `bifrost-config/client`) against the REAL service:
 * a listening Nest/Fastify app on SQLite, or on MariaDB/MySQL when DATABASE_URL says so.
 * Stand-ins are used only where the real world would put something else between the two: an HTTP
 * proxy that fails on purpose (retries) and a payment provider (the charge_card workflow).
 */
import { randomBytes } from 'node:crypto';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import {
  BifrostClient,
  BifrostError,
  ClientLogEvent,
  ConfigNotFoundError,
  ConflictError,
  ConnectionError,
  ForbiddenError,
  InvalidValueError,
  NotFoundError,
  SecretValueMissingError,
  ServerError,
  ServiceUnavailableError,
  TimeoutError,
  UnauthorizedError,
  ValidationError,
} from '../src/client';
import { chargeCard } from '../src/client/examples/charge-card';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';
import { rejection } from '../src/client/testing/stand-in-server';

const MASK = '••••••';
const REDACTED = '[REDACTED]';

type Seeded = Awaited<ReturnType<typeof seedOrg>>;

interface Listening {
  url: string;
  close(): Promise<void>;
}

async function listen(server: Server): Promise<Listening> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** What the stand-in proxy does with the n-th request it sees (1-based). */
type ProxyAction =
  | 'forward'
  | 'drop' // destroy the connection without an answer (a TCP-level failure)
  | 'hang' // never answer
  | { status: number; body?: string; contentType?: string };

interface Proxy extends Listening {
  /** Every request the proxy saw, forwarded or not. */
  seen: { method: string; url: string }[];
  forwarded: number;
}

/** A stand-in HTTP proxy in front of the real service: it answers as `plan` says, or forwards. */
async function startProxy(target: string, plan: (n: number) => ProxyAction): Promise<Proxy> {
  const upstream = new URL(target);
  const proxy = { seen: [] as { method: string; url: string }[], forwarded: 0 };
  const server = createServer((req, res) => {
    proxy.seen.push({ method: req.method ?? '', url: req.url ?? '' });
    const action = plan(proxy.seen.length);
    if (action === 'drop') {
      req.socket.destroy();
      return;
    }
    if (action === 'hang') return;
    if (action !== 'forward') {
      req.resume();
      const body = action.body ?? '';
      res.writeHead(action.status, { 'content-type': action.contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    proxy.forwarded++;
    const out = httpRequest(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    out.on('error', () => res.destroy());
    req.pipe(out);
  });
  return Object.assign(proxy, await listen(server));
}

const errorBody = (status: number, error: string, code: string) => JSON.stringify({ statusCode: status, error, code, message: `stand-in proxy: ${error}` });
const status503 = { status: 503, body: errorBody(503, 'Service Unavailable', 'SERVICE_UNAVAILABLE') };


describe(`service client against the real service (${onMysql ? 'MariaDB' : 'SQLite'})`, () => {
  let t: TestApp;
  let acme: Seeded;
  let other: Seeded;
  const api = () => request(t.baseUrl);
  const uniq = (p: string) => `${p}_${randomBytes(4).toString('hex')}`;
  /** A client of acme's service token (fast backoff, so retry tests stay quick). */
  const acmeClient = (options: Partial<ConstructorParameters<typeof BifrostClient>[0]> = {}) =>
    new BifrostClient({ baseUrl: t.baseUrl, token: acme.service, retryBaseMs: 5, retryMaxMs: 20, ...options });
  const adminPut = (scope: string, key: string, body: object) =>
    api().put(`/api/scopes/${scope}/configs/${encodeURIComponent(key)}`).set(bearer(t.adminToken)).send(body);
  const adminGet = (scope: string, key: string) => api().get(`/api/scopes/${scope}/configs/${encodeURIComponent(key)}`).set(bearer(t.adminToken));

  beforeAll(async () => {
    t = await startApp({ listen: true });
    acme = await seedOrg(t, 'client-acme');
    other = await seedOrg(t, 'client-other');
  });
  afterAll(async () => t?.close());

  describe('config.get / set / list / delete', () => {
    // [what, value, inferred type]
    const cases: [string, unknown, string][] = [
      ['string', 'eu-west-1', 'string'],
      ['string of digits stays a string', '42', 'string'],
      ['unicode string', 'héllo 🌍 "quoted" \\ \n next', 'string'],
      ['int', 42, 'int'],
      ['negative int', -17, 'int'],
      ['max safe int', Number.MAX_SAFE_INTEGER, 'int'],
      ['bool true', true, 'bool'],
      ['bool false', false, 'bool'],
      ['json object', { retries: 3, endpoints: ['a', 'b'], nested: { on: true, none: null } }, 'json'],
      ['json array', [1, 'two', false, null, { x: 2.5 }], 'json'],
      ['empty json array', [], 'json'],
      ['a float is json', 2.5, 'json'],
      ['null is json', null, 'json'],
    ];

    it.each(cases)('round-trips a %s with the inferred type', async (_what, value, type) => {
      const { config } = acmeClient();
      const key = uniq('rt');
      await config.set(key, value);
      expect(await config.get(key)).toEqual(value);
      const stored = (await adminGet(acme.org.id, key).expect(200)).body;
      expect(stored).toMatchObject({ scope: acme.org.id, key, type, value, masked: false, hasValue: true });
      expect(stored.updatedBy).toBe('client-acme-service');
    });

    it('stores a secret encrypted and masked for people, and returns the plaintext to the service token', async () => {
      const { config } = acmeClient();
      const key = uniq('secret');
      const secret = `sk_live_${randomBytes(16).toString('hex')}`;
      await config.set(key, secret, { isSecret: true });
      expect(await config.get<string>(key)).toBe(secret);

      const asAdmin = await adminGet(acme.org.id, key).expect(200);
      expect(asAdmin.body).toMatchObject({ type: 'secret', value: MASK, masked: true, hasValue: true });
      expect(JSON.stringify(asAdmin.body)).not.toContain(secret);
      const asMember = await api().get(`/api/scopes/${acme.org.id}/configs/${key}`).set(bearer(acme.member)).expect(200);
      expect(asMember.body.value).toBe(MASK);
      // the service token cannot get it back through the admin API either
      const list = await config.list();
      expect(list[key]).toBe(MASK);
      expect(JSON.stringify(list)).not.toContain(secret);

      // a secret is replaced by sending its full new value
      const next = `sk_live_${randomBytes(16).toString('hex')}`;
      await config.set(key, next, { isSecret: true });
      expect(await config.get(key)).toBe(next);
      // isSecret: false on a string is a plain string
      const plainKey = uniq('plain');
      await config.set(plainKey, 'not-a-secret', { isSecret: false });
      expect((await adminGet(acme.org.id, plainKey).expect(200)).body).toMatchObject({ type: 'string', value: 'not-a-secret' });
    });

    it('lists the whole cascade as {key: value}, secrets masked', async () => {
      const { config } = acmeClient();
      const g = uniq('list_global');
      await adminPut('global', g, { type: 'int', value: 7 }).expect(201);
      const keys = { s: uniq('list_s'), i: uniq('list_i'), b: uniq('list_b'), j: uniq('list_j'), a: uniq('list_a'), x: uniq('list_x') };
      await config.set(keys.s, 'text');
      await config.set(keys.i, 5);
      await config.set(keys.b, true);
      await config.set(keys.j, { a: [1] });
      await config.set(keys.a, ['x']);
      await config.set(keys.x, 'hidden-value-123', { isSecret: true });
      const list = await config.list();
      expect(list).toMatchObject({
        [g]: 7,
        [keys.s]: 'text',
        [keys.i]: 5,
        [keys.b]: true,
        [keys.j]: { a: [1] },
        [keys.a]: ['x'],
        [keys.x]: MASK,
      });
      expect(JSON.stringify(list)).not.toContain('hidden-value-123');
      // another org sees the global key, not acme's
      const otherList = await new BifrostClient({ baseUrl: t.baseUrl, token: other.service }).config.list();
      expect(otherList[g]).toBe(7);
      expect(otherList[keys.s]).toBeUndefined();
    });

    it('deletes the org’s key; a second delete and a get raise ConfigNotFoundError', async () => {
      const { config } = acmeClient();
      const key = uniq('del');
      await config.set(key, { a: 1 });
      await config.delete(key);
      await expect(config.get(key)).rejects.toBeInstanceOf(ConfigNotFoundError);
      await adminGet(acme.org.id, key).expect(404);
      const again = await rejection(config.delete(key));
      expect(again).toBeInstanceOf(ConfigNotFoundError);
      expect(again.message).toBe(`'${key}'`);
      expect((await config.list())[key]).toBeUndefined();
    });

    it('keeps keys case-sensitive', async () => {
      const { config } = acmeClient();
      const key = uniq('Case');
      await config.set(key, 'upper');
      await config.set(key.toLowerCase(), 'lower');
      expect(await config.get(key)).toBe('upper');
      expect(await config.get(key.toLowerCase())).toBe('lower');
    });

    it('raises typed errors for values and keys the service refuses, without echoing the value', async () => {
      const { config } = acmeClient();
      const empty = await rejection(config.set(uniq('empty_secret'), '', { isSecret: true }));
      expect(empty).toBeInstanceOf(InvalidValueError);
      expect(empty).toMatchObject({ status: 400, code: 'INVALID_VALUE', method: 'PUT', attempts: 1 });

      const marker = `nonstring-secret-${randomBytes(6).toString('hex')}`;
      const notString = await rejection(config.set(uniq('obj_secret'), { marker }, { isSecret: true }));
      expect(notString).toBeInstanceOf(InvalidValueError);
      expect(JSON.stringify(notString)).not.toContain(marker);
      expect(notString.message).not.toContain(marker);

      const unsafe = await rejection(config.set(uniq('big_int'), 2 ** 60));
      expect(unsafe).toBeInstanceOf(InvalidValueError);

      const big = 'x'.repeat(70 * 1024);
      const tooLarge = await rejection(config.set(uniq('too_large'), big));
      expect(tooLarge).toBeInstanceOf(InvalidValueError);
      expect(tooLarge).toMatchObject({ status: 400, code: 'VALUE_TOO_LARGE' });
      expect(tooLarge.message).not.toContain('xxxx');

      const badKey = await rejection(config.get('has space'));
      expect(badKey).toBeInstanceOf(ValidationError);
      expect(badKey).toMatchObject({ status: 400, code: 'INVALID_KEY' });
      // '.' and '..' never leave the client (they would change the URL's meaning)
      expect(await rejection(config.get('..'))).toMatchObject({ status: 0, code: 'INVALID_KEY' });
    });
  });

  describe('ConfigNotFoundError and default', () => {
    it('raises a KeyError-like ConfigNotFoundError for a missing key', async () => {
      const { config } = acmeClient();
      const err = await rejection(config.get('stripe_api_key_missing'));
      expect(err).toBeInstanceOf(ConfigNotFoundError);
      expect(err).toBeInstanceOf(NotFoundError);
      expect(err).toBeInstanceOf(BifrostError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe('ConfigNotFoundError');
      // str(KeyError('stripe_api_key_missing')) in Python
      expect(err.message).toBe("'stripe_api_key_missing'");
      expect(String(err)).toBe("ConfigNotFoundError: 'stripe_api_key_missing'");
      expect((err as ConfigNotFoundError).key).toBe('stripe_api_key_missing');
      expect(err).toMatchObject({ status: 404, code: 'CONFIG_NOT_FOUND', method: 'GET', path: '/api/sdk/configs/stripe_api_key_missing', attempts: 1 });
      expect(err.requestId).toMatch(/^[0-9a-f-]{36}$/);
    });

    it('returns the default instead, and only for a missing key', async () => {
      const { config } = acmeClient();
      expect(await config.get('missing_with_default', { default: 'eu-west-1' })).toBe('eu-west-1');
      expect(await config.get('missing_with_default', { default: 0 })).toBe(0);
      expect(await config.get('missing_with_default', { default: null })).toBeNull();
      expect(await config.get('missing_with_default', { default: undefined })).toBeUndefined();
      const key = uniq('present');
      await config.set(key, false);
      expect(await config.get(key, { default: true })).toBe(false);
      // other errors are not swallowed by a default
      const stranger = new BifrostClient({ baseUrl: t.baseUrl, token: acme.member });
      await expect(stranger.config.get(key, { default: 'x' })).rejects.toBeInstanceOf(ForbiddenError);
    });
  });

  describe('a secret without a value', () => {
    it('raises SecretValueMissingError after a portable import, until the value is set', async () => {
      const key = uniq('imported_secret');
      const bundle = {
        format: 'bifrost-config-bundle',
        version: 1,
        portable: true,
        exportedAt: new Date().toISOString(),
        configs: [{ scope: { org: acme.org.name }, key, type: 'secret', description: 'imported without its value', value: null }],
      };
      const imported = await api().post('/api/import?dryRun=false').set(bearer(t.adminToken)).send(bundle).expect(200);
      expect(imported.body.secretsNeedingValue).toEqual([{ scope: { org: acme.org.name }, key }]);
      const { config } = acmeClient();
      const err = await rejection(config.get(key));
      expect(err).toBeInstanceOf(SecretValueMissingError);
      expect(err).toBeInstanceOf(ConflictError);
      expect(err).toMatchObject({ status: 409, code: 'SECRET_VALUE_MISSING', attempts: 1 });
      // a default is for a missing key, not for a secret waiting for its value
      await expect(config.get(key, { default: 'x' })).rejects.toBeInstanceOf(SecretValueMissingError);
      expect((await config.list())[key]).toBeNull();
      await config.set(key, 'now-it-has-a-value', { isSecret: true });
      expect(await config.get(key)).toBe('now-it-has-a-value');
    });
  });

  describe('org shadowing of a global key', () => {
    it('reads the global value until the org sets its own, and again after the org deletes it', async () => {
      const { config } = acmeClient();
      const otherConfig = new BifrostClient({ baseUrl: t.baseUrl, token: other.service }).config;
      const key = uniq('shadowed');
      await adminPut('global', key, { type: 'string', value: 'global-value', description: 'set by ops' }).expect(201);

      expect(await config.get(key)).toBe('global-value');
      expect(await otherConfig.get(key)).toBe('global-value');

      await config.set(key, 'acme-value');
      expect(await config.get(key)).toBe('acme-value');
      expect((await config.list())[key]).toBe('acme-value');
      expect(await otherConfig.get(key)).toBe('global-value');
      expect((await adminGet('global', key).expect(200)).body.value).toBe('global-value');

      // the org's row may even have another type
      await config.set(key, { region: 'acme' });
      expect(await config.get(key)).toEqual({ region: 'acme' });

      await config.delete(key);
      expect(await config.get(key)).toBe('global-value');
      // the global row is not the org's to delete
      await expect(config.delete(key)).rejects.toBeInstanceOf(ConfigNotFoundError);
      expect(await config.get(key)).toBe('global-value');
    });

    it('shadows a global secret with the org’s own', async () => {
      const { config } = acmeClient();
      const key = uniq('shadowed_secret');
      await adminPut('global', key, { type: 'secret', value: 'global-secret-value' }).expect(201);
      expect(await config.get(key)).toBe('global-secret-value');
      await config.set(key, 'acme-secret-value', { isSecret: true });
      expect(await config.get(key)).toBe('acme-secret-value');
      expect((await config.list())[key]).toBe(MASK);
    });
  });

  describe('an org-less service token names its org', () => {
    let orgless: string;
    beforeAll(async () => {
      orgless = (await api().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'engine', role: 'service' }).expect(201)).body.token;
    });

    it('acts for the org given by id or by name (X-Bifrost-Org)', async () => {
      const key = uniq('orgless');
      await acmeClient().config.set(key, 'acme-only');
      const byId = new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: acme.org.id });
      const byName = new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: acme.org.name });
      const asOther = new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: other.org.name });
      expect(await byId.config.get(key)).toBe('acme-only');
      expect(await byName.config.get(key)).toBe('acme-only');
      await expect(asOther.config.get(key)).rejects.toBeInstanceOf(ConfigNotFoundError);

      // writes land in the named org's scope
      const written = uniq('orgless_write');
      await byName.config.set(written, 12);
      expect((await adminGet(acme.org.id, written).expect(200)).body).toMatchObject({ type: 'int', value: 12, updatedBy: 'engine' });
      expect(await acmeClient().config.get(written)).toBe(12);
      expect((await byId.config.list())[written]).toBe(12);
      await byId.config.delete(written);
      await expect(acmeClient().config.get(written)).rejects.toBeInstanceOf(ConfigNotFoundError);
    });

    it('names an org with non-ASCII letters: Latin-1 names as they are, any other by id', async () => {
      const zurich = (await api().post('/api/orgs').set(bearer(t.adminToken)).send({ name: 'Zürich Ops' }).expect(201)).body;
      const tokyo = (await api().post('/api/orgs').set(bearer(t.adminToken)).send({ name: '東京 ops' }).expect(201)).body;
      const key = uniq('intl');
      await adminPut(zurich.id, key, { type: 'string', value: 'zurich' }).expect(201);
      await adminPut(tokyo.id, key, { type: 'string', value: 'tokyo' }).expect(201);
      expect(await new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: 'Zürich Ops' }).config.get(key)).toBe('zurich');
      // an HTTP header cannot carry 東京: the client says so at once, and the id works
      expect(() => new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: tokyo.name })).toThrow(/org id/);
      expect(await new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: tokyo.id }).config.get(key)).toBe('tokyo');
    });

    it('is refused without an org, with an unknown org, and an org token may not name another org', async () => {
      const none = await rejection(new BifrostClient({ baseUrl: t.baseUrl, token: orgless }).config.get('anything'));
      expect(none).toBeInstanceOf(ValidationError);
      expect(none).toMatchObject({ status: 400, code: 'ORG_REQUIRED' });
      const unknown = await rejection(new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: 'no-such-org' }).config.get('anything'));
      expect(unknown).toBeInstanceOf(NotFoundError);
      expect(unknown).not.toBeInstanceOf(ConfigNotFoundError);
      expect(unknown.code).toBe('ORG_NOT_FOUND');
      const crossing = await rejection(acmeClient({ org: other.org.name }).config.get('anything'));
      expect(crossing).toBeInstanceOf(ForbiddenError);
      // naming its own org is fine
      await expect(acmeClient({ org: acme.org.name }).config.get('anything', { default: 1 })).resolves.toBe(1);
    });
  });

  describe('no stale cache', () => {
    it('picks up a value an admin changed on the very next get', async () => {
      const { config } = acmeClient();
      const key = uniq('rotating');
      await adminPut(acme.org.id, key, { type: 'secret', value: 'first-secret-value' }).expect(201);
      expect(await config.get(key)).toBe('first-secret-value');
      await adminPut(acme.org.id, key, { type: 'secret', value: 'rotated-secret-value' }).expect(200);
      expect(await config.get(key)).toBe('rotated-secret-value');

      const plain = uniq('flag');
      await adminPut('global', plain, { type: 'bool', value: false }).expect(201);
      expect(await config.get(plain)).toBe(false);
      await adminPut('global', plain, { type: 'bool', value: true }).expect(200);
      expect(await config.get(plain)).toBe(true);
      await api().delete(`/api/scopes/global/configs/${plain}`).set(bearer(t.adminToken)).expect(204);
      await expect(config.get(plain)).rejects.toBeInstanceOf(ConfigNotFoundError);
    });
  });

  describe('authentication', () => {
    it('raises UnauthorizedError for an unknown or revoked token, ForbiddenError for a person’s token', async () => {
      const unknown = await rejection(new BifrostClient({ baseUrl: t.baseUrl, token: 'bft_' + randomBytes(32).toString('base64url') }).config.get('x'));
      expect(unknown).toBeInstanceOf(UnauthorizedError);
      expect(unknown.attempts).toBe(1);

      const created = (await api().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'short-lived-service', role: 'service', orgId: acme.org.id }).expect(201)).body;
      const client = new BifrostClient({ baseUrl: t.baseUrl, token: created.token });
      await expect(client.config.get('x', { default: 'ok' })).resolves.toBe('ok');
      await api().delete(`/api/tokens/${created.id}`).set(bearer(t.adminToken)).expect(204);
      const revoked = await rejection(client.config.get('x', { default: 'ok' }));
      expect(revoked).toBeInstanceOf(UnauthorizedError);
      // the token never appears in an error
      expect(JSON.stringify(revoked) + revoked.message + String(revoked.stack)).not.toContain(created.token);

      const member = await rejection(new BifrostClient({ baseUrl: t.baseUrl, token: acme.member }).config.get('x'));
      expect(member).toBeInstanceOf(ForbiddenError);
      expect(member.status).toBe(403);
    });
  });

  describe('retries, through a stand-in proxy', () => {
    const proxies: Proxy[] = [];
    afterEach(async () => {
      await Promise.all(proxies.splice(0).map((p) => p.close()));
    });
    const proxyClient = async (plan: (n: number) => ProxyAction, options: Partial<ConstructorParameters<typeof BifrostClient>[0]> = {}) => {
      const proxy = await startProxy(t.baseUrl, plan);
      proxies.push(proxy);
      const events: ClientLogEvent[] = [];
      const client = acmeClient({ baseUrl: proxy.url, logger: (e) => events.push(e), ...options });
      return { proxy, client, events };
    };
    let key: string;
    beforeAll(async () => {
      key = uniq('retry');
      await adminPut(acme.org.id, key, { type: 'json', value: { ok: true } }).expect(201);
    });

    it('retries a GET after 503s and succeeds', async () => {
      const { proxy, client, events } = await proxyClient((n) => (n <= 2 ? status503 : 'forward'));
      expect(await client.config.get(key)).toEqual({ ok: true });
      expect(proxy.seen).toHaveLength(3);
      expect(proxy.forwarded).toBe(1);
      expect(proxy.seen.every((r) => r.method === 'GET' && r.url === `/api/sdk/configs/${key}`)).toBe(true);
      expect(events.map((e) => [e.attempt, e.status, e.errorCode, e.retryInMs === undefined ? 'final' : 'retry'])).toEqual([
        [1, 503, 'SERVICE_UNAVAILABLE', 'retry'],
        [2, 503, 'SERVICE_UNAVAILABLE', 'retry'],
        [3, 200, undefined, 'final'],
      ]);
    });

    it.each([
      [502, { status: 502, body: '<html><body>502 Bad Gateway</body></html>', contentType: 'text/html' }],
      [503, status503],
      [504, { status: 504, body: '' }],
    ] as [number, ProxyAction][])('retries a GET after a %s from a gateway (whatever its body)', async (_status, action) => {
      const { proxy, client } = await proxyClient((n) => (n === 1 ? action : 'forward'));
      expect(await client.config.get(key)).toEqual({ ok: true });
      expect(proxy.seen).toHaveLength(2);
    });

    it('retries after a dropped connection', async () => {
      const { proxy, client, events } = await proxyClient((n) => (n === 1 ? 'drop' : 'forward'));
      expect(await client.config.get(key)).toEqual({ ok: true });
      expect(proxy.seen).toHaveLength(2);
      expect(events[0]).toMatchObject({ attempt: 1, status: 0, errorCode: 'CONNECTION_FAILED' });
    });

    it('times out an attempt that gets no answer, and retries a GET but never a POST', async () => {
      const { proxy, client, events } = await proxyClient((n) => (n === 1 ? 'hang' : 'forward'), { timeoutMs: 300 });
      expect(await client.config.get(key)).toEqual({ ok: true });
      expect(proxy.seen).toHaveLength(2);
      expect(events[0]).toMatchObject({ attempt: 1, status: 0, errorCode: 'TIMEOUT' });
      expect(events[0].durationMs).toBeGreaterThanOrEqual(250);

      const post = await proxyClient(() => 'hang', { timeoutMs: 300 });
      const err = await rejection(post.client.execution.start('charge_card'));
      expect(err).toBeInstanceOf(TimeoutError);
      expect(err).toMatchObject({ status: 0, code: 'TIMEOUT', attempts: 1 });
      expect(post.proxy.seen).toHaveLength(1);
    });

    it('retries the idempotent PUT and DELETE, and they take effect once', async () => {
      const written = uniq('retry_put');
      const put = await proxyClient((n) => (n === 1 ? status503 : 'forward'));
      await put.client.config.set(written, 'through the proxy');
      expect(put.proxy.seen.map((r) => r.method)).toEqual(['PUT', 'PUT']);
      expect(await acmeClient().config.get(written)).toBe('through the proxy');

      const del = await proxyClient((n) => (n === 1 ? status503 : 'forward'));
      await del.client.config.delete(written);
      expect(del.proxy.seen.map((r) => r.method)).toEqual(['DELETE', 'DELETE']);
      await expect(acmeClient().config.get(written)).rejects.toBeInstanceOf(ConfigNotFoundError);
    });

    it('gives up after `retries` retries with the last error', async () => {
      const { proxy, client } = await proxyClient(() => status503, { retries: 2 });
      const err = await rejection(client.config.get(key));
      expect(err).toBeInstanceOf(ServiceUnavailableError);
      expect(err).toMatchObject({ status: 503, attempts: 3 });
      expect(proxy.seen).toHaveLength(3);
      expect(proxy.forwarded).toBe(0);
    });

    it('does not retry a 400', async () => {
      const { proxy, client, events } = await proxyClient((n) =>
        n === 1 ? { status: 400, body: errorBody(400, 'Bad Request', 'VALIDATION_FAILED') } : 'forward',
      );
      const err = await rejection(client.config.get(key));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err).toMatchObject({ status: 400, attempts: 1 });
      expect(proxy.seen).toHaveLength(1);
      expect(events).toHaveLength(1);
    });

    it('does not retry a 400, a 404 or a 500 from the real service', async () => {
      const { proxy, client } = await proxyClient(() => 'forward');
      await expect(client.config.get('not valid')).rejects.toMatchObject({ status: 400, code: 'INVALID_KEY', attempts: 1 });
      expect(proxy.seen).toHaveLength(1);
      await expect(client.config.get('missing_through_proxy')).rejects.toBeInstanceOf(ConfigNotFoundError);
      expect(proxy.seen).toHaveLength(2);

      const five = await proxyClient((n) => (n === 1 ? { status: 500, body: errorBody(500, 'Internal Server Error', 'INTERNAL_ERROR') } : 'forward'));
      const err = await rejection(five.client.config.get(key));
      expect(err).toBeInstanceOf(ServerError);
      expect(err).not.toBeInstanceOf(ServiceUnavailableError);
      expect(five.proxy.seen).toHaveLength(1);
    });

    it('never retries a POST (execution.start)', async () => {
      const { proxy, client } = await proxyClient(() => status503);
      await expect(client.execution.start('charge_card')).rejects.toBeInstanceOf(ServiceUnavailableError);
      expect(proxy.seen).toEqual([{ method: 'POST', url: '/api/executions' }]);
    });

    it('raises ConnectionError when nothing listens, after its retries', async () => {
      const closed = await listen(createServer());
      await closed.close();
      const events: ClientLogEvent[] = [];
      const err = await rejection(acmeClient({ baseUrl: closed.url, retries: 2, logger: (e) => events.push(e) }).config.get(key));
      expect(err).toBeInstanceOf(ConnectionError);
      expect(err.attempts).toBe(3);
      expect(events).toHaveLength(3);
    });
  });

  describe('the charge_card workflow, end to end', () => {
    interface Payment {
      server: Listening;
      seen: { authorization?: string; body: unknown; headers: IncomingHttpHeaders }[];
    }
    let payment: Payment;
    let stripeKey: string;

    beforeAll(async () => {
      const seen: Payment['seen'] = [];
      const server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          seen.push({ authorization: req.headers.authorization, body: text ? JSON.parse(text) : undefined, headers: req.headers });
          const body = JSON.stringify({ id: `ch_${seen.length}`, status: 'succeeded' });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
      });
      payment = { server: await listen(server), seen };
      stripeKey = `sk_live_${randomBytes(18).toString('base64url')}`;
      await adminPut(acme.org.id, 'stripe_api_key', { type: 'secret', value: stripeKey, description: 'Stripe live key' }).expect(201);
    });
    afterAll(async () => payment?.server.close());

    const expectScrubbed = (record: Record<string, unknown>) => {
      const text = JSON.stringify(record);
      expect(text).not.toContain(stripeKey);
      expect(text).not.toContain(Buffer.from(stripeKey).toString('base64'));
      expect(text).not.toContain(Buffer.from(stripeKey).toString('base64url'));
    };

    it('pays with the real key, and the stored execution shows [REDACTED] instead of it', async () => {
      const client = acmeClient();
      const paymentUrl = `${payment.server.url}/v1/charges`;
      const run = await chargeCard(client, { amount: 1999, currency: 'usd', paymentUrl });

      // the payment provider got the real key
      const charge = payment.seen.at(-1)!;
      expect(charge.authorization).toBe(`Bearer ${stripeKey}`);
      expect(charge.body).toEqual({ amount: 1999, currency: 'usd' });
      // the workflow itself holds it (that is its mistake)
      expect(run.result).toMatchObject({ charged: true, chargeId: `ch_${payment.seen.length}`, amount: 1999, currency: 'usd', apiKey: stripeKey });

      // as the service token, through the client
      const asService = await client.execution.get(run.executionId);
      // as an admin, and as a member of the org
      const asAdmin = (await api().get(`/api/executions/${run.executionId}`).set(bearer(t.adminToken)).expect(200)).body;
      const asMember = (await api().get(`/api/executions/${run.executionId}`).set(bearer(acme.member)).expect(200)).body;
      for (const record of [asService, asAdmin, asMember]) {
        expectScrubbed(record);
        expect(record).toMatchObject({
          id: run.executionId,
          orgId: acme.org.id,
          workflow: 'charge_card',
          status: 'success',
          result: { charged: true, amount: 1999, currency: 'usd', apiKey: REDACTED },
          error: null,
        });
        expect(record.logs).toEqual([expect.objectContaining({ level: 'info', message: `charging with ${REDACTED}` })]);
        expect(record.startedAt).toEqual(expect.any(String));
        expect(record.finishedAt).toEqual(expect.any(String));
      }
      // another org's people do not see it at all
      await api().get(`/api/executions/${run.executionId}`).set(bearer(other.member)).expect(404);
      await expect(new BifrostClient({ baseUrl: t.baseUrl, token: other.service }).execution.get(run.executionId)).rejects.toBeInstanceOf(NotFoundError);

      // the read was audited with the execution, and the audit holds no value
      const audit = (await api().get(`/api/audit?action=config.read&key=stripe_api_key`).set(bearer(t.adminToken)).expect(200)).body.items;
      expect(audit).toEqual(expect.arrayContaining([expect.objectContaining({ executionId: run.executionId, outcome: 'success', scope: acme.org.id })]));
      expect(JSON.stringify(audit)).not.toContain(stripeKey);

      // scrubbed before it was stored, not only on the way out
      const tables = (await t.dataSource.query(onMysql ? 'SHOW TABLES' : "SELECT name FROM sqlite_master WHERE type = 'table'")) as Record<string, string>[];
      for (const table of tables.map((r) => Object.values(r)[0]).filter((n) => /exec/i.test(n))) {
        const rows = await t.dataSource.query(`SELECT * FROM ${table}`);
        expect(JSON.stringify(rows)).not.toContain(stripeKey);
      }
    });

    it('runs inside the execution with its execution token: the service token only starts it (issue 17)', async () => {
      const sent: { method: string; url: string; token: string }[] = [];
      const spy: typeof fetch = (input, init) => {
        const headers = new Headers(init?.headers);
        sent.push({ method: init?.method ?? 'GET', url: String(input), token: (headers.get('authorization') ?? '').replace(/^Bearer /, '') });
        return fetch(input, init);
      };
      const client = acmeClient({ fetch: spy as never });
      const run = await chargeCard(client, { amount: 500, currency: 'eur', paymentUrl: `${payment.server.url}/v1/charges` });
      const paths = sent.map((r) => `${r.method} ${new URL(r.url).pathname}`);
      expect(paths).toEqual(['POST /api/executions', 'GET /api/sdk/configs/stripe_api_key', `POST /api/executions/${run.executionId}/logs`, `POST /api/executions/${run.executionId}/finish`]);
      expect(sent[0].token).toBe(acme.service);
      const executionToken = sent[1].token;
      expect(executionToken).not.toBe(acme.service);
      for (const r of sent.slice(1)) expect(r.token).toBe(executionToken);
      // The read was made by the execution token, registered with the execution (no header), audited with it.
      const reads = (await api().get('/api/audit').query({ action: 'config.read', key: 'stripe_api_key', limit: '500' }).set(bearer(t.adminToken)).expect(200)).body.items;
      expect(reads).toEqual(expect.arrayContaining([expect.objectContaining({ executionId: run.executionId, outcome: 'success', actor: expect.objectContaining({ role: 'execution' }) })]));
      const stored = (await api().get(`/api/executions/${run.executionId}`).set(bearer(t.adminToken)).expect(200)).body;
      expect(stored.logs).toEqual([expect.objectContaining({ message: `charging with ${REDACTED}` })]);
      // The run is over: its token is dead, and the client reads with the service token again.
      expect((await api().get('/api/sdk/configs/stripe_api_key').set(bearer(executionToken)).expect(401)).body.code).toBe('EXECUTION_TOKEN_FINISHED');
      expect(await client.config.get('stripe_api_key')).toBe(stripeKey);
      expect(sent.at(-1)!.token).toBe(acme.service);
    });

    it('scrubs the key for an org-less service token too, and the forms a workflow might log', async () => {
      const orgless = (await api().post('/api/tokens').set(bearer(t.adminToken)).send({ name: 'engine-charge', role: 'service' }).expect(201)).body.token;
      const { config, execution } = new BifrostClient({ baseUrl: t.baseUrl, token: orgless, org: acme.org.name });
      const { id } = await execution.start('charge_card');
      const apiKey = await config.get<string>('stripe_api_key');
      expect(apiKey).toBe(stripeKey);
      const oauth = `ya29.${randomBytes(24).toString('base64url')}`;
      await execution.registerSecret(oauth);
      execution.log('info', `key=${apiKey}`);
      execution.log('debug', `json=${JSON.stringify({ apiKey })}`);
      execution.log('debug', `url=https://api.example.com/?key=${encodeURIComponent(apiKey)}`);
      execution.log('debug', `b64=${Buffer.from(apiKey).toString('base64')}`);
      execution.log('warning', `oauth=${oauth}`);
      // a level the service would refuse is refused at the call, and the batch is not lost
      expect(() => execution.log('x'.repeat(17), `level ${apiKey}`)).toThrow(ValidationError);
      const finished = await execution.finish({ apiKey, oauth, nested: [{ headers: { authorization: `Bearer ${apiKey}` } }] });
      expect(finished.status).toBe('success');
      // finished is finished
      const again = await rejection(execution.finish({ apiKey }));
      expect(again).toBeInstanceOf(ConflictError);
      expect(again.code).toBe('EXECUTION_FINISHED');
      execution.log('info', 'too late');
      await expect(execution.flush()).rejects.toMatchObject({ status: 409, code: 'EXECUTION_FINISHED' });

      for (const record of [finished, await execution.get(id), (await api().get(`/api/executions/${id}`).set(bearer(t.adminToken)).expect(200)).body]) {
        expectScrubbed(record);
        expect(JSON.stringify(record)).not.toContain(oauth);
        expect(record.result).toEqual({ apiKey: REDACTED, oauth: REDACTED, nested: [{ headers: { authorization: `Bearer ${REDACTED}` } }] });
        expect((record.logs as { message: string }[]).map((l) => l.message)).toEqual([
          `key=${REDACTED}`,
          `json=${JSON.stringify({ apiKey: REDACTED })}`,
          `url=https://api.example.com/?key=${REDACTED}`,
          `b64=${REDACTED}`,
          `oauth=${REDACTED}`,
        ]);
      }
    });

    it('leaves neither the key nor a token in the service’s own log lines', () => {
      const logs = t.logLines.join('\n');
      expect(t.logLines.length).toBeGreaterThan(0);
      for (const secret of [stripeKey, acme.service, other.service, t.adminToken]) expect(logs).not.toContain(secret);
    });

    it('records a failed run when the key is missing, with the KeyError-like message', async () => {
      const { config } = new BifrostClient({ baseUrl: t.baseUrl, token: other.service });
      await expect(config.get('stripe_api_key')).rejects.toBeInstanceOf(ConfigNotFoundError);
      const client = new BifrostClient({ baseUrl: t.baseUrl, token: other.service });
      const err = await rejection(chargeCard(client, { amount: 5, currency: 'eur', paymentUrl: `${payment.server.url}/v1/charges` }));
      expect(err).toBeInstanceOf(ConfigNotFoundError);
      const stored = await client.execution.get();
      expect(stored).toMatchObject({ status: 'failed', orgId: other.org.id, error: { name: 'ConfigNotFoundError', message: "'stripe_api_key'" } });
    });
  });
});
