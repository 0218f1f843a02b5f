import type { DataSource } from 'typeorm';
import type { AuditService } from '../audit/audit.service';
import type { AppEnv } from '../common/env';
import type { OrgsService } from '../scopes/orgs.service';
import { AuthThrottle } from './auth-throttle';
import type { DeferredTokenCheck, TokenRowPart } from './deferred-token-check';
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

describe('TokensService: the known-token path of @TokenCheckedByHandler routes (DeferredTokenCheck)', () => {
  let db: FakeTokens;
  let throttle: AuthThrottle;
  let tokens: TokensService;

  beforeEach(() => {
    db = new FakeTokens();
    throttle = new AuthThrottle();
    tokens = new TokensService(db as unknown as DataSource, {} as OrgsService, {} as AuditService, {} as AppEnv, throttle);
  });

  /** The principal, and the deferred check when the token's row was not read. */
  const deferred = async (service = tokens) => (await service.authenticateDeferred(TOKEN, '10.0.0.1')) ?? undefined;
  const good: TokenRowPart = { id: 'tok-1', role: 'service', orgId: 'org-1', revoked: false, executionStatus: null };

  it('reads the row on every request of an ordinary route', async () => {
    for (let i = 0; i < 3; i++) expect(await tokens.authenticate(TOKEN)).toEqual({ id: 'tok-1', name: 'svc', role: 'service', orgId: 'org-1' });
    expect(db.lookups).toBe(3);
  });

  it('reads the row for a token it does not know yet, then leaves the check to the handler', async () => {
    const first = await deferred();
    expect(db.lookups).toBe(1);
    expect(first?.check).toBeUndefined();

    const second = await deferred();
    expect(second?.principal).toEqual({ id: 'tok-1', name: 'svc', role: 'service', orgId: 'org-1' });
    expect(db.lookups).toBe(1);
    expect(second?.check).toMatchObject({ hash: ROW.token_hash, settled: false });
    expect(JSON.stringify(second?.check)).not.toContain(TOKEN);
  });

  it('confirms with the row the handler read, and refuses a revoked, missing or changed one with 401 INVALID_TOKEN', async () => {
    await deferred();
    const cases: [string, TokenRowPart | undefined][] = [
      ['revoked', { ...good, revoked: true }],
      ['gone', undefined],
      ['another role', { ...good, role: 'admin' }],
      ['another org', { ...good, orgId: 'org-2' }],
      ['another token', { ...good, id: 'tok-2' }],
    ];
    for (const [what, row] of cases) {
      const check = (await deferred())!.check!;
      expect(check.settled).toBe(false);
      let thrown: { getStatus(): number; code: string } | undefined;
      try {
        check.confirmWith(row);
      } catch (err) {
        thrown = err as typeof thrown;
      }
      expect({ what, status: thrown?.getStatus(), code: thrown?.code }).toEqual({ what, status: 401, code: 'INVALID_TOKEN' });
      // Settled as refused: confirming again, or ensure(), refuses again without a lookup.
      const before = db.lookups;
      expect(() => check.confirmWith(good)).toThrow(expect.objectContaining({ code: 'INVALID_TOKEN' }));
      await expect(check.ensure()).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
      expect(db.lookups).toBe(before);
      // Forgotten: the next request reads the row again.
      await deferred();
      expect(db.lookups).toBe(before + 1);
    }
    const check = (await deferred())!.check!;
    check.confirmWith(good);
    expect(check.settled).toBe(true);
  });

  it('never trusts a cached principal past its token expiry (issue 17): the row is read and the token refused 401 TOKEN_EXPIRED', async () => {
    const realNow = Date.now;
    const start = realNow();
    try {
      Date.now = () => start;
      db.row = { ...ROW, expires_at: new Date(start + 60_000).toISOString() };
      await deferred();
      const cached = (await deferred())!;
      expect(cached.principal).toMatchObject({ id: 'tok-1', expiresAt: start + 60_000 });
      expect(cached.check?.settled).toBe(false);
      // Past the expiry: the pending check of a request trusted just before it is refused with its code ...
      Date.now = () => start + 60_001;
      expect(() => cached.check!.confirmWith(good)).toThrow(expect.objectContaining({ code: 'TOKEN_EXPIRED' }));
      // ... and the next request is not served from memory: the row is read, and the token refused.
      const lookups = db.lookups;
      await expect(deferred()).rejects.toMatchObject({ code: 'TOKEN_EXPIRED', status: 401 });
      expect(db.lookups).toBe(lookups + 1);
    } finally {
      Date.now = realNow;
    }
  });

  it('refuses an execution token whose execution finished with 401 EXECUTION_TOKEN_FINISHED, cached or not', async () => {
    db.row = { ...ROW, role: 'execution', execution_id: 'exec-1', execution_status: 'running' };
    await deferred();
    const running = (await deferred())!.check!;
    running.confirmWith({ ...good, role: 'execution', executionStatus: 'running' });
    const cached = (await deferred())!.check!;
    expect(() => cached.confirmWith({ ...good, role: 'execution', executionStatus: 'success' })).toThrow(expect.objectContaining({ code: 'EXECUTION_TOKEN_FINISHED' }));
    db.row = { ...db.row, execution_status: 'success' };
    await expect(tokens.authenticate(TOKEN)).rejects.toMatchObject({ code: 'EXECUTION_TOKEN_FINISHED' });
  });

  it('counts a refusal as a failed authentication for the throttle', async () => {
    await deferred();
    for (let i = 0; i < 11; i++) {
      const check = (await deferred())!.check!;
      expect(() => check.confirmWith(undefined)).toThrow();
      await deferred(); // known again
    }
    expect(throttle.isBlocked('10.0.0.1')).toBe(true);
  });

  it('ensure() reads the row itself when the handler did not settle the check, once', async () => {
    await deferred();
    const check: DeferredTokenCheck = (await deferred())!.check!;
    await check.ensure();
    expect(check.settled).toBe(true);

    const revoked = (await deferred())!.check!;
    db.row.revoked_at = '2026-11-29 12:00:00.000';
    const lookups = db.lookups;
    await expect(revoked.ensure()).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    await expect(revoked.ensure()).rejects.toMatchObject({ code: 'INVALID_TOKEN' });
    expect(db.lookups).toBe(lookups + 1);
  });

  it('forgets a token it revokes', async () => {
    await deferred();
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
    await deferred(withTx);
    await withTx.revoke({ id: 'admin', name: 'admin', role: 'admin', orgId: null }, 'tok-1');
    expect(audited).toHaveLength(1);
    const lookups = db.lookups;
    expect((await deferred(withTx))?.check).toBeUndefined();
    expect(db.lookups).toBe(lookups + 1);
  });
});
