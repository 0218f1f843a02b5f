import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { inTransaction } from '../common/database';
import { AppError, forbidden } from '../common/errors';
import { ConfigsRepository } from '../configs/configs.repository';
import { SecretVersions } from '../configs/secret-versions';
import { CryptoService } from '../crypto/crypto.service';
import { OrgsRepository } from '../scopes/orgs.repository';
import { readHeader } from './import/batches';
import { checkPass, ImportRun, writePass } from './import/passes';
import { invalidBundle } from './import/problems';
import { secretOpener } from './import/secrets';
import type { BundleSource, ImportDeps, ImportOptions, ImportProgress, ImportResult } from './import/types';
import { leakRefusalSummary } from '../leaks/import-rows';

export { IMPORT_BATCH, STATEMENT_ROWS, statementSlices } from './import/statements';
export type { BundleSource, ImportOptions, ImportProgress, ImportResult, OnConflict } from './import/types';

/**
 * Imports a bundle (this service's, or Bifrost's configs export) all or nothing. The document is
 * read three times as a stream and never held whole: once for its header, once to check every
 * row (all problems are collected, each with its row), and once, inside one transaction, to
 * write. A dry run does the third pass without writing and so answers the same counts. The parts
 * are in ./import: batches (reading), rows (checking), orgs, secrets, writes, passes.
 */
@Injectable()
export class ImportService {
  private readonly deps: ImportDeps;

  constructor(
    @InjectDataSource() dataSource: DataSource,
    crypto: CryptoService,
    private readonly audit: AuditService,
    secretVersions: SecretVersions,
    configs: ConfigsRepository,
    orgs: OrgsRepository,
  ) {
    this.deps = { dataSource, crypto, audit, secretVersions, configs, orgs };
  }

  async import(actor: Principal, source: BundleSource, opts: ImportOptions, onProgress?: (p: ImportProgress) => void): Promise<ImportResult> {
    try {
      return await this.run(actor, source, opts, onProgress);
    } catch (err) {
      const code = err instanceof AppError ? err.code : 'INTERNAL_ERROR';
      // A refused import is audited too; outside any transaction, since nothing was written.
      await this.audit
        .recordRead({ action: 'config.import', outcome: err instanceof AppError && err.getStatus() === 403 ? 'denied' : 'failure', reason: `${code}${leakRefusalSummary(err)}${opts.dryRun ? ' (dry run)' : ''}`, actor })
        .catch(() => undefined);
      throw err;
    }
  }

  private async run(actor: Principal, source: BundleSource, opts: ImportOptions, onProgress?: (p: ImportProgress) => void): Promise<ImportResult> {
    if (actor.role !== 'admin' && opts.createOrgs) throw forbidden('Only admin may create orgs', 'ORG_FORBIDDEN');
    const header = await readHeader(source);
    if (header.problems.length > 0) throw invalidBundle(header.problems);
    const opener = secretOpener(this.deps.crypto, opts.sourceSecretKey ?? header.sourceSecretKey);
    const run: ImportRun = { deps: this.deps, actor, source, header, opener, opts, onProgress };
    const checked = await checkPass(run);
    return opts.dryRun ? writePass(run, checked, null) : inTransaction(this.deps.dataSource, (em) => writePass(run, checked, em));
  }
}
