import Fastify, { FastifyInstance } from 'fastify';
import type { Principal } from '../auth/roles';
import { AllExceptionsFilter } from './all-exceptions.filter';
import { RequestContext, RequestWithContext } from './request-context';
import { registerTokenCheckBackstop } from './token-check-backstop';

const principal: Principal = { id: 'p', name: 'svc', role: 'service', orgId: 'o' };
type Check = NonNullable<RequestContext['tokenCheck']>;

/** A real Fastify app whose one route answers a secret-looking body with the token check left as `make` sets it. */
async function appWith(make: () => Check | undefined): Promise<{ app: FastifyInstance; checks: Check[] }> {
  const app = Fastify();
  const checks: Check[] = [];
  app.addHook('onRequest', (req, _reply, done) => {
    const ctx: RequestContext = { requestId: 'r', ip: null, userAgent: null, method: req.method, path: req.url };
    const check = make();
    if (check) {
      ctx.tokenCheck = check;
      checks.push(check);
    }
    (req as RequestWithContext).context = ctx;
    done();
  });
  registerTokenCheckBackstop(app);
  app.get('/read', async () => ({ value: 'the-plaintext' }));
  app.get('/refused', async (_req, reply) => reply.code(401).send({ statusCode: 401, error: 'Unauthorized', code: 'INVALID_TOKEN', message: 'x' }));
  await app.ready();
  return { app, checks };
}

const pending = (confirm: (check: Check) => Promise<boolean>): (() => Check) => () => {
  const check: Check = { hash: 'h', principal, state: 'pending', confirm: () => confirm(check) };
  return check;
};

describe('registerTokenCheckBackstop', () => {
  const denials: [number, string][] = [];
  beforeAll(() => AllExceptionsFilter.setDenialRecorder(async (_req, status, code) => void denials.push([status, code])));
  afterAll(() => AllExceptionsFilter.setDenialRecorder(undefined));
  beforeEach(() => (denials.length = 0));

  it('lets a response out untouched when there is no check, or it is confirmed', async () => {
    for (const make of [() => undefined, () => ({ hash: 'h', principal, state: 'confirmed' as const, confirm: async () => true })]) {
      const { app } = await appWith(make);
      const res = await app.inject('/read');
      expect([res.statusCode, res.json()]).toEqual([200, { value: 'the-plaintext' }]);
      await app.close();
    }
  });

  it('settles a check the handler left pending: the response goes out once the token is confirmed', async () => {
    const { app, checks } = await appWith(
      pending(async (check) => {
        check.state = 'confirmed';
        return true;
      }),
    );
    const res = await app.inject('/read');
    expect([res.statusCode, res.json()]).toEqual([200, { value: 'the-plaintext' }]);
    expect(checks[0].state).toBe('confirmed');
    expect(denials).toEqual([]);
    await app.close();
  });

  it('replaces the response with an audited 401 when the pending token turns out revoked', async () => {
    const { app } = await appWith(
      pending(async (check) => {
        check.state = 'refused';
        return false;
      }),
    );
    const res = await app.inject('/read');
    expect(res.statusCode).toBe(401);
    expect(res.json()).toEqual({ statusCode: 401, error: 'Unauthorized', code: 'INVALID_TOKEN', message: 'Unknown or revoked token' });
    expect(res.body).not.toContain('the-plaintext');
    expect(denials).toEqual([[401, 'INVALID_TOKEN']]);
    await app.close();
  });

  it('fails closed: a confirm that claims success without confirming, or that throws, sends nothing of the body', async () => {
    const liar = await appWith(pending(async () => true));
    const lied = await liar.app.inject('/read');
    expect([lied.statusCode, lied.json().code]).toEqual([401, 'INVALID_TOKEN']);
    await liar.app.close();

    const down = await appWith(
      pending(async () => {
        throw Object.assign(new Error('Connection lost: The server closed the connection.'), { code: 'PROTOCOL_CONNECTION_LOST', fatal: true });
      }),
    );
    const res = await down.app.inject('/read');
    expect([res.statusCode, res.json().code]).toEqual([503, 'DATABASE_UNAVAILABLE']);
    expect(res.body).not.toContain('the-plaintext');
    await down.app.close();
  });

  it('leaves a 401 of an already refused check as it is (audited once, by the exception filter)', async () => {
    const { app } = await appWith(() => ({ hash: 'h', principal, state: 'refused', confirm: async () => false }));
    const refused = await app.inject('/refused');
    expect([refused.statusCode, refused.json().code]).toEqual([401, 'INVALID_TOKEN']);
    // A refused check with any other answer is still turned into the 401.
    const other = await app.inject('/read');
    expect([other.statusCode, other.json().code]).toEqual([401, 'INVALID_TOKEN']);
    expect(denials).toEqual([[401, 'INVALID_TOKEN']]);
    await app.close();
  });
});
