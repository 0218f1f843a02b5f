import type { EntityManager } from 'typeorm';
import type { AuditInput } from '../../audit/audit.service';
import type { Principal } from '../../auth/roles';
import { ConfigEntity } from '../../configs/config.entity';
import { planWrite } from '../../configs/config-write';
import { ProblemList } from '../problem-list';
import { paddedKeys, statementSlices } from './statements';
import type { ImportDeps, ImportOptions, ImportResult, Resolved } from './types';

/** What the write pass carries from batch to batch. */
export interface WriteState {
  result: ImportResult;
  /** Scopes whose secrets changed: their secret versions move on once, at the end. */
  touchedSecretScopes: Set<string>;
  /** Rows refused against what exists (a secret replaced by another type): the import is refused at its end. */
  problems: ProblemList;
}

/**
 * Decides each row of a batch against what exists (the write rule, planWrite, as a REST put) and,
 * unless this is a dry run (`em` null) or a row was refused, writes the batch in a few statements.
 */
export async function applyBatch(deps: ImportDeps, em: EntityManager | null, actor: Principal, rows: Resolved[], opts: ImportOptions, state: WriteState): Promise<void> {
  const { result, problems } = state;
  const existing = await existingRows(deps, em, rows);
  const ctx = { actor, now: new Date(), currentKeyId: deps.crypto.currentKeyId };
  const writes: ConfigEntity[] = [];
  const entries: AuditInput[] = [];
  for (const r of rows) {
    const p = r.parsed;
    const old = existing.get(`${r.scopeId}\u0000${p.key}`) ?? null;
    const needsValue = () => result.secretsNeedingValue.push({ scope: r.scopeOut, key: p.key });
    if (old && opts.onConflict === 'skip') {
      result.skipped++;
      if (old.type === 'secret' && !old.hasValue) needsValue();
      continue;
    }
    let ciphertext: string | null = null;
    if (p.type === 'secret' && r.secretPlain !== null) ciphertext = em ? (r.secretKeep ?? deps.crypto.encryptBound({ scope: r.scopeId, key: p.key }, r.secretPlain)) : 'dry-run';
    const write = planWrite(old, { scope: r.scopeId, key: p.key, type: p.type, stored: p.stored, ciphertext, description: p.description, allowTypeChange: opts.allowTypeChange, via: 'import', note: r.leakNote }, ctx);
    if (write.refused) {
      problems.push({
        row: r.row,
        key: p.key,
        code: write.refused,
        message: 'This key holds a secret here; a row of another type would discard it (import with allowTypeChange=true to mean it)',
      });
      continue;
    }
    if (p.type === 'secret' && !write.row.hasValue) needsValue();
    if (old) result.updated++;
    else result.created++;
    if (!em) continue;
    writes.push(write.row);
    if (write.touchesSecrets) state.touchedSecretScopes.add(r.scopeId);
    entries.push(write.audit);
  }
  // Once a row is refused nothing more is written: the import is refused at its end.
  if (!em || writes.length === 0 || problems.total > 0) return;
  // In slices of STATEMENT_ROWS rows (few distinct statements; and TypeORM's parameter handling,
  // which the audit insert goes through, grows with the square of a statement's parameters).
  for (const slice of statementSlices(writes)) await deps.configs.upsertMany(em, slice);
  for (const slice of statementSlices(entries)) await deps.audit.record(em, slice);
}

/** The configs the rows would write over, by scope and key; locked until the import commits when in its transaction. */
async function existingRows(deps: ImportDeps, em: EntityManager | null, rows: Resolved[]): Promise<Map<string, ConfigEntity>> {
  const byScope = new Map<string, string[]>();
  for (const r of rows) {
    if (r.scopeId.startsWith('new:')) continue; // an org this dry run would create has no configs
    const keys = byScope.get(r.scopeId) ?? [];
    keys.push(r.parsed.key);
    byScope.set(r.scopeId, keys);
  }
  const out = new Map<string, ConfigEntity>();
  for (const [scope, keys] of byScope) {
    for (const row of await deps.configs.manyForWrite(em, scope, paddedKeys(keys))) out.set(`${row.scope}\u0000${row.key}`, row);
  }
  return out;
}
