import type { DataSource } from 'typeorm';
import type { AuditService } from '../audit/audit.service';
import type { AppEnv } from '../common/env';
import { RequestContext, runWithContext } from '../common/request-context';
import type { OrgsService } from '../scopes/orgs.service';
import { AuthThrottle } from './auth-throttle';
import { hashToken, TokensService } from './tokens.service';

const TOKEN = 'bft_' + 'a'.repeat(43);
const ROW = { id: 'tok-1', name: 'svc', role: 'service', org_id: 'org-1', token_hash: hashToken(TOKEN), revoked_at: null as string | null, expires_at: null as string | null, execution_id: null as string | null, execution_status: null as string | null };

/** api_tokens as the service reads it (rawQuery goes through query() on SQLite). */
class FakeTokens {
  row = { ...ROW };
  lookups = 0;
  options = { type: 'better-sqlite3' };
  async query(sql: string, params: unknown[]): Promise<unknown[]> {
    // lastUsedAt is written in the background (not what these tests count).
    if (sql.startsWith('UPDATE api_tokens SET last_used_at = ?')) return [];
    if (!sql.startsWith('SELECT id, name, role, org_id, token_hash, revoked_at, expires_at, execution_id,') || !sql.endsWith('FROM api_tokens WHERE token_hash = ?')) throw new Error(`unexpected SQL: ${sql}`);
    this.lookups++;
    return params[0] === this.row.token_hash ? [this.row] : [];
  }
}

const ctx = (): RequestContext => ({ requestId: 'r', ip: '10.0.0.1', userAgent: null, method: 'GET', path: '/api/sdk/configs/k' });

describe('TokensService: the known-token path of @TokenCheckedByHandler routes', () => {
  let db: FakeTokens;
  let throttle: AuthThrottle;
  let tokens: TokensService;

  beforeEach(() => {
    db = new FakeTokens();
    throttle = new AuthThrottle();
    tokens = new TokensService(db as unknown as DataSource, {} as OrgsService, {} as AuditService, {} as AppEnv, throttle);
  });

  const authenticate = (c: RequestContext, checkedByHandler: boolean) => runWithContext(c, () => tokens.authenticate(TOKEN, checkedByHandler));

  it('reads the row on every request of an ordinary route', async () => {
    for (let i = 0; i < 3; i++) expect(await authenticate(ctx(), false)).toEqual({ id: 'tok-1', name: 'svc', role: 'service', orgId: 'org-1' });
    expect(db.lookups).toBe(3);
  });

  it('reads the row for a token it does not know yet, then leaves the check to the handler', async () => {
    const first = ctx();
    await authenticate(first, true);
    expect(db.lookups).toBe(1);
    expect(first.tokenCheck).toBeUndefined();

    const second = ctx();
    expect(await authenticate(second, true)).toEqual({ id: 'tok-1', name: 'svc', role: 'service', orgId: 'org-1' });
    expect(db.lookups).toBe(1);
    expect(second.tokenCheck).toMatchObject({ hash: ROW.token_hash, state: 'pending' });
    expect(JSON.stringify(second.tokenCheck)).not.toContain(TOKEN);
  });

  it('confirms with the row the handler read, and refuses a revoked, missing or changed one with 401 INVALID_TOKEN', async () => {
    await authenticate(ctx(), true);
    const good = { id: 'tok-1', role: 'service', org_id: 'org-1', active: 1 };
    const cases: [string, typeof good | undefined][] = [
      ['revoked', { ...good, active: 0 }],
      ['gone', undefined],
      ['another role', { ...good, role: 'admin' }],
      ['another org', { ...good, org_id: 'org-2' }],
      ['another token', { ...good, id: 'tok-2' }],
    ];
    for (const [what, row] of cases) {
      const c = ctx();
      await authenticate(c, true);
      expect(c.tokenCheck?.state).toBe('pending');
      let thrown: { getStatus(): number; code: string } | undefined;
      try {
        tokens.confirmFromRow(c, row);
      } catch (err) {
        thrown = err as typeof thrown;
      }
      expect({ what, status: thrown?.getStatus(), code: thrown?.code }).toEqual({ what, status: 401, code: 'INVALID_TOKEN' });
      expect(c.tokenCheck?.state).toBe('refused');
      // Forgotten: the next request reads the row again.
      const lookups = db.lookups;
      await authenticate(ctx(), true);
      expect(db.lookups).toBe(lookups + 1);
    }
    const c = ctx();
    await authenticate(c, true);
    tokens.confirmFromRow(c, { ...good, active: '1' } as unknown as typeof good);
    expect(c.tokenCheck?.state).toBe('confirmed');
  });

  it('never trusts a cached principal past its token expiry (issue 17): the row is read and the token refused 401 TOKEN_EXPIRED', async () => {
    const realNow = Date.now;
    const start = realNow();
    try {
      Date.now = () => start;
      db.row = { ...ROW, expires_at: new Date(start + 60_000).toISOString() };
      await authenticate(ctx(), true);
      const cached = ctx();
      expect(await authenticate(cached, true)).toMatchObject({ id: 'tok-1', expiresAt: start + 60_000 });
      expect(cached.tokenCheck?.state).toBe('pending');
      // Past the expiry: the pending check of a request trusted just before it is refused with its code ...
      Date.now = () => start + 60_001;
      expect(() => tokens.confirmFromRow(cached, { id: 'tok-1', role: 'service', org_id: 'org-1', active: 1 })).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
      // ... and the next request is not served from memory: the row is read, and the token refused.
      const lookups = db.lookups;
      const late = ctx();
      await expect(authenticate(late, true)).rejects.toMatchObject({ code: 'TOKEN_EXPIRED', status: 401 });
      expect(db.lookups).toBe(lookups + 1);
      expect(late.tokenCheck).toBeUndefined();
    } finally {
      Date.now = realNow;
    }
  });

  it('refuses an execution token whose execution finished with 401 EXECUTION_TOKEN_FINISHED, cached or not', async () => {
    db.row = { ...ROW, role: 'execution', execution_id: 'exec-1', execution_status: 'running' };
    await authenticate(ctx(), true);
    const cached = ctx();
    await authenticate(cached, true);
    expect(() => tokens.confirmFromRow(cached, { id: 'tok-1', role: 'execution', org_id: 'org-1', active: 2 })).toThrow(expect.objectContaining({ code: 'EXECUTION_TOKEN_FINISHED' }));
    db.row = { ...db.row, execution_status: 'success' };
    await expect(authenticate(ctx(), false)).rejects.toMatchObject({ code: 'EXECUTION_TOKEN_FINISHED' });
  });

  it('counts a refusal as a failed authentication for the throttle', async () => {
    await authenticate(ctx(), true);
    for (let i = 0; i < 11; i++) {
      const c = ctx();
      await authenticate(c, true);
      expect(() => tokens.confirmFromRow(c, undefined)).toThrow();
      await authenticate(ctx(), false); // known again
    }
    expect(throttle.isBlocked('10.0.0.1')).toBe(true);
  });

  it('confirmPending reads the row itself (the backstop), once', async () => {
    await authenticate(ctx(), true);
    const c = ctx();
    await authenticate(c, true);
    expect(await c.tokenCheck!.confirm()).toBe(true);
    expect(c.tokenCheck!.state).toBe('confirmed');

    const revoked = ctx();
    await authenticate(revoked, true);
    db.row.revoked_at = '2026-11-29 12:00:00.000';
    const lookups = db.lookups;
    expect(await revoked.tokenCheck!.confirm()).toBe(false);
    expect(await revoked.tokenCheck!.confirm()).toBe(false);
    expect(db.lookups).toBe(lookups + 1);
    expect(revoked.tokenCheck!.state).toBe('refused');
  });

  it('forgets a token it revokes', async () => {
    await authenticate(ctx(), true);
    const em = {
      findOne: async () => ({ id: 'tok-1', orgId: 'org-1', role: 'service', revokedAt: null }),
      update: async () => undefined,
    };
    const audited: unknown[] = [];
    const withTx = new TokensService(
      { ...db, options: db.options, query: db.query.bind(db), transaction: async (fn: (m: unknown) => Promise<void>) => fn(em) } as unknown as DataSource,
      {} as OrgsService,
      { record: async (_em: unknown, e: unknown) => void audited.push(e) } as unknown as AuditService,
      {} as AppEnv,
      throttle,
    );
    await runWithContext(ctx(), () => withTx.authenticate(TOKEN, true));
    await withTx.revoke({ id: 'admin', name: 'admin', role: 'admin', orgId: null }, 'tok-1');
    expect(audited).toHaveLength(1);
    const c = ctx();
    const lookups = db.lookups;
    await runWithContext(c, () => withTx.authenticate(TOKEN, true));
    expect(c.tokenCheck).toBeUndefined();
    expect(db.lookups).toBe(lookups + 1);
  });
});
