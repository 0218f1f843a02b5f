import { HttpStatus, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { isIP } from 'node:net';
import { DataSource, EntityManager } from 'typeorm';
import { inTransaction, isConnectionError, isDatabaseBusy, rawInsertMany, timeParam } from '../common/database';
import { isSqlite } from '../common/dialect';
import { AppError, forbidden } from '../common/errors';
import { parseLimit, textCursor } from '../common/paging';
import { isUuid } from '../common/params';
import { currentContext } from '../common/request-context';
import type { Principal } from '../auth/roles';
import { AuditAction, AuditEntry, AuditOutcome } from './audit-entry.entity';
import { invalidDate, isIsoDate } from './audit.dto';
import { MetricsService } from '../metrics/metrics.service';

export interface AuditInput {
  action: AuditAction;
  outcome: AuditOutcome;
  scope?: string | null;
  key?: string | null;
  configType?: string | null;
  /** Why (a code or a short phrase); never a value or a credential. */
  reason?: string | null;
  executionId?: string | null;
  /** Defaults to the request's principal. */
  actor?: Principal | null;
}

export interface AuditQuery {
  scope?: string;
  key?: string;
  action?: string;
  actor?: string;
  outcome?: string;
  since?: string;
  until?: string;
  limit?: string;
  cursor?: string;
}

export interface AuditItem {
  id: string;
  at: Date;
  actor: { id: string | null; name: string | null; role: string | null };
  action: string;
  scope: string | null;
  key: string | null;
  configType: string | null;
  outcome: string;
  reason: string | null;
  executionId: string | null;
  requestId: string | null;
  ip: string | null;
  userAgent: string | null;
}

export const auditUnavailable = () =>
  new AppError(HttpStatus.SERVICE_UNAVAILABLE, 'AUDIT_UNAVAILABLE', 'The audit log could not be written, so the request was not carried out');

/**
 * What a failed audit insert is answered with: AUDIT_UNAVAILABLE when the audit log refused the
 * entry; when the connection to the database itself is gone, the driver's error, so the client gets
 * the 503 DATABASE_UNAVAILABLE that every other request gets meanwhile; when another process held
 * SQLite's write lock for the whole wait, its error too (503 DATABASE_BUSY, Retry-After).
 */
const auditFailure = (err: unknown): Error => (isConnectionError(err) || isDatabaseBusy(err) ? (err as Error) : auditUnavailable());

/** The columns a batch of read entries fills, and the entity fields they come from, in one order. */
const AUDIT_FIELDS = ['at', 'actorId', 'actorName', 'actorRole', 'action', 'scope', 'key', 'configType', 'outcome', 'reason', 'executionId', 'requestId', 'ip', 'userAgent'] as const;
const AUDIT_COLUMNS = ['at', 'actor_id', 'actor_name', 'actor_role', 'action', 'scope', 'key', 'config_type', 'outcome', 'reason', 'execution_id', 'request_id', 'ip', 'user_agent'];

const MAX_BATCH = 500;
/** The audit list's cursor: the last entry's id (newest first). */
const ENTRY_CURSOR = textCursor('a', (id) => /^\d{1,19}$/.test(id));
const cut = (s: string | null | undefined, n: number) => (s == null ? null : s.length > n ? s.slice(0, n) : s);
/** The most of a caller's User-Agent an entry keeps. */
export const USER_AGENT_MAX = 128;
/** A run that could be a credential: our tokens, or any 32+ characters of base64url. */
const CREDENTIAL_LIKE = /bft_[A-Za-z0-9_-]*|[A-Za-z0-9_+/=-]{32,}/g;

/**
 * The caller's User-Agent as an entry keeps it: free text chosen by whoever sent the request, so
 * printable ASCII only (anything else becomes `?`), credential-looking runs replaced, at most
 * USER_AGENT_MAX characters.
 */
export function cleanUserAgent(ua: string | null | undefined): string | null {
  if (!ua) return null;
  const cleaned = ua
    .slice(0, 4 * USER_AGENT_MAX)
    .replace(/[^\x20-\x7e]/g, '?')
    .replace(CREDENTIAL_LIKE, '[REDACTED]')
    .slice(0, USER_AGENT_MAX);
  return cleaned || null;
}

/** The client address, only when it is one (a trusted proxy could forward anything in X-Forwarded-For). */
const addressOf = (ip: string | null | undefined) => (ip && isIP(ip) ? ip : null);

/** Execution ids are UUIDs; anything else in X-Bifrost-Execution (a token pasted there, say) is not stored. */
const executionIdOf = (id: string | null | undefined) => (isUuid(id) ? id : null);

interface Pending {
  row: Partial<AuditEntry>;
  resolve: () => void;
  reject: (e: Error) => void;
}

/**
 * The append-only audit log. Writes record() inside the caller's transaction, so change and entry
 * commit together or not at all. Reads use recordRead(): entries of concurrent requests are
 * inserted together (group commit) while a previous insert is in flight, and each caller is
 * answered only once its own entry has committed. Any failure is AUDIT_UNAVAILABLE (fail closed).
 */
@Injectable()
export class AuditService implements OnModuleDestroy {
  private readonly logger = new Logger('Audit');
  private queue: Pending[] = [];
  private inFlight = 0;
  private readonly maxInFlight: number;
  private scheduled = false;
  /** When false, each read is inserted on its own (for the benchmark's comparison). */
  batching = process.env.BIFROST_AUDIT_BATCHING !== 'off';

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    @Optional() private readonly metrics?: MetricsService,
  ) {
    this.maxInFlight = isSqlite(dataSource) ? 1 : 2;
    metrics?.watchAuditQueue(() => this.queue.length);
  }

  private counted(rows: Partial<AuditEntry>[]): void {
    if (!this.metrics) return;
    for (const r of rows) this.metrics.auditWritten(r.action ?? 'unknown', r.outcome ?? 'unknown');
  }

  toRow(input: AuditInput): Partial<AuditEntry> {
    const ctx = currentContext();
    const actor = input.actor === undefined ? ctx?.principal : input.actor;
    return {
      at: new Date(),
      actorId: actor?.id ?? null,
      actorName: cut(actor?.name, 100),
      actorRole: actor?.role ?? null,
      action: input.action,
      scope: input.scope ?? null,
      key: cut(input.key, 255),
      configType: input.configType ?? null,
      outcome: input.outcome,
      reason: cut(input.reason, 255),
      executionId: executionIdOf(input.executionId ?? ctx?.executionId),
      requestId: ctx?.requestId ?? null,
      ip: addressOf(ctx?.ip),
      userAgent: cleanUserAgent(ctx?.userAgent),
    };
  }

  /** Inside the caller's transaction: a failure here fails (and so rolls back) the caller. */
  async record(em: EntityManager, input: AuditInput | AuditInput[]): Promise<void> {
    const rows = (Array.isArray(input) ? input : [input]).map((i) => this.toRow(i));
    try {
      await em.createQueryBuilder().insert().into(AuditEntry).values(rows).updateEntity(false).execute();
      // Counted once the insert is done (its transaction may still roll back: then the change too).
      this.counted(rows);
    } catch (err) {
      this.logger.error({ msg: 'audit insert failed', errorName: (err as Error)?.name, code: (err as { code?: string }).code });
      throw auditFailure(err);
    }
  }

  /** For requests that change nothing: resolves once the entry is committed, or throws AUDIT_UNAVAILABLE. */
  recordRead(input: AuditInput): Promise<void> {
    const row = this.toRow(input);
    if (!this.batching) return this.insertBatch([row]).catch((err) => Promise.reject(auditFailure(err)));
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ row, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.maxInFlight) return;
    this.scheduled = true;
    // setImmediate gathers the entries of requests answered in the same turn of the event loop.
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight >= this.maxInFlight) return;
      const batch = this.queue.splice(0, MAX_BATCH);
      if (batch.length === 0) return;
      this.inFlight++;
      this.insertBatch(batch.map((p) => p.row))
        .then(
          () => batch.forEach((p) => p.resolve()),
          (cause) => {
            const err = auditFailure(cause);
            batch.forEach((p) => p.reject(err));
          },
        )
        .finally(() => {
          this.inFlight--;
          this.pump();
        });
    });
  }

  private async insertBatch(rows: Partial<AuditEntry>[]): Promise<void> {
    try {
      // MySQL: one multi-row INSERT straight on the pool (no query builder on the read path).
      const raw = rawInsertMany(this.dataSource, 'audit_entries', AUDIT_COLUMNS, rows.map((r) => AUDIT_FIELDS.map((f) => r[f] ?? null)));
      if (raw) await raw;
      // SQLite has one connection: outside the transaction lock the insert could land in (and be
      // rolled back with) another request's transaction.
      else await inTransaction(this.dataSource, (em) => em.createQueryBuilder().insert().into(AuditEntry).values(rows).updateEntity(false).execute());
      this.counted(rows);
      this.metrics?.auditBatchWritten(rows.length);
    } catch (err) {
      this.logger.error({ msg: 'audit batch insert failed', rows: rows.length, errorName: (err as Error)?.name, code: (err as { code?: string }).code });
      throw err;
    }
  }

  async onModuleDestroy(): Promise<void> {
    // Let queued entries commit before the pool closes.
    for (let i = 0; i < 100 && (this.queue.length > 0 || this.inFlight > 0); i++) await new Promise((r) => setTimeout(r, 20));
  }

  async list(principal: Principal, q: AuditQuery): Promise<{ items: AuditItem[]; nextCursor: string | null }> {
    // AuditQueryDto checked each filter; these read them.
    const limit = parseLimit(q.limit);
    const since = parseDate(q.since, 'since');
    const until = parseDate(q.until, 'until');
    const before = ENTRY_CURSOR.decode(q.cursor);
    let scope = q.scope;
    if (principal.role !== 'admin') {
      if (scope !== undefined && scope !== principal.orgId) throw forbidden('org_admin reads the audit log of its own org only', 'ORG_FORBIDDEN');
      scope = principal.orgId ?? '\u0000';
    }

    const qb = this.dataSource.getRepository(AuditEntry).createQueryBuilder('e');
    if (scope !== undefined) qb.andWhere('e.scope = :scope', { scope });
    if (q.key !== undefined) qb.andWhere('e.key = :key', { key: q.key });
    if (q.action !== undefined) qb.andWhere('e.action = :action', { action: q.action });
    if (q.outcome !== undefined) qb.andWhere('e.outcome = :outcome', { outcome: q.outcome });
    if (q.actor !== undefined) qb.andWhere('(e.actor_id = :actor OR e.actor_name = :actor)', { actor: q.actor });
    if (since) qb.andWhere('e.at >= :since', { since: timeParam(this.dataSource, since) });
    if (until) qb.andWhere('e.at <= :until', { until: timeParam(this.dataSource, until) });
    if (before !== undefined) qb.andWhere('e.id < :before', { before });
    const rows = await qb.orderBy('e.id', 'DESC').limit(limit + 1).getMany();
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    return {
      items: page.map(toItem),
      nextCursor: more ? ENTRY_CURSOR.encode(String(page[page.length - 1].id)) : null,
    };
  }
}

function parseDate(raw: string | undefined, name: 'since' | 'until'): Date | undefined {
  if (raw === undefined) return undefined;
  if (!isIsoDate(raw)) throw invalidDate(name);
  return new Date(raw);
}

const toItem = (e: AuditEntry): AuditItem => ({
  id: String(e.id),
  at: e.at,
  actor: { id: e.actorId, name: e.actorName, role: e.actorRole },
  action: e.action,
  scope: e.scope,
  key: e.key,
  configType: e.configType,
  outcome: e.outcome,
  reason: e.reason,
  executionId: e.executionId,
  requestId: e.requestId,
  ip: e.ip,
  userAgent: e.userAgent,
});
