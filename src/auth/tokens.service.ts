import { Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { DataSource } from 'typeorm';
import { inTransaction, isUniqueViolation, rawQuery, timeParam } from '../common/database';
import { decodeCursor, encodeCursor, parseLimit } from '../common/paging';
import { forbidden, invalidToken, notFound, badRequest } from '../common/errors';
import { LruMap } from '../common/lru-map';
import { currentContext, RequestContext } from '../common/request-context';
import { AuthThrottle } from './auth-throttle';
import { AuditService } from '../audit/audit.service';
import { OrgsService, UUID } from '../scopes/orgs.service';
import { ApiToken } from './api-token.entity';
import { BOOTSTRAP_PRINCIPAL, Principal, Role } from './roles';
import { AppEnv } from '../common/env';
import { APP_ENV } from '../common/app-env.provider';
import { Inject } from '@nestjs/common';

export const TOKEN_PREFIX = 'bft_';

/** Principals of recently authenticated tokens kept in memory, by token hash. */
const RECENT_TOKENS = 10_000;

/** What a handler's statement reads of the token for confirmFromRow: `active` is 1 when not revoked. */
export interface TokenCheckRow {
  id: string;
  role: string;
  org_id: string | null;
  active: number | string | boolean;
}

/**
 * The part of a handler's statement that reads the pending token's row (UNION ALL it in, with the
 * hash as its one parameter); its columns are named by the caller.
 */
export const TOKEN_CHECK_FROM = 'FROM api_tokens WHERE token_hash = ?';

/** An api_tokens row as the driver returns it. */
interface TokenRow {
  id: string;
  name: string;
  role: Role;
  org_id: string | null;
  token_hash: string;
  revoked_at: Date | string | null;
}

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
}

export const toTokenView = (t: ApiToken): TokenView => ({
  id: t.id,
  name: t.name,
  role: t.role,
  orgId: t.orgId,
  createdAt: t.createdAt,
  revokedAt: t.revokedAt,
  createdBy: t.createdBy,
});

@Injectable()
export class TokensService implements OnApplicationBootstrap {
  private readonly logger = new Logger('Tokens');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly orgs: OrgsService,
    private readonly audit: AuditService,
    @Inject(APP_ENV) private readonly env: AppEnv,
    private readonly throttle: AuthThrottle,
  ) {}

  private readonly recent = new LruMap<string, Principal>(RECENT_TOKENS);

  /**
   * Looks a presented token up by its hash. The database finds the row by an indexed equality; the
   * final comparison is constant-time so no timing difference depends on the stored hash.
   *
   * With `checkedByHandler` (routes marked @TokenCheckedByHandler) a token authenticated recently
   * is not read here: its principal is taken from memory and the request's context carries a
   * pending check, which the handler settles by reading the token's row in its own statement
   * (confirmFromRow), or, failing that, the backstop before anything is sent (confirmPending).
   * Revocation stays immediate: every request still reads the row, just not in a statement of its own.
   */
  async authenticate(token: string, checkedByHandler = false): Promise<Principal | null> {
    if (!token.startsWith(TOKEN_PREFIX) && token.length < 32) return null;
    const hash = hashToken(token);
    const ctx = currentContext();
    if (checkedByHandler && ctx) {
      const known = this.recent.get(hash);
      if (known) {
        ctx.tokenCheck = { hash, principal: known, state: 'pending', confirm: () => this.confirmPending(ctx) };
        return known;
      }
    }
    const principal = await this.lookup(hash);
    if (principal) this.recent.set(hash, principal);
    return principal;
  }

  /** The principal of a token hash as stored now (null: unknown or revoked). */
  private async lookup(hash: string): Promise<Principal | null> {
    // Every authenticated request runs this: one prepared statement, no query builder (rawQuery).
    const [row] = await rawQuery<TokenRow>(this.dataSource, 'SELECT id, name, role, org_id, token_hash, revoked_at FROM api_tokens WHERE token_hash = ?', [hash]);
    if (!row || row.revoked_at != null) return null;
    if (!timingSafeEqual(Buffer.from(row.token_hash, 'hex'), Buffer.from(hash, 'hex'))) return null;
    return { id: row.id, name: row.name, role: row.role, orgId: row.org_id ?? null };
  }

  /**
   * Settles the request's pending token check with the token's row as the handler's own statement
   * read it (undefined when no row came back). A revoked, unknown or changed token fails the request
   * with 401 INVALID_TOKEN, as the guard would have.
   */
  confirmFromRow(ctx: RequestContext | undefined, row: TokenCheckRow | undefined): void {
    const check = ctx?.tokenCheck;
    if (!check || check.state === 'confirmed') return;
    const now = check.state === 'pending' && row && Number(row.active) === 1 ? { id: row.id, role: row.role, orgId: row.org_id ?? null } : null;
    if (!this.settle(ctx!, now)) throw invalidToken();
  }

  /** The backstop's check of a request whose handler did not settle it: one lookup; false if refused. */
  async confirmPending(ctx: RequestContext): Promise<boolean> {
    const check = ctx.tokenCheck;
    if (!check || check.state === 'confirmed') return true;
    if (check.state === 'refused') return false;
    return this.settle(ctx, await this.lookup(check.hash));
  }

  /**
   * Confirms the pending check when the token, as stored now (`now`, null when unknown or revoked),
   * is still the principal the guard trusted. Otherwise refuses: forgets the token and counts a
   * failed authentication. (The denial's audit entry names the trusted principal: whose revoked
   * token was presented.)
   */
  private settle(ctx: RequestContext, now: { id: string; role: string; orgId: string | null } | null): boolean {
    const check = ctx.tokenCheck!;
    const { principal } = check;
    if (now && now.id === principal.id && now.role === principal.role && now.orgId === principal.orgId) {
      check.state = 'confirmed';
      return true;
    }
    if (check.state !== 'refused') {
      check.state = 'refused';
      this.recent.delete(check.hash);
      this.throttle.recordFailure(ctx.ip ?? 'unknown');
    }
    return false;
  }

  /** Creates a token; the plaintext is returned once and never stored. */
  async create(actor: Principal, input: { name: string; role: Role; orgId?: string | null }): Promise<TokenView & { token: string }> {
    const orgId = input.orgId ?? null;
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
    if (orgId) await this.orgs.getOrThrow(orgId);
    const token = generateToken();
    const row: ApiToken = Object.assign(new ApiToken(), {
      id: randomUUID(),
      name: input.name,
      role: input.role,
      orgId,
      tokenHash: hashToken(token),
      createdBy: actor.name,
      createdAt: new Date(),
      revokedAt: null,
    });
    await inTransaction(this.dataSource, async (em) => {
      await em.insert(ApiToken, row);
      await this.audit.record(em, { action: 'token.create', outcome: 'success', scope: orgId ?? 'global', key: row.id, reason: `role ${row.role}` });
    });
    return { ...toTokenView(row), token };
  }

  /** A page of the tokens the actor sees, oldest first, and the cursor of the next one. */
  async list(actor: Principal, page: { limit?: string; cursor?: string } = {}): Promise<{ items: TokenView[]; nextCursor: string | null }> {
    const limit = parseLimit(page.limit);
    const after = decodeCursor(page.cursor, 't', (position) => {
      const [time, id] = position.split('|');
      return !!id && UUID.test(id) && !Number.isNaN(new Date(time).getTime());
    });
    const qb = this.dataSource.getRepository(ApiToken).createQueryBuilder('t');
    if (actor.role !== 'admin') {
      if (actor.orgId) qb.andWhere('t.orgId = :orgId', { orgId: actor.orgId });
      else qb.andWhere('t.orgId IS NULL');
    }
    if (after !== undefined) {
      const [time, id] = after.split('|');
      const t = timeParam(this.dataSource, new Date(time));
      qb.andWhere('(t.createdAt > :t OR (t.createdAt = :t AND t.id > :id))', { t, id });
    }
    const rows = await qb.orderBy('t.createdAt', 'ASC').addOrderBy('t.id', 'ASC').limit(limit + 1).getMany();
    const more = rows.length > limit;
    const items = more ? rows.slice(0, limit) : rows;
    const last = items[items.length - 1];
    return { items: items.map(toTokenView), nextCursor: more ? encodeCursor('t', `${last.createdAt.toISOString()}|${last.id}`) : null };
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

  /**
   * BIFROST_BOOTSTRAP_TOKEN creates an admin token with exactly that value once: when no row with
   * its hash exists. A row that exists is left as it is: a revoked bootstrap token stays revoked (it
   * leaked, and the variable lingers in compose files and CI settings), and the service says once
   * that it can be removed from the environment. Without it, a development start on an empty
   * database creates one admin token and prints it once. Both creations are audited as
   * `token.create` by the `bootstrap` actor.
   */
  async onApplicationBootstrap(): Promise<void> {
    if (this.env.bootstrapToken) {
      const hash = hashToken(this.env.bootstrapToken);
      const outcome = await this.createOnce(hash, 'bootstrap', 'BIFROST_BOOTSTRAP_TOKEN');
      if (outcome === 'created') this.logger.log('Bootstrap admin token from BIFROST_BOOTSTRAP_TOKEN registered');
      else if (outcome === 'revoked') {
        this.logger.warn('The token in BIFROST_BOOTSTRAP_TOKEN was revoked and stays revoked; remove BIFROST_BOOTSTRAP_TOKEN from the environment');
      }
      return;
    }
    if (this.env.nodeEnv !== 'development') return;
    if ((await this.dataSource.getRepository(ApiToken).count()) > 0) return;
    const token = generateToken();
    if ((await this.createOnce(hashToken(token), 'first-admin', 'first start', true)) !== 'created') return;
    // Printed once, straight to the terminal rather than the JSON log, so it is not kept in log storage.
    process.stdout.write(
      `\n  First start on an empty database: an admin token was created. It is shown only now:\n\n    ${token}\n\n` +
        `  Open Swagger UI at http://localhost:${this.env.port}/docs, press Authorize and paste it.\n\n`,
    );
  }

  /**
   * Inserts the admin token row of `hash`, with its audit entry, unless a row with that hash exists
   * (or, with `onlyIfEmpty`, any token does). Another instance starting at the same moment may win
   * the insert: its row is then the existing one.
   */
  private async createOnce(hash: string, name: string, why: string, onlyIfEmpty = false): Promise<'created' | 'exists' | 'revoked'> {
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
