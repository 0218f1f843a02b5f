import { Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, QueryRunner } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { badRequest, forbidden } from '../common/errors';
import { ConfigEntity } from '../configs/config.entity';
import { GLOBAL_SCOPE } from '../scopes/org-scope.guard';
import { Org } from '../scopes/org.entity';
import { UUID } from '../scopes/orgs.service';
import { BUNDLE_CLOSING, bundleItem, bundleOpening, BundleScope, ExportRow } from './bundle';

export interface ExportOptions {
  /** Portable (the default): secrets without values. A backup carries their Fernet tokens. */
  portable: boolean;
  /** `all`, `global` or an org id; by default all for admin, its own org for org_admin. */
  scope?: string;
}

/** Receives the bundle a piece at a time; awaiting it is how backpressure reaches the reader. */
export type ChunkSink = (chunk: string) => Promise<void> | void;

export interface ExportHooks {
  /** Applied to the bundle's text (never to a backup's Fernet tokens). */
  scrub?: (text: string) => string;
  onProgress?: (configs: number) => void;
}

/** A backup's secret item: scrubbed up to its token, the token itself left as it is. */
function scrubbedSecretItem(item: ExportRow, scrub: (text: string) => string): string {
  const whole = bundleItem(item, false);
  const at = whole.lastIndexOf(',"encryptedValue":');
  return scrub(whole.slice(0, at)) + whole.slice(at);
}

/** Rows read per query; each page is written as one chunk. */
export const EXPORT_PAGE = 1000;

/**
 * Writes bundles. The configs are read a page at a time in (scope, key) order, keyset-paginated,
 * and each page is written before the next is read, so memory does not grow with the count.
 * Portable bundles never read the ciphertext column at all.
 */
@Injectable()
export class ExportService {
  private readonly logger = new Logger('Export');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly audit: AuditService,
  ) {}

  /** The scope to export (null: all), checked against the principal: admin any, org_admin its own org. */
  async resolveScope(principal: Principal, scope: string | undefined): Promise<string | null> {
    if (principal.role !== 'admin') {
      if (!principal.orgId) throw forbidden('Export is for admin and org_admin', 'FORBIDDEN');
      if (scope === undefined || scope === principal.orgId) return principal.orgId;
      throw forbidden('You may export your own org only', 'ORG_FORBIDDEN');
    }
    if (scope === undefined || scope === 'all') return null;
    if (scope === GLOBAL_SCOPE) return GLOBAL_SCOPE;
    if (!UUID.test(scope) || !(await this.dataSource.getRepository(Org).exists({ where: { id: scope } }))) {
      throw badRequest('INVALID_SCOPE', 'scope must be "all", "global" or the id of an org');
    }
    return scope;
  }

  /**
   * Checks the scope, audits the export (committed before the first byte leaves) and returns the
   * bundle as a lazy sequence of chunks: a page of configs is read only when the previous one was
   * taken. On MySQL the pages are read in one REPEATABLE READ transaction, so the bundle is one
   * consistent snapshot. `scrub` (the HTTP route passes the request's scrubber) is applied to
   * everything but the Fernet tokens of a backup, which hold no plaintext and must stay intact.
   */
  async open(principal: Principal, opts: ExportOptions, hooks: ExportHooks = {}): Promise<AsyncGenerator<string, { configs: number }>> {
    const scope = await this.resolveScope(principal, opts.scope);
    const kind = opts.portable ? 'portable' : 'backup';
    await this.audit.recordRead({ action: 'config.export', outcome: 'success', scope, reason: scope === null ? `${kind} all scopes` : kind, actor: principal });
    return this.chunks(principal, scope, opts.portable, hooks);
  }

  /** Writes the whole bundle to `sink` (the CLI, the benchmark). */
  async export(principal: Principal, opts: ExportOptions, sink: ChunkSink, hooks: ExportHooks = {}): Promise<{ configs: number }> {
    const chunks = await this.open(principal, opts, hooks);
    for (;;) {
      const next = await chunks.next();
      if (next.done) return next.value;
      await sink(next.value);
    }
  }

  private async *chunks(principal: Principal, scope: string | null, portable: boolean, hooks: ExportHooks): AsyncGenerator<string, { configs: number }> {
    const scrub = hooks.scrub ?? ((text: string) => text);
    let runner: QueryRunner | null = null;
    let count = 0;
    let finished = false;
    try {
      if (this.dataSource.options.type !== 'better-sqlite3') {
        runner = this.dataSource.createQueryRunner();
        await runner.connect();
        await runner.startTransaction('REPEATABLE READ');
      }
      const em = runner?.manager ?? this.dataSource.manager;
      const orgNames = await this.orgNames(em, scope);
      yield bundleOpening(portable, new Date());
      let after: { scope: string; key: string } | null = null;
      for (;;) {
        const rows = await this.page(em, scope, after, portable);
        if (rows.length === 0) break;
        let text = '';
        for (const row of rows) {
          let bundleScope: BundleScope;
          if (row.scope === GLOBAL_SCOPE) bundleScope = GLOBAL_SCOPE;
          else {
            const name = orgNames.get(row.scope);
            if (name === undefined) {
              this.logger.warn({ msg: 'config of an unknown org left out of the export', key: row.key });
              continue;
            }
            bundleScope = { org: name };
          }
          const item = { scope: bundleScope, key: row.key, type: row.type, description: row.description ?? null, value: row.value, encryptedValue: row.hasValue ? row.ciphertext : null };
          const separator = count === 0 ? '\n' : ',\n';
          // A backup's tokens are left out of scrubbing; everything else of the item is scrubbed.
          // A portable page is scrubbed whole; a backup's secret items up to their token only.
          if (portable) text += separator + bundleItem(item, true);
          else text += separator + (item.type === 'secret' ? scrubbedSecretItem(item, scrub) : scrub(bundleItem(item, false)));
          count++;
        }
        if (text) yield portable ? scrub(text) : text;
        hooks.onProgress?.(count);
        const last = rows[rows.length - 1];
        after = { scope: last.scope, key: last.key };
        if (rows.length < EXPORT_PAGE) break;
      }
      yield BUNDLE_CLOSING;
      finished = true;
      return { configs: count };
    } finally {
      if (runner) {
        await runner.commitTransaction().catch(() => undefined);
        await runner.release();
      }
      if (!finished) {
        await this.audit.recordRead({ action: 'config.export', outcome: 'failure', scope, reason: `${portable ? 'portable' : 'backup'} interrupted after ${count} configs`, actor: principal }).catch(() => undefined);
      }
    }
  }

  private async orgNames(em: EntityManager, scope: string | null): Promise<Map<string, string>> {
    if (scope === GLOBAL_SCOPE) return new Map();
    const qb = em.getRepository(Org).createQueryBuilder('o').select(['o.id', 'o.name']);
    if (scope !== null) qb.where('o.id = :scope', { scope });
    return new Map((await qb.getMany()).map((o) => [o.id, o.name]));
  }

  private page(em: EntityManager, scope: string | null, after: { scope: string; key: string } | null, portable: boolean): Promise<ConfigEntity[]> {
    // A portable bundle never reads a ciphertext.
    const columns = ['c.scope', 'c.key', 'c.type', 'c.value', 'c.hasValue', 'c.description', ...(portable ? [] : ['c.ciphertext'])];
    const qb = em.getRepository(ConfigEntity).createQueryBuilder('c').select(columns);
    if (scope !== null) {
      qb.where('c.scope = :scope', { scope });
      if (after) qb.andWhere('c.key > :key', { key: after.key });
    } else if (after) {
      qb.where('(c.scope > :scope OR (c.scope = :scope AND c.key > :key))', { scope: after.scope, key: after.key });
    }
    return qb.orderBy('c.scope', 'ASC').addOrderBy('c.key', 'ASC').limit(EXPORT_PAGE).getMany();
  }
}
