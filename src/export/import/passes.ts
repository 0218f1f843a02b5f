import type { EntityManager } from 'typeorm';
import type { AuditInput } from '../../audit/audit.service';
import type { Principal } from '../../auth/roles';
import type { BundleHeader } from '../bundle';
import { DuplicateCheck } from '../duplicate-check';
import { ProblemList } from '../problem-list';
import { forEachBatch } from './batches';
import { OrgLookup } from './orgs';
import { invalidBundle, refusal } from './problems';
import { resolveBatch } from './rows';
import type { SecretOpener } from './secrets';
import type { BundleSource, ImportDeps, ImportOptions, ImportProgress, ImportResult } from './types';
import { applyBatch, WriteState } from './writes';

/** One import's document, options and the means to read its rows, shared by its passes. */
export interface ImportRun {
  deps: ImportDeps;
  actor: Principal;
  source: BundleSource;
  header: BundleHeader;
  opener: SecretOpener;
  opts: ImportOptions;
  onProgress?: (p: ImportProgress) => void;
}

/** What the checking pass leaves to the write pass. */
export interface Checked {
  /** The orgs it met, with the ids planned for those the import creates. */
  orgs: OrgLookup;
  /** The one scope every row goes to (for the summary entry's scope), else null. */
  onlyScope: string | null;
}

/**
 * Pass 2: every row checked; every problem counted, the first MAX_LISTED_PROBLEMS by row listed;
 * any problem refuses the import (403 for rows outside the actor's org, else 400).
 */
export async function checkPass(run: ImportRun): Promise<Checked> {
  const problems = new ProblemList();
  const orgs = new OrgLookup(run.deps.orgs, null);
  let onlyScope: string | null | undefined;
  let checked = 0;
  const dups = new DuplicateCheck(run.header.rows);
  try {
    await forEachBatch(run.source, run.header, async (batch) => {
      const resolved = await resolveBatch({ ...run, orgs }, batch, problems);
      for (const r of resolved) {
        dups.add(r.scopeOut === 'global' ? '' : r.scopeOut.org, r.parsed.key, r.row);
        onlyScope = onlyScope === undefined || onlyScope === r.scopeId ? r.scopeId : null;
      }
      await dups.flush();
      checked += batch.length;
      run.onProgress?.({ phase: 'validate', rows: checked });
    });
    for await (const d of dups.duplicates()) {
      problems.push({ row: d.row, key: d.key, code: 'DUPLICATE_CONFIG', message: `The same scope and key appear in row ${d.first} already` });
    }
  } finally {
    await dups.dispose();
  }
  if (problems.total > 0) throw refusal(problems);
  return { orgs, onlyScope: onlyScope ?? null };
}

/**
 * Pass 3: the same decisions again, written in `em`'s transaction (null: a dry run, only counted),
 * with the secret versions of the scopes changed and the summary audit entry.
 */
export async function writePass(run: ImportRun, checked: Checked, em: EntityManager | null): Promise<ImportResult> {
  const { deps, actor, opts, header } = run;
  const state: WriteState = { result: { created: 0, updated: 0, skipped: 0, secretsNeedingValue: [], errors: [] }, touchedSecretScopes: new Set(), problems: new ProblemList() };
  const orgs = new OrgLookup(deps.orgs, em, em ? actor : null, checked.orgs.plans);
  let written = 0;
  await forEachBatch(run.source, header, async (batch) => {
    const again = new ProblemList();
    const resolved = await resolveBatch({ ...run, orgs }, batch, again);
    if (again.total > 0) throw invalidBundle(again); // the document or the orgs changed between passes
    await applyBatch(deps, em, actor, resolved, opts, state);
    written += batch.length;
    run.onProgress?.({ phase: 'write', rows: written });
  });
  // All or nothing: the transaction is rolled back, and a dry run is refused the same way.
  if (state.problems.total > 0) throw invalidBundle(state.problems);
  const { result } = state;
  const summaryScope = checked.onlyScope;
  const summary: AuditInput = {
    action: 'config.import',
    outcome: 'success',
    scope: summaryScope && !summaryScope.startsWith('new:') ? summaryScope : null,
    reason: `created=${result.created} updated=${result.updated} skipped=${result.skipped} onConflict=${opts.onConflict}${header.kind === 'bifrost' ? ' bifrost' : ''}${opts.dryRun ? ' (dry run)' : ''}`,
    actor,
  };
  if (em) {
    for (const scope of state.touchedSecretScopes) await deps.secretVersions.bump(em, scope);
    await deps.audit.record(em, summary);
  } else {
    await deps.audit.recordRead(summary);
  }
  return result;
}
