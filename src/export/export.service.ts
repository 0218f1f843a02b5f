import { Injectable, Logger } from '@nestjs/common';
import { isMemorySqlite } from '../common/sqlite-gate';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { inTransaction } from '../common/database';
import { isSqlite } from '../common/dialect';
import { badRequest, forbidden } from '../common/errors';
import { ConfigsRepository, ExportRow } from '../configs/configs.repository';
import { GLOBAL_SCOPE } from '../scopes/org-scope.guard';
import { OrgsRepository } from '../scopes/orgs.repository';
import { isUuid } from '../common/params';
import type { Scrubber } from '../scrubber/scrubber';
import { SecretRegistry } from '../scrubber/secret-registry';
import { BUNDLE_CLOSING, bundleItem, bundleOpening, BundleScope } from './bundle';

export interface ExportOptions {
  /**
   * Portable (the default): secrets without values, every other value scrubbed value by value.
   * A backup (admin only) is a faithful copy: every value as stored, secrets as their Fernet tokens.
   */
  portable: boolean;
  /** `all`, `global` or an org id; by default all for admin, its own org for org_admin. */
  scope?: string;
}

/** Receives the bundle a piece at a time; awaiting it is how backpressure reaches the reader. */
export type ChunkSink = (chunk: string) => Promise<void> | void;

export interface ExportHooks {
  onProgress?: (configs: number) => void;
}

/** Rows read per query; each page is written as one chunk. */
export const EXPORT_PAGE = 1000;

/** Where an export reads from: every query of one export sees one and the same state of the database. */
interface Snapshot {
  query<T>(sql: string, params: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

/** The part of better-sqlite3 the SQLite snapshot uses (the package ships no types). */
interface SqliteConnection {
  pragma(source: string): unknown;
  exec(source: string): unknown;
  prepare(source: string): { all(...params: unknown[]): unknown[] };
  close(): unknown;
  readonly inTransaction: boolean;
}
type SqliteOpen = new (path: string, options: { readonly: boolean; fileMustExist: boolean }) => SqliteConnection;

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
    private readonly secrets: SecretRegistry,
    private readonly configs: ConfigsRepository,
    private readonly orgs: OrgsRepository,
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
    if (!isUuid(scope) || !(await this.orgs.exists(scope))) {
      throw badRequest('INVALID_SCOPE', 'scope must be "all", "global" or the id of an org');
    }
    return scope;
  }

  /**
   * Checks the scope, audits the export (committed before the first byte leaves) and returns the
   * bundle as a lazy sequence of chunks: a page of configs is read only when the previous one was
   * taken. On MySQL the pages are read in one REPEATABLE READ transaction, so the bundle is one
   * consistent snapshot. A portable bundle is scrubbed value by value (see scrubberFor); a backup
   * is written exactly as stored. The HTTP route and the CLI both come here: one scrub path.
   */
  async open(principal: Principal, opts: ExportOptions, hooks: ExportHooks = {}): Promise<AsyncGenerator<string, { configs: number }>> {
    const scope = await this.resolveScope(principal, opts.scope);
    // A backup carries non-secret values unscrubbed (a value may quote a secret): it is for the
    // platform operator, who holds the key and the database anyway.
    if (!opts.portable && principal.role !== 'admin') throw forbidden('Only admin may take a backup (portable=false); export a portable bundle instead', 'BACKUP_ADMIN_ONLY');
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

  /**
   * A consistent view of the database for the length of one export, without holding up writers:
   * - MySQL/MariaDB: a REPEATABLE READ transaction on a connection of its own (InnoDB's snapshot,
   *   taken at the first read).
   * - SQLite in a file: a second, read-only better-sqlite3 connection holding one read transaction.
   *   The database runs in WAL mode (src/common/database.ts), so that reader sees the database as
   *   of its first read while the service's own connection goes on writing and committing.
   * - SQLite in memory (one connection, nothing to open beside it): the export holds the service's
   *   transaction lock, so writes wait until it is done. Correct, not concurrent.
   */
  private async snapshot(): Promise<Snapshot> {
    const options = this.dataSource.options as { type: string; database?: string };
    if (!isSqlite(this.dataSource)) {
      const runner = this.dataSource.createQueryRunner();
      await runner.connect();
      try {
        await runner.startTransaction('REPEATABLE READ');
        // InnoDB takes the snapshot at the transaction's first read, not at its start: read now,
        // before the first byte of the bundle, so every page is of this moment.
        await runner.query('SELECT COUNT(*) AS n FROM orgs');
      } catch (err) {
        await runner.release();
        throw err;
      }
      return {
        query: (sql, params) => runner.query(sql, params),
        close: async () => {
          await runner.commitTransaction().catch(() => undefined);
          await runner.release();
        },
      };
    }
    if (this.locksForSnapshot()) return this.lockedSnapshot();
    const path = options.database!;
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const Database = require('better-sqlite3') as SqliteOpen;
    const db = new Database(path, { readonly: true, fileMustExist: true });
    try {
      db.pragma('busy_timeout = 5000');
      // A read transaction begins at BEGIN but takes its snapshot at its first read: read at once.
      db.exec('BEGIN');
      db.prepare('SELECT count(*) FROM orgs').all();
    } catch (err) {
      db.close();
      throw err;
    }
    const statements = new Map<string, ReturnType<SqliteConnection['prepare']>>();
    return {
      query: async <T>(sql: string, params: unknown[]) => {
        let stmt = statements.get(sql);
        if (!stmt) statements.set(sql, (stmt = db.prepare(sql)));
        return stmt.all(...params) as T[];
      },
      close: async () => {
        statements.clear();
        if (db.inTransaction) db.exec('COMMIT');
        db.close();
      },
    };
  }

  /** In-memory SQLite: no second connection to read a snapshot from, so the export holds the lock. */
  private locksForSnapshot(): boolean {
    return isSqlite(this.dataSource) && isMemorySqlite((this.dataSource.options as { database?: string }).database);
  }

  /** The in-memory SQLite fallback: a transaction held (under the service's lock) until close(). */
  private async lockedSnapshot(): Promise<Snapshot> {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    let done!: Promise<void>;
    const em = await new Promise<EntityManager>((resolve, reject) => {
      done = inTransaction(this.dataSource, async (m) => {
        resolve(m);
        await released;
      }).catch((err) => reject(err));
    });
    return {
      query: (sql, params) => em.query(sql, params),
      close: async () => {
        release();
        await done;
      },
    };
  }

  /**
   * What a portable bundle of `scope` is scrubbed with: the secrets of that scope as any response
   * about it is scrubbed (an org: its own and the global ones; `global` or all: every scope's).
   * Read after the snapshot was taken, so it holds every secret the snapshot can see.
   */
  scrubberFor(scope: string | null): Promise<Scrubber> {
    return this.secrets.forTarget({ orgId: scope === null || scope === GLOBAL_SCOPE ? null : scope, executionId: null });
  }

  private async *chunks(principal: Principal, scope: string | null, portable: boolean, hooks: ExportHooks): AsyncGenerator<string, { configs: number }> {
    let snapshot: Snapshot | null = null;
    let count = 0;
    let finished = false;
    try {
      // In-memory SQLite: the snapshot holds the one connection's write lock, and on SQLite a read
      // outside that transaction waits for the lock (sqlite-gate.ts), so the scrubber is read first;
      // writes wait meanwhile anyway. Everywhere else it is read after the snapshot was taken.
      const early = portable && this.locksForSnapshot() ? await this.scrubberFor(scope) : null;
      snapshot = await this.snapshot();
      const scrubber = portable ? (early ?? (await this.scrubberFor(scope))) : null;
      const orgNames = await this.orgNames(snapshot, scope);
      yield bundleOpening(portable, new Date());
      let after: { scope: string; key: string } | null = null;
      for (;;) {
        const rows = await this.page(snapshot, scope, after, portable);
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
          const hasValue = row.has_value === true || Number(row.has_value) === 1;
          const item = { scope: bundleScope, key: row.key, type: row.type, description: row.description ?? null, value: row.value, encryptedValue: hasValue ? (row.ciphertext ?? null) : null };
          // Portable: scrubbed value by value (never the text, which a secret can cut through).
          text += (count === 0 ? '\n' : ',\n') + bundleItem(item, portable, scrubber);
          count++;
        }
        if (text) yield text;
        hooks.onProgress?.(count);
        const last = rows[rows.length - 1];
        after = { scope: last.scope, key: last.key };
        if (rows.length < EXPORT_PAGE) break;
      }
      yield BUNDLE_CLOSING;
      finished = true;
      return { configs: count };
    } finally {
      if (snapshot) await snapshot.close().catch((err: unknown) => this.logger.warn({ msg: 'export snapshot not closed cleanly', errorName: (err as Error)?.name }));
      if (!finished) {
        await this.audit.recordRead({ action: 'config.export', outcome: 'failure', scope, reason: `${portable ? 'portable' : 'backup'} interrupted after ${count} configs`, actor: principal }).catch(() => undefined);
      }
    }
  }

  private async orgNames(snapshot: Snapshot, scope: string | null): Promise<Map<string, string>> {
    if (scope === GLOBAL_SCOPE) return new Map();
    const rows = await this.orgs.refsIn((sql, params) => snapshot.query(sql, params), scope);
    return new Map(rows.map((o) => [o.id, o.name]));
  }

  /** One page in (scope, key) order after `after` (keyset); a portable bundle never reads a ciphertext. */
  private page(snapshot: Snapshot, scope: string | null, after: { scope: string; key: string } | null, portable: boolean): Promise<ExportRow[]> {
    return this.configs.exportPage((sql, params) => snapshot.query(sql, params), scope, after, !portable, EXPORT_PAGE);
  }
}
