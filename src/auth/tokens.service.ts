import { Injectable, Logger, OnModuleDestroy } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { inTransaction, isUniqueViolation, rawQuery, timeParam } from '../common/database';
import { parseLimit, timeIdCursor } from '../common/paging';
import { forbidden, notFound, badRequest } from '../common/errors';
import { DeferredTokenCheck, TokenCheckHost } from './deferred-token-check';
import { executionTokenFinished, isExpired, tokenExpired } from './token-refusals';
import { LruMap } from '../common/lru-map';
import { AuthThrottle } from './auth-throttle';
import { AuditService } from '../audit/audit.service';
import { OrgsService } from '../scopes/orgs.service';
import { ApiToken } from './api-token.entity';
import { BOOTSTRAP_PRINCIPAL, Principal, Role } from './roles';
import { AppEnv } from '../common/env';
import { APP_ENV } from '../common/app-env.provider';
import { Inject } from '@nestjs/common';

export const TOKEN_PREFIX = 'bft_';

/** Principals of recently authenticated tokens kept in memory, by token hash. */
const RECENT_TOKENS = 10_000;


/** A datetime as a driver returns it (a Date, or UTC text `YYYY-MM-DD HH:MM:SS.mmm`), in ms; NaN when unreadable. */
export function timeOf(v: Date | string | null | undefined): number | null {
  if (v == null) return null;
  if (v instanceof Date) return v.getTime();
  const text = String(v);
  return Date.parse(/(Z|[+-]\d\d:?\d\d)$/.test(text) ? text : text.replace(' ', 'T') + 'Z');
}

/** The longest any token may live: ten years. */
const MAX_LIFETIME_MS = 10 * 365 * 86400_000;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;

/** lastUsedAt is written at most this often per token (per instance, and across instances by the UPDATE's condition). */
export const LAST_USED_EVERY_MS = 60_000;
/** Uses are gathered this long before one UPDATE writes them. */
const LAST_USED_FLUSH_MS = 1_000;
const LAST_USED_BATCH = 200;
/** The tokens list's cursor: the last token's creation time and id (oldest first). */
const TOKEN_CURSOR = timeIdCursor('t');

/** An api_tokens row as the driver returns it. */
interface TokenRow {
  id: string;
  name: string;
  role: Role;
  org_id: string | null;
  token_hash: string;
  revoked_at: Date | string | null;
  expires_at: Date | string | null;
  execution_id: string | null;
  /** For an execution token, its execution's status (NULL: no such execution). */
  execution_status: string | null;
}

/** The guard's lookup: the row, and an execution token's execution status (by its primary key). */
const LOOKUP_SQL =
  'SELECT id, name, role, org_id, token_hash, revoked_at, expires_at, execution_id,' +
  ' (SELECT e.status FROM executions e WHERE e.id = api_tokens.execution_id) AS execution_status FROM api_tokens WHERE token_hash = ?';

export const hashToken = (token: string): string => createHash('sha256').update(token, 'utf8').digest('hex');

/** `bft_` + 256 bits from the CSPRNG, base64url. */
export const generateToken = (): string => TOKEN_PREFIX + randomBytes(32).toString('base64url');

export interface TokenView {
  id: string;
  name: string;
  role: Role;
  orgId: string | null;
  createdAt: Date;
  revokedAt: Date | null;
  createdBy: string | null;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
}

export const toTokenView = (t: ApiToken): TokenView => ({
  id: t.id,
  name: t.name,
  role: t.role,
  orgId: t.orgId,
  createdAt: t.createdAt,
  revokedAt: t.revokedAt,
  createdBy: t.createdBy,
  expiresAt: t.expiresAt ?? null,
  lastUsedAt: t.lastUsedAt ?? null,
});

/** A principal from its token's row: expiresAt and executionId only when the token has them. */
function principalOf(row: Pick<TokenRow, 'id' | 'name' | 'role' | 'org_id' | 'expires_at' | 'execution_id'>): Principal {
  const principal: Principal = { id: row.id, name: row.name, role: row.role, orgId: row.org_id ?? null };
  const expiresAt = timeOf(row.expires_at);
  if (expiresAt !== null) principal.expiresAt = expiresAt;
  if (row.execution_id) principal.executionId = row.execution_id;
  return principal;
}

@Injectable()
export class TokensService implements OnModuleDestroy {
  private readonly logger = new Logger('Tokens');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
    @Inject(APP_ENV) private readonly env: AppEnv,
    private readonly throttle: AuthThrottle,
  ) {}

  private readonly recent = new LruMap<string, Principal>(RECENT_TOKENS);
  /** When each recently used token's use was last queued for writing (ms), by token id. */
  private readonly lastUsed = new LruMap<string, number>(RECENT_TOKENS);
  /** Token ids whose lastUsedAt the next flush writes. */
  private readonly used = new Set<string>();
  private flushTimer: ReturnType<typeof setTimeout> | undefined;

  /**
   * Looks a presented token up by its hash. The database finds the row by an indexed equality; the
   * final comparison is constant-time so no timing difference depends on the stored hash.
   */
  async authenticate(token: string): Promise<Principal | null> {
    if (!token.startsWith(TOKEN_PREFIX) && token.length < 32) return null;
    const hash = hashToken(token);
    const principal = await this.lookup(hash);
    if (principal) this.recent.set(hash, principal);
    return principal;
  }

  /**
   * For a @TokenCheckedByHandler route: a token authenticated recently is not read here; its
   * principal comes from memory with a DeferredTokenCheck, which the handler settles with the row
   * its own statement reads (or TokenCheckInterceptor with a lookup). Revocation stays immediate:
   * every request still reads the row, just not in a statement of its own.
   */
  async authenticateDeferred(token: string, client: string): Promise<{ principal: Principal; check?: DeferredTokenCheck } | null> {
    if (!token.startsWith(TOKEN_PREFIX) && token.length < 32) return null;
    const hash = hashToken(token);
    const known = this.recent.get(hash);
    // A cached principal never outlives its token's expiry: an expired one is looked up (and refused).
    if (known && isExpired(known)) this.recent.delete(hash);
    else if (known) return { principal: known, check: new DeferredTokenCheck(hash, known, this.checkHost(client)) };
    const principal = await this.authenticate(token);
    return principal && { principal };
  }

  /** What a deferred check of a request from `client` records: a use, or a refusal (the token forgotten, a failure counted). */
  private checkHost(client: string): TokenCheckHost {
    return {
      lookup: (hash) => this.lookup(hash),
      used: (principal) => this.touch(principal.id),
      refused: (hash) => {
        this.recent.delete(hash);
        this.throttle.recordFailure(client);
      },
    };
  }

  /**
   * The principal of a token hash as stored now (null: unknown or revoked). An expired token, or an
   * execution token whose execution is not running, throws its TokenRefusedError (401).
   */
  private async lookup(hash: string): Promise<Principal | null> {
    // Every authenticated request runs this: one prepared statement, no query builder (rawQuery).
    const [row] = await rawQuery<TokenRow>(this.dataSource, LOOKUP_SQL, [hash]);
    if (!row || row.revoked_at != null) return null;
    if (!timingSafeEqual(Buffer.from(row.token_hash, 'hex'), Buffer.from(hash, 'hex'))) return null;
    const principal = principalOf(row);
    if (isExpired(principal)) throw tokenExpired(principal);
    if (principal.role === 'execution' && row.execution_status !== 'running') throw executionTokenFinished(principal);
    this.touch(principal.id);
    return principal;
  }

  /**
   * Notes a use of the token for its lastUsedAt, off the request's path: at most once a minute per
   * token, gathered for LAST_USED_FLUSH_MS and written by one UPDATE that nobody awaits.
   */
  private touch(id: string): void {
    const now = Date.now();
    const last = this.lastUsed.get(id);
    if (last !== undefined && now - last < LAST_USED_EVERY_MS) return;
    this.lastUsed.set(id, now);
    this.used.add(id);
    if (this.flushTimer) return;
    this.flushTimer = setTimeout(() => void this.flushLastUsed(), LAST_USED_FLUSH_MS);
    this.flushTimer.unref?.();
  }

  /** Writes the gathered uses; a failure is logged (never a value) and the next use after a minute tries again. */
  async flushLastUsed(): Promise<void> {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    while (this.used.size > 0) {
      const ids = [...this.used].slice(0, LAST_USED_BATCH);
      for (const id of ids) this.used.delete(id);
      const now = new Date();
      // Another instance that wrote it within the minute wins: the row is written at most once a minute.
      const since = new Date(now.getTime() - LAST_USED_EVERY_MS);
      try {
        await rawQuery(
          this.dataSource,
          `UPDATE api_tokens SET last_used_at = ? WHERE id IN (${ids.map(() => '?').join(', ')}) AND (last_used_at IS NULL OR last_used_at < ?)`,
          [timeParam(this.dataSource, now), ...ids, timeParam(this.dataSource, since)],
        );
      } catch (err) {
        for (const id of ids) this.lastUsed.delete(id);
        this.logger.warn({ msg: 'could not record when tokens were last used', errorName: (err as Error)?.name });
      }
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.flushLastUsed();
  }

  /** Creates a token; the plaintext is returned once and never stored. */
  async create(actor: Principal, input: { name: string; role: Role; orgId?: string | null; expiresAt?: string; ttlSeconds?: number }): Promise<TokenView & { token: string }> {
    const orgId = input.orgId ?? null;
    if (input.role === 'execution') throw badRequest('ROLE_NOT_CREATABLE', 'Execution tokens are issued by POST /api/executions only');
    // Only admin creates service tokens: whoever holds one reads the org's (and the global) secrets
    // in plaintext, and no human role below admin may come by plaintext.
    if (actor.role === 'org_admin') {
      if (input.role !== 'member') throw forbidden('org_admin may create member tokens only; service tokens are created by an admin', 'ROLE_NOT_ALLOWED');
      if (orgId !== actor.orgId) throw forbidden('org_admin may create tokens for its own org only', 'ORG_FORBIDDEN');
    }
    if ((input.role === 'org_admin' || input.role === 'member') && !orgId) {
      throw badRequest('ORG_REQUIRED', `A ${input.role} token needs an orgId`);
    }
    if (input.role === 'admin' && orgId) throw badRequest('ORG_NOT_ALLOWED', 'An admin token has no org');
    const createdAt = new Date();
    const expiresAt = this.expiryOf(input, createdAt.getTime());
    if (orgId) await this.orgs.getOrThrow(orgId);
    const token = generateToken();
    const row: ApiToken = Object.assign(new ApiToken(), {
      id: randomUUID(),
      name: input.name,
      role: input.role,
      orgId,
      tokenHash: hashToken(token),
      createdBy: actor.name,
      createdAt,
      revokedAt: null,
      expiresAt,
      lastUsedAt: null,
      executionId: null,
    });
    await inTransaction(this.dataSource, async (em) => {
      await em.insert(ApiToken, row);
      const lifetime = expiresAt ? `, expires ${expiresAt.toISOString()}` : '';
      await this.audit.record(em, { action: 'token.create', outcome: 'success', scope: orgId ?? 'global', key: row.id, reason: `role ${row.role}${lifetime}` });
    });
    return { ...toTokenView(row), token };
  }

  /**
   * A new token's expiry: `expiresAt` (an ISO 8601 time with its zone) or `ttlSeconds`, not both;
   * none: never, unless BIFROST_TOKEN_MAX_TTL requires one. Refused (400, nothing created): in the
   * past, over the maximum (BIFROST_TOKEN_MAX_TTL, else ten years), unreadable.
   */
  private expiryOf(input: { expiresAt?: string; ttlSeconds?: number }, now: number): Date | null {
    const max = this.env.tokenMaxTtlSeconds;
    if (input.expiresAt !== undefined && input.ttlSeconds !== undefined) throw badRequest('EXPIRY_AMBIGUOUS', 'Give expiresAt or ttlSeconds, not both');
    let at: number;
    if (input.expiresAt !== undefined) {
      at = typeof input.expiresAt === 'string' && ISO_TIME.test(input.expiresAt) ? Date.parse(input.expiresAt) : NaN;
      if (Number.isNaN(at)) throw badRequest('INVALID_EXPIRY', 'expiresAt must be an ISO 8601 time with its time zone, e.g. 2027-01-31T00:00:00Z');
    } else if (input.ttlSeconds !== undefined) {
      if (!Number.isSafeInteger(input.ttlSeconds) || input.ttlSeconds < 1) throw badRequest('INVALID_EXPIRY', 'ttlSeconds must be a positive whole number of seconds');
      at = now + Math.min(input.ttlSeconds, MAX_LIFETIME_MS) * 1000;
    } else {
      if (max !== null) throw badRequest('EXPIRY_REQUIRED', `This service requires every new token to expire within ${max} seconds: give expiresAt or ttlSeconds`);
      return null;
    }
    if (at <= now) throw badRequest('EXPIRY_IN_PAST', 'expiresAt must be in the future');
    const limit = max !== null ? max * 1000 : MAX_LIFETIME_MS;
    if (at - now > limit) throw badRequest('EXPIRY_TOO_LONG', `A new token may live at most ${limit / 1000} seconds${max !== null ? ' (BIFROST_TOKEN_MAX_TTL)' : ''}`);
    return new Date(at);
  }

  /**
   * Issues the execution token of a running execution, in the caller's transaction (the execution's
   * creation, or a new token for a running one): bound to the org and the execution, living
   * `ttlSeconds` (default BIFROST_EXECUTION_TOKEN_TTL, at most BIFROST_EXECUTION_TOKEN_MAX_TTL) and
   * never longer than the token that asked for it.
   */
  async issueExecutionToken(em: EntityManager, actor: Principal, orgId: string, executionId: string, ttlSeconds: number | undefined): Promise<{ token: string; tokenExpiresAt: Date }> {
    const now = Date.now();
    const expiresAt = new Date(Math.min(now + this.executionTokenTtl(ttlSeconds) * 1000, actor.expiresAt ?? Infinity));
    const token = generateToken();
    const row: ApiToken = Object.assign(new ApiToken(), {
      id: randomUUID(),
      name: `execution ${executionId}`,
      role: 'execution',
      orgId,
      tokenHash: hashToken(token),
      createdBy: actor.name.slice(0, 100),
      createdAt: new Date(now),
      revokedAt: null,
      expiresAt,
      lastUsedAt: null,
      executionId,
    });
    await em.insert(ApiToken, row);
    return { token, tokenExpiresAt: expiresAt };
  }

  /** An execution token's lifetime in seconds, checked before anything is written. */
  executionTokenTtl(ttlSeconds: number | undefined): number {
    if (ttlSeconds === undefined) return this.env.executionTokenTtlSeconds;
    if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds < 1) throw badRequest('INVALID_EXPIRY', 'tokenTtlSeconds must be a positive whole number of seconds');
    const max = this.env.executionTokenMaxTtlSeconds;
    if (ttlSeconds > max) throw badRequest('EXPIRY_TOO_LONG', `An execution token may live at most ${max} seconds (BIFROST_EXECUTION_TOKEN_MAX_TTL)`);
    return ttlSeconds;
  }

  /** A page of the tokens the actor sees (not execution tokens), oldest first, and the cursor of the next one. */
  async list(actor: Principal, page: { limit?: string; cursor?: string } = {}): Promise<{ items: TokenView[]; nextCursor: string | null }> {
    const limit = parseLimit(page.limit);
    const after = TOKEN_CURSOR.decode(page.cursor);
    // Every token but execution tokens (one per run; they die with their execution).
    const qb = this.dataSource.getRepository(ApiToken).createQueryBuilder('t').where('t.role <> :execution', { execution: 'execution' });
    if (actor.role !== 'admin') {
      if (actor.orgId) qb.andWhere('t.orgId = :orgId', { orgId: actor.orgId });
      else qb.andWhere('t.orgId IS NULL');
    }
    if (after !== undefined) {
      const t = timeParam(this.dataSource, after.at);
      qb.andWhere('(t.createdAt > :t OR (t.createdAt = :t AND t.id > :id))', { t, id: after.id });
    }
    const rows = await qb.orderBy('t.createdAt', 'ASC').addOrderBy('t.id', 'ASC').limit(limit + 1).getMany();
    const more = rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    const last = items[items.length - 1];
    return { items: items.map(toTokenView), nextCursor: more ? TOKEN_CURSOR.encode({ at: last.createdAt, id: last.id }) : null };
  }

  /**
   * Revokes at once: every request reads the token's row (the guard's lookup, or the handler's own
   * statement on @TokenCheckedByHandler routes), so no instance honours it after this commits.
   */
  async revoke(actor: Principal, id: string): Promise<void> {
    await inTransaction(this.dataSource, async (em) => {
      const row = await em.findOne(ApiToken, { where: { id } });
      // An org_admin sees its org's tokens (GET /api/tokens) and revokes the member ones among them.
      const visible = row && (actor.role === 'admin' || (actor.role === 'org_admin' && row.orgId === actor.orgId));
      if (!row || !visible) throw notFound('TOKEN_NOT_FOUND', 'No such token');
      if (actor.role !== 'admin' && row.role !== 'member') throw forbidden('org_admin may revoke member tokens only', 'ROLE_NOT_ALLOWED');
      if (!row.revokedAt) await em.update(ApiToken, { id }, { revokedAt: new Date() });
      await this.audit.record(em, { action: 'token.revoke', outcome: 'success', scope: row.orgId ?? 'global', key: row.id });
    });
    this.recent.deleteWhere((p) => p.id === id);
  }

  /** How many tokens exist (any role, revoked too). */
  countTokens(): Promise<number> {
    return this.dataSource.getRepository(ApiToken).count();
  }

  /**
   * Inserts the admin token row of `hash`, with its audit entry, unless a row with that hash exists
   * (or, with `onlyIfEmpty`, any token does). Another instance starting at the same moment may win
   * the insert: its row is then the existing one.
   */
  async createOnce(hash: string, name: string, why: string, onlyIfEmpty = false): Promise<'created' | 'exists' | 'revoked'> {
    try {
      return await inTransaction(this.dataSource, async (em) => {
        const existing = await em.findOne(ApiToken, { where: { tokenHash: hash } });
        if (existing) return existing.revokedAt ? 'revoked' : 'exists';
        if (onlyIfEmpty && (await em.count(ApiToken)) > 0) return 'exists';
        const row: ApiToken = Object.assign(new ApiToken(), {
          id: randomUUID(),
          name,
          role: 'admin',
          orgId: null,
          tokenHash: hash,
          createdBy: BOOTSTRAP_PRINCIPAL.name,
          createdAt: new Date(),
          revokedAt: null,
          expiresAt: null,
          lastUsedAt: null,
          executionId: null,
        });
        await em.insert(ApiToken, row);
        await this.audit.record(em, { action: 'token.create', outcome: 'success', actor: BOOTSTRAP_PRINCIPAL, scope: 'global', key: row.id, reason: `role admin (${why})` });
        return 'created';
      });
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      const existing = await this.dataSource.getRepository(ApiToken).findOne({ where: { tokenHash: hash } });
      return existing?.revokedAt ? 'revoked' : 'exists';
    }
  }
}
