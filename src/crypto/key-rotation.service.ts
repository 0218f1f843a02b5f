import { Injectable, Logger, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import { CLI_PRINCIPAL, Principal } from '../auth/roles';
import { inTransaction } from '../common/database';
import { ConfigsRepository } from '../configs/configs.repository';
import { ExecutionSecretsRepository } from '../executions/execution-secrets.repository';
import { CryptoService } from './crypto.service';
import { keyCensus, KeyCensus } from './startup-key-check';

export interface RotationFailure {
  table: 'configs' | 'execution_secrets';
  scope?: string;
  key?: string;
  id?: string;
}

export interface RotationReport {
  /** Tokens written again under the current key by this run. */
  reencrypted: number;
  /** Tokens that were in their final form already (current key; bound, for configs), by an earlier, interrupted run, or new writes. */
  alreadyCurrent: number;
  /** Tokens that no configured key opens, or (configs) bound to another scope or key; left as they are. */
  failed: number;
  /** Tokens replaced by a concurrent write between read and update: the write won, nothing to do. */
  changedConcurrently: number;
  batches: number;
  /** False when the run stopped at maxBatches before reaching the end. */
  complete: boolean;
  /** Which tokens failed (at most 100 listed), never their values. */
  failures: RotationFailure[];
}

export interface RotationOptions {
  batchSize?: number;
  /** Stop after this many batches (to bound a run, or to test resumption). */
  maxBatches?: number;
  onProgress?: (report: RotationReport) => void;
  actor?: Principal;
}

export const ROTATION_BATCH = 200;

interface Candidate<Id> {
  id: Id;
  old: string;
  next: string;
  /** The token was in its final form already; only its key id is recorded. */
  relabel: boolean;
}

/**
 * Re-encrypts every stored secret (configs and execution secrets) under the current key while the
 * service keeps serving; a config secret in the legacy, unbound form is rewritten bound to its row
 * (so a run with an unchanged key still has work to do until every row is bound). Secrets are
 * visited in primary-key order a batch at a time; each batch commits in its own transaction, and
 * each row is updated only if its token is still the one that was read (compare-and-set), so a
 * concurrent write always wins. Nothing marks progress: a token already in its final form is
 * skipped and counted, which is what makes a killed run resumable. Readers keep working
 * throughout, since the previous keys decrypt until the run is over.
 */
@Injectable()
export class KeyRotationService {
  private readonly logger = new Logger('KeyRotation');
  private readonly configs: ConfigsRepository;
  private readonly executionSecrets: ExecutionSecretsRepository;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
    private readonly audit: AuditService,
    @Optional() configs?: ConfigsRepository,
    @Optional() executionSecrets?: ExecutionSecretsRepository,
  ) {
    // Stateless over the DataSource: built here when the caller (a unit test) gives none.
    this.configs = configs ?? new ConfigsRepository(dataSource);
    this.executionSecrets = executionSecrets ?? new ExecutionSecretsRepository(dataSource);
  }

  async rotate(opts: RotationOptions = {}): Promise<RotationReport> {
    const batchSize = opts.batchSize ?? ROTATION_BATCH;
    const actor = opts.actor ?? CLI_PRINCIPAL;
    const report: RotationReport = { reencrypted: 0, alreadyCurrent: 0, failed: 0, changedConcurrently: 0, batches: 0, complete: true, failures: [] };
    const budgetLeft = () => opts.maxBatches === undefined || report.batches < opts.maxBatches;

    // Configs, keyset on (scope, key).
    let after: { scope: string; key: string } | null = null;
    let configsDone = false;
    for (;;) {
      if (!budgetLeft()) {
        report.complete = false;
        break;
      }
      const rows = await this.configs.tokensAfter(after, batchSize);
      if (rows.length === 0) {
        configsDone = true;
        break;
      }
      after = { scope: rows[rows.length - 1].scope, key: rows[rows.length - 1].key };
      // Each token also moves to the bound form, bound to its own row; one bound elsewhere (a copied
      // row) opens nowhere and is left as it is, reported as failed.
      const candidates = this.sort(
        report,
        rows.map((r) => ({ id: { scope: r.scope, key: r.key }, old: r.ciphertext!, keyId: r.keyId })),
        (id) => ({ table: 'configs', scope: id.scope, key: id.key }),
        (row) => this.crypto.rebind(row.old, row.id),
      );
      await this.commit(report, actor, 'configs', candidates, (em, c) => this.configs.swapToken(em, c.id, c.old, c.next, this.crypto.currentKeyId));
      opts.onProgress?.(report);
      if (rows.length < batchSize) {
        configsDone = true;
        break;
      }
    }

    // Dynamic secrets of executions, keyset on id.
    let afterId = 0;
    for (let more = configsDone && (await this.executionSecrets.exists()); more; ) {
      if (!budgetLeft()) {
        report.complete = false;
        break;
      }
      const rows = await this.executionSecrets.tokensAfter(afterId, batchSize);
      if (rows.length === 0) break;
      afterId = Number(rows[rows.length - 1].id);
      const candidates = this.sort(
        report,
        rows.map((r) => ({ id: String(r.id), old: r.ciphertext, keyId: r.key_id })),
        (id) => ({ table: 'execution_secrets', id }),
        (row) => (this.crypto.isCurrent(row.old) ? row.old : this.crypto.reencrypt(row.old)),
      );
      await this.commit(report, actor, 'execution_secrets', candidates, (em, c) => this.executionSecrets.swapToken(em, c.id, c.old, c.next, this.crypto.currentKeyId));
      opts.onProgress?.(report);
      more = rows.length === batchSize;
    }
    await this.audit.recordRead({
      action: 'key.rotate',
      outcome: report.failed > 0 ? 'failure' : 'success',
      reason: `reencrypted=${report.reencrypted} alreadyCurrent=${report.alreadyCurrent} failed=${report.failed}${report.complete ? '' : ' (stopped early)'}`,
      actor,
    });
    if (report.failed > 0) this.logger.warn({ msg: 'secrets that no configured key decrypts were left as they are', failed: report.failed });
    return report;
  }

  /**
   * Splits a batch into current tokens (counted), undecryptable ones (counted) and ones to rewrite.
   * `rewrite` gives a row's token in its final form: the same string when there is nothing to do.
   */
  private sort<Id>(
    report: RotationReport,
    rows: { id: Id; old: string; keyId: string | null }[],
    describe: (id: Id) => RotationFailure,
    rewrite: (row: { id: Id; old: string }) => string,
  ): Candidate<Id>[] {
    const out: Candidate<Id>[] = [];
    for (const row of rows) {
      try {
        const next = rewrite(row);
        // A final token whose row does not say so yet (written before key ids were kept) gets its key id.
        if (next === row.old && row.keyId === this.crypto.currentKeyId) report.alreadyCurrent++;
        else out.push({ id: row.id, old: row.old, next, relabel: next === row.old });
      } catch {
        report.failed++;
        if (report.failures.length < 100) report.failures.push(describe(row.id));
      }
    }
    return out;
  }

  private async commit<Id>(
    report: RotationReport,
    actor: Principal,
    table: string,
    candidates: Candidate<Id>[],
    update: (em: EntityManager, c: Candidate<Id>) => Promise<boolean>,
  ): Promise<void> {
    report.batches++;
    if (candidates.length === 0) return;
    // Counted after the commit, so a retried transaction is not counted twice.
    const { done, relabelled, lost } = await inTransaction(this.dataSource, async (em) => {
      let done = 0;
      let relabelled = 0;
      let lost = 0;
      for (const c of candidates) {
        if (!(await update(em, c))) lost++;
        else if (c.relabel) relabelled++;
        else done++;
      }
      await this.audit.record(em, { action: 'key.rotate', outcome: 'success', reason: `${table} batch: reencrypted=${done}`, actor });
      return { done, relabelled, lost };
    });
    report.reencrypted += done;
    report.alreadyCurrent += relabelled;
    report.changedConcurrently += lost;
  }

  /** The stored secrets counted by the key they are under (see keyCensus): what a rotation has left to do. */
  status(): Promise<KeyCensus> {
    return keyCensus(this.dataSource, this.crypto);
  }
}
