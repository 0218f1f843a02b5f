import { HttpStatus, Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { randomUUID } from 'node:crypto';
import { DataSource, EntityManager } from 'typeorm';
import { AuditInput, AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { inTransaction, timeParam } from '../common/database';
import { AppError, badRequest, forbidden } from '../common/errors';
import { ConfigEntity } from '../configs/config.entity';
import { normalizeValue } from '../configs/config-values';
import { SecretVersions } from '../configs/secret-versions';
import { OpenedSecret, SecretBinding, decodeBound, sameBinding } from '../crypto/binding';
import { CryptoService } from '../crypto/crypto.service';
import { utf8Decode } from '../crypto/encoding';
import { InvalidTokenError } from '../crypto/fernet';
import { Keyring } from '../crypto/keyring';
import { GLOBAL_SCOPE } from '../scopes/org-scope.guard';
import { Org } from '../scopes/org.entity';
import { isUuid } from '../common/params';
import { confusableWith, normalizeOrgName } from '../scopes/org-names';
import { BundleHeader, BundleScope, descendBundle, headerCollector, ImportProblem, isRowPath, ParsedRow, parseRow, rowArrayPath } from './bundle';
import { DuplicateCheck } from './duplicate-check';
import { JsonSyntaxError, JsonValueTooLargeError, scanJson } from './json-stream';
import { ProblemList } from './problem-list';
import { checkImportRow, leakRefusalSummary } from '../leaks/import-rows';

export type OnConflict = 'overwrite' | 'skip';

export interface ImportOptions {
  dryRun: boolean;
  onConflict: OnConflict;
  createOrgs: boolean;
  /**
   * With onConflict=overwrite, a row of another type over an existing secret discards the secret:
   * only with this set (else the row is a SECRET_TYPE_CHANGE problem), as for a REST PUT.
   */
  allowTypeChange?: boolean;
  /** Takes the place of the body's sourceSecretKey (the CLI reads it from the environment). */
  sourceSecretKey?: string;
  /** Plain rows that look like credentials are imported (audited) instead of being LOOKS_LIKE_A_SECRET problems. */
  allowSecretLikeValues?: boolean;
}

export interface ImportResult {
  created: number;
  updated: number;
  skipped: number;
  secretsNeedingValue: { scope: BundleScope; key: string }[];
  /** Always empty: an import with any problem writes nothing and answers 400 instead. */
  errors: ImportProblem[];
}

export interface ImportProgress {
  phase: 'validate' | 'write';
  rows: number;
}

/** The document, readable more than once (a file; a request spooled to a file). */
export type BundleSource = () => AsyncIterable<Buffer>;

/** Rows are checked and written this many at a time (exactly, but for the last batch): bounded memory, few statements. */
export const IMPORT_BATCH = 500;
/** The source is fed to the scanner at most this many bytes at a time, so a batch never overshoots by much. */
const SCAN_SLICE = 64 * 1024;
/**
 * Row counts of the multi-row statements (upsert, audit insert): a batch is written as a few of
 * these, largest first, so only these shapes of SQL ever exist. better-sqlite3 prepares each
 * distinct SQL text and TypeORM keeps the last 100 prepared: with a statement per batch of varying
 * length that cache filled with large statements and native memory grew with the import (~17 MiB).
 */
export const STATEMENT_ROWS = [100, 10, 1] as const;
/** IN-list lengths of the lookup of existing configs: a scope's keys are padded up to one of these. */
const IN_LIST_SIZES = [1, 4, 16, 64, 256, IMPORT_BATCH] as const;

/** Splits `items` into slices whose lengths are all in STATEMENT_ROWS. */
export function statementSlices<T>(items: T[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  for (const size of STATEMENT_ROWS) {
    while (items.length - i >= size) {
      out.push(items.slice(i, i + size));
      i += size;
    }
  }
  return out;
}

interface SecretOpener {
  /**
   * The token opened: its binding (null: the legacy, unbound form) and value, and whether it is
   * under this deployment's current key (so it can be kept as it is).
   */
  open(token: string): OpenedSecret & { current: boolean };
  /**
   * True when the tokens are opened with a sourceSecretKey: whoever holds the key can read them
   * anyway, so their binding is not checked and each value is encrypted again for its new place.
   */
  withSourceKey: boolean;
  /** What a row's problem says when no key opens its token. */
  failure: string;
}

const scopeMismatch = () =>
  badRequest(
    'SECRET_SCOPE_MISMATCH',
    'The encryptedValue was encrypted for another scope or key: a secret moves elsewhere only decrypted and encrypted again (send the bundle wrapped with its sourceSecretKey)',
  );
const unbound = () =>
  badRequest(
    'SECRET_UNBOUND',
    'The encryptedValue is in the old form that names no scope: only an admin may import it as it is (or send the bundle wrapped with its sourceSecretKey)',
  );

interface Resolved {
  row: number;
  parsed: ParsedRow;
  /** The org's id, or null for global; a `new:` placeholder for an org a dry run would create. */
  scopeId: string;
  scopeOut: BundleScope;
  secretPlain: string | null;
  secretKeep?: string;
  /** A credential-looking plain value imported by allowSecretLikeValues: its audit note. */
  leakNote?: string;
}

const invalidBundle = (problems: ImportProblem[] | ProblemList) => {
  const list = problems instanceof ProblemList ? problems : listOf(problems);
  return badRequest('INVALID_BUNDLE', `${list.summary('The bundle has')}; nothing was imported`, list.listed());
};

const listOf = (problems: ImportProblem[]) => {
  const list = new ProblemList();
  list.push(...problems);
  return list;
};

/**
 * Imports a bundle (this service's, or Bifrost's configs export) all or nothing. The document is
 * read three times as a stream and never held whole: once for its header, once to check every
 * row (all problems are collected, each with its row), and once, inside one transaction, to
 * write. A dry run does the third pass without writing and so answers the same counts.
 */
@Injectable()
export class ImportService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
    private readonly audit: AuditService,
    private readonly secretVersions: SecretVersions,
  ) {}

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
    const header = await this.readHeader(source);
    if (header.problems.length > 0) throw invalidBundle(header.problems);
    const sourceKey = opts.sourceSecretKey ?? header.sourceSecretKey;
    const opener = this.opener(sourceKey);

    // Pass 2: every row checked; every problem counted, the first MAX_LISTED_PROBLEMS by row listed.
    const problems = new ProblemList();
    const orgs = new OrgLookup(this.dataSource.manager);
    // Scopes written to, for the summary entry's scope; only whether there is exactly one matters.
    let onlyScope: string | null | undefined;
    let checked = 0;
    const dups = new DuplicateCheck(header.rows);
    try {
      await this.forEachBatch(source, header, async (batch) => {
        const resolved = await this.resolveBatch(header, batch, opener, orgs, opts, actor, problems);
        for (const r of resolved) {
          dups.add(r.scopeOut === 'global' ? '' : r.scopeOut.org, r.parsed.key, r.row);
          onlyScope = onlyScope === undefined || onlyScope === r.scopeId ? r.scopeId : null;
        }
        await dups.flush();
        checked += batch.length;
        onProgress?.({ phase: 'validate', rows: checked });
      });
      for await (const d of dups.duplicates()) {
        problems.push({ row: d.row, key: d.key, code: 'DUPLICATE_CONFIG', message: `The same scope and key appear in row ${d.first} already` });
      }
    } finally {
      await dups.dispose();
    }
    if (problems.total > 0) {
      if (problems.scopeForbidden) {
        throw new AppError(HttpStatus.FORBIDDEN, 'ORG_FORBIDDEN', `The bundle has configs outside your org; nothing was imported${problems.total > problems.limit ? ` (${problems.summary('found')})` : ''}`, problems.listed());
      }
      throw invalidBundle(problems);
    }
    const summaryScope = onlyScope ?? null;

    // Pass 3: the same decisions, written in one transaction (or only counted, for a dry run).
    const apply = async (em: EntityManager | null) => {
      const result: ImportResult = { created: 0, updated: 0, skipped: 0, secretsNeedingValue: [], errors: [] };
      const writeOrgs = new OrgLookup(em ?? this.dataSource.manager, em ? actor : null, orgs.plans);
      const touchedSecretScopes = new Set<string>();
      // Rows that would replace a secret with another type (only known against what exists).
      const downgrades = new ProblemList();
      let written = 0;
      await this.forEachBatch(source, header, async (batch) => {
        const again = new ProblemList();
        const resolved = await this.resolveBatch(header, batch, opener, writeOrgs, opts, actor, again);
        if (again.total > 0) throw invalidBundle(again); // the document or the orgs changed between passes
        await this.applyBatch(em, actor, resolved, opts, result, touchedSecretScopes, downgrades);
        written += batch.length;
        onProgress?.({ phase: 'write', rows: written });
      });
      // All or nothing: the transaction is rolled back, and a dry run is refused the same way.
      if (downgrades.total > 0) throw invalidBundle(downgrades);
      const summary: AuditInput = {
        action: 'config.import',
        outcome: 'success',
        scope: summaryScope && !summaryScope.startsWith('new:') ? summaryScope : null,
        reason: `created=${result.created} updated=${result.updated} skipped=${result.skipped} onConflict=${opts.onConflict}${header.kind === 'bifrost' ? ' bifrost' : ''}${opts.dryRun ? ' (dry run)' : ''}`,
        actor,
      };
      if (em) {
        for (const scope of touchedSecretScopes) await this.secretVersions.bump(em, scope);
        await this.audit.record(em, summary);
      } else {
        await this.audit.recordRead(summary);
      }
      return result;
    };
    return opts.dryRun ? apply(null) : inTransaction(this.dataSource, (em) => apply(em));
  }

  /** Pass 1: format, version, wrapping and key; rows are only counted. */
  async readHeader(source: BundleSource): Promise<BundleHeader> {
    const { handlers, result } = headerCollector();
    await this.scan(source, handlers);
    return result();
  }

  private async scan(source: BundleSource, handlers: Parameters<typeof scanJson>[1], onChunk?: () => Promise<void>): Promise<void> {
    try {
      await scanJson(source(), handlers, onChunk);
    } catch (err) {
      if (err instanceof JsonSyntaxError) throw badRequest('INVALID_JSON', err.message);
      if (err instanceof JsonValueTooLargeError) {
        const row = typeof err.path[err.path.length - 1] === 'number' ? (err.path[err.path.length - 1] as number) : null;
        throw invalidBundle([{ row, code: 'VALUE_TOO_LARGE', message: err.message }]);
      }
      throw err;
    }
  }

  private async forEachBatch(source: BundleSource, header: BundleHeader, fn: (batch: { row: number; raw: unknown }[]) => Promise<void>): Promise<void> {
    const rowsAt = rowArrayPath(header).join('\u0000');
    const pending: { row: number; raw: unknown }[] = [];
    const isOurRow = (path: readonly (string | number)[]) => isRowPath(path) && path.slice(0, -1).join('\u0000') === rowsAt;
    const sliced = async function* (): AsyncIterable<Buffer> {
      for await (const chunk of source()) {
        for (let i = 0; i < chunk.length; i += SCAN_SLICE) yield chunk.subarray(i, i + SCAN_SLICE);
      }
    };
    await this.scan(
      sliced,
      {
        descend: descendBundle,
        wants: isOurRow,
        value: (path, value) => {
          if (isOurRow(path)) pending.push({ row: path[path.length - 1] as number, raw: value });
        },
      },
      async () => {
        while (pending.length >= IMPORT_BATCH) await fn(pending.splice(0, IMPORT_BATCH));
      },
    );
    if (pending.length > 0) await fn(pending);
  }

  /** Checks a batch of rows: shape and values, secrets opened, orgs looked up. */
  private async resolveBatch(
    header: BundleHeader,
    batch: { row: number; raw: unknown }[],
    opener: SecretOpener,
    orgs: OrgLookup,
    opts: ImportOptions,
    actor: Principal,
    problems: ProblemList,
  ): Promise<Resolved[]> {
    const parsed: { row: number; parsed: ParsedRow }[] = [];
    for (const { row, raw } of batch) {
      const r = parseRow(header.kind!, raw, row);
      if (r.parsed) parsed.push({ row, parsed: r.parsed });
      else problems.push(...r.problems);
    }
    await orgs.prefetch(parsed.map((p) => p.parsed.scope));
    const out: Resolved[] = [];
    for (const { row, parsed: p } of parsed) {
      let name: string | null = null;
      let scopeId: string | null = GLOBAL_SCOPE;
      if (p.scope.kind === 'orgId') {
        name = orgs.nameOf(p.scope.id);
        if (name === null) {
          problems.push({ row, key: p.key, code: 'ORG_NOT_FOUND', message: 'organization_id names no org here and the item has no organization_name' });
          continue;
        }
      } else if (p.scope.kind === 'org') name = p.scope.name;
      if (name !== null) {
        scopeId = orgs.idOf(name);
        if (scopeId === null) {
          if (!opts.createOrgs) {
            problems.push({ row, key: p.key, code: 'ORG_NOT_FOUND', message: 'The org named by this row does not exist here (import with createOrgs=true to create it)' });
            continue;
          }
          if (await orgs.looksLikeAnother(name)) {
            problems.push({ row, key: p.key, code: 'ORG_NAME_CONFUSABLE', message: 'The org named by this row looks like an existing org (or one created earlier in this bundle); its name must read differently' });
            continue;
          }
          scopeId = await orgs.create(name);
        }
      }
      if (actor.role !== 'admin' && scopeId !== actor.orgId) {
        problems.push({ row, key: p.key, code: 'SCOPE_FORBIDDEN', message: 'You may import configs of your own org only' });
        continue;
      }
      let secretPlain: string | null = null;
      let secretKeep: string | undefined;
      if (p.type === 'secret' && p.secretToken !== null) {
        try {
          const opened = opener.open(p.secretToken);
          // A ciphertext of this deployment is accepted only into the scope and key it was written for.
          const kept = opener.withSourceKey ? false : await this.checkBinding(opened.binding, scopeId!, name, p.key, actor, orgs);
          if (opened.value.length > 0) {
            normalizeValue('secret', opened.value);
            secretPlain = opened.value;
            if (kept && opened.current) secretKeep = p.secretToken;
          }
        } catch (err) {
          if (err instanceof AppError) problems.push({ row, key: p.key, code: err.code, message: err.message });
          else if (err instanceof InvalidTokenError || err instanceof TypeError) {
            problems.push({ row, key: p.key, code: 'SECRET_UNDECRYPTABLE', message: opener.failure });
          } else throw err;
          continue;
        }
      }
      const scopeOut: BundleScope = name === null ? 'global' : { org: name };
      const leak = checkImportRow(row, scopeOut, p, opts.allowSecretLikeValues === true);
      if (leak.problem) {
        problems.push(leak.problem);
        continue;
      }
      out.push({ row, parsed: p, scopeId: scopeId!, scopeOut, secretPlain, secretKeep, leakNote: leak.note });
    }
    return out;
  }

  /** Decides each row of a batch against what exists, and writes it unless this is a dry run. */
  private async applyBatch(
    em: EntityManager | null,
    actor: Principal,
    rows: Resolved[],
    opts: ImportOptions,
    result: ImportResult,
    touchedSecretScopes: Set<string>,
    problems: ProblemList,
  ): Promise<void> {
    const existing = await this.existing(em, rows);
    const now = new Date();
    const writes: ConfigEntity[] = [];
    const entries: AuditInput[] = [];
    for (const r of rows) {
      const p = r.parsed;
      const old = existing.get(`${r.scopeId}\u0000${p.key}`);
      const needsValue = () => result.secretsNeedingValue.push({ scope: r.scopeOut, key: p.key });
      if (old && opts.onConflict === 'skip') {
        result.skipped++;
        if (old.type === 'secret' && !old.hasValue) needsValue();
        continue;
      }
      const secret = p.type === 'secret';
      if (old?.type === 'secret' && !secret && opts.allowTypeChange !== true) {
        problems.push({
          row: r.row,
          key: p.key,
          code: 'SECRET_TYPE_CHANGE',
          message: 'This key holds a secret here; a row of another type would discard it (import with allowTypeChange=true to mean it)',
        });
        continue;
      }
      let ciphertext: string | null = null;
      if (secret && r.secretPlain !== null) ciphertext = em ? (r.secretKeep ?? this.crypto.encryptBound({ scope: r.scopeId, key: p.key }, r.secretPlain)) : 'dry-run';
      // A null secret never overwrites a value.
      if (secret && ciphertext === null && old?.type === 'secret' && old.hasValue) ciphertext = old.ciphertext;
      if (secret && ciphertext === null) needsValue();
      if (old) result.updated++;
      else result.created++;
      if (!em) continue;
      writes.push(
        Object.assign(new ConfigEntity(), {
          scope: r.scopeId,
          key: p.key,
          type: p.type,
          value: secret ? null : p.stored,
          ciphertext: secret ? ciphertext : null,
          // A kept token (secretKeep) is under the current key too (opened.current); an old row's keeps its id.
          keyId: !secret || ciphertext === null ? null : old && ciphertext === old.ciphertext ? (old.keyId ?? null) : this.crypto.currentKeyId,
          hasValue: secret ? ciphertext !== null : true,
          description: p.description === undefined ? (old?.description ?? null) : p.description,
          updatedBy: actor.name,
          createdAt: now,
          updatedAt: now,
        }),
      );
      if (secret || old?.type === 'secret') touchedSecretScopes.add(r.scopeId);
      const reason = old?.type === 'secret' && !secret ? `import, type changed from secret to ${p.type}` : 'import';
      entries.push({ action: old ? 'config.update' : 'config.create', outcome: 'success', scope: r.scopeId, key: p.key, configType: p.type, reason: r.leakNote ? `${reason}, ${r.leakNote}` : reason, actor });
    }
    // Once a row is refused nothing more is written: the import is refused at its end.
    if (!em || writes.length === 0 || problems.total > 0) return;
    // In slices of STATEMENT_ROWS rows (few distinct statements; and TypeORM's parameter handling,
    // which the audit insert goes through, grows with the square of a statement's parameters).
    for (const slice of statementSlices(writes)) await this.upsert(em, slice);
    for (const slice of statementSlices(entries)) await this.audit.record(em, slice);
  }

  /**
   * Inserts or replaces a batch of configs in one statement (created_at stays as it was on a row
   * that exists). Plain SQL: TypeORM's insert builder spent most of a 100,000-config import
   * handling its own parameters.
   */
  private async upsert(em: EntityManager, rows: ConfigEntity[]): Promise<void> {
    const sqlite = this.dataSource.options.type === 'better-sqlite3';
    const columns = ['scope', '`key`', 'type', 'value', 'ciphertext', 'key_id', 'has_value', 'description', 'updated_by', 'created_at', 'updated_at'];
    const replaced = ['type', 'value', 'ciphertext', 'key_id', 'has_value', 'description', 'updated_by', 'updated_at'];
    const params: unknown[] = [];
    for (const r of rows) {
      params.push(r.scope, r.key, r.type, r.value, r.ciphertext, r.keyId, r.hasValue ? 1 : 0, r.description, r.updatedBy, timeParam(this.dataSource, r.createdAt), timeParam(this.dataSource, r.updatedAt));
    }
    const tuple = `(${columns.map(() => '?').join(', ')})`;
    // A secret's exposure lasts until a new value is set: kept only when the token is the one already stored
    // (first in MySQL's list, which sees the columns assigned before it).
    const exposure = sqlite ? 'exposed_at = CASE WHEN configs.ciphertext IS excluded.ciphertext THEN configs.exposed_at ELSE NULL END' : 'exposed_at = IF(ciphertext <=> VALUES(ciphertext), exposed_at, NULL)';
    const conflict = sqlite
      ? ` ON CONFLICT (scope, \`key\`) DO UPDATE SET ${exposure}, ${replaced.map((c) => `${c} = excluded.${c}`).join(', ')}`
      : ` ON DUPLICATE KEY UPDATE ${exposure}, ${replaced.map((c) => `${c} = VALUES(${c})`).join(', ')}`;
    await em.query(`INSERT INTO configs (${columns.join(', ')}) VALUES ${rows.map(() => tuple).join(', ')}${conflict}`, params);
  }

  private async existing(em: EntityManager | null, rows: Resolved[]): Promise<Map<string, ConfigEntity>> {
    const byScope = new Map<string, string[]>();
    for (const r of rows) {
      if (r.scopeId.startsWith('new:')) continue; // an org this dry run would create has no configs
      const keys = byScope.get(r.scopeId) ?? [];
      keys.push(r.parsed.key);
      byScope.set(r.scopeId, keys);
    }
    const out = new Map<string, ConfigEntity>();
    for (const [scope, keys] of byScope) {
      // Padded (with its last key again) to one of a few lengths, so few distinct statements exist.
      const size = IN_LIST_SIZES.find((n) => n >= keys.length) ?? keys.length;
      while (keys.length < size) keys.push(keys[keys.length - 1]);
      const qb = (em ?? this.dataSource.manager)
        .getRepository(ConfigEntity)
        .createQueryBuilder('c')
        .select(['c.scope', 'c.key', 'c.type', 'c.ciphertext', 'c.keyId', 'c.hasValue', 'c.description'])
        .where('c.scope = :scope AND c.key IN (:...keys)', { scope, keys });
      // MySQL: lock the rows (and the gaps where new ones go) until the import commits.
      if (em && this.dataSource.options.type !== 'better-sqlite3') qb.setLock('pessimistic_write');
      for (const row of await qb.getMany()) out.set(`${row.scope}\u0000${row.key}`, row);
    }
    return out;
  }

  /**
   * Whether a token opened with this deployment's keys may go into (scopeId, key): true when it is
   * bound to exactly that place (it may then be kept as it is), false for a legacy, unbound token an
   * admin may bring in (it is then encrypted again, bound). Throws a row problem (AppError)
   * otherwise. For an org this import creates (`new:` in the checking pass), the org is planned
   * with the id the token is bound to, so a backup restored into an empty database keeps its orgs'
   * ids and its secrets.
   */
  private async checkBinding(binding: SecretBinding | null, scopeId: string, name: string | null, key: string, actor: Principal, orgs: OrgLookup): Promise<boolean> {
    if (binding === null) {
      if (actor.role !== 'admin') throw unbound();
      return false;
    }
    let target: string | null = scopeId;
    if (scopeId.startsWith('new:')) target = name === null ? null : await orgs.plan(name, binding.scope);
    if (target === null || !sameBinding(binding, { scope: target, key })) throw scopeMismatch();
    return true;
  }

  /**
   * How secret tokens are opened: with the source deployment's key when one is given (the values
   * are then encrypted again under this deployment's key, for their new place), else with this
   * deployment's own keys (a backup; its tokens are checked against where they go).
   */
  private opener(sourceSecretKey: string | undefined): SecretOpener {
    if (sourceSecretKey !== undefined) {
      let keyring: Keyring | null = null;
      try {
        keyring = CryptoService.keyringForSecret(sourceSecretKey);
      } catch {
        throw invalidBundle([{ row: null, code: 'INVALID_SOURCE_KEY', message: 'sourceSecretKey is not usable as a key' }]);
      }
      const ring = keyring;
      return {
        open: (token) => ({ ...decodeBound(utf8Decode(ring.decrypt(token))), current: false }),
        withSourceKey: true,
        failure: 'The secret cannot be decrypted with sourceSecretKey (wrong key?)',
      };
    }
    return {
      open: (token) => ({ ...this.crypto.open(token), current: this.crypto.isCurrent(token) }),
      withSourceKey: false,
      failure: 'The secret cannot be decrypted with this deployment’s keys: a bundle from another deployment is sent wrapped, with its sourceSecretKey',
    };
  }
}

/** Org names and ids met in a bundle, looked up a batch at a time and remembered. */
class OrgLookup {
  private readonly byName = new Map<string, string | null>();
  private readonly byId = new Map<string, string | null>();

  /**
   * @param creator when set, create() inserts the org (in `em`'s transaction); else it only pretends.
   * @param plans ids planned (by the checking pass) for the orgs this import creates, by name.
   */
  constructor(
    private readonly em: EntityManager,
    private readonly creator: Principal | null = null,
    readonly plans = new Map<string, string>(),
  ) {}

  /**
   * The id the org `name` (one this import creates) is to have, asked for by a secret bound to
   * `id`: the first secret of the org decides; null when `id` cannot be it (not an org id, taken by
   * an org that exists, planned for another org, or another id was planned already).
   */
  async plan(requested: string, id: string): Promise<string | null> {
    const name = normalizeOrgName(requested); // as create() names it
    const planned = this.plans.get(name);
    if (planned !== undefined) return planned === id ? id : null;
    if (!isUuid(id)) return null;
    for (const other of this.plans.values()) if (other === id) return null;
    if (!this.byId.has(id)) {
      const found = await this.em.getRepository(Org).createQueryBuilder('o').select(['o.id', 'o.name']).where('o.id = :id', { id }).getOne();
      if (found) this.remember(found);
      else this.byId.set(id, null);
    }
    if (this.byId.get(id) !== null) return null;
    this.plans.set(name, id);
    return id;
  }

  async prefetch(scopes: ParsedRow['scope'][]): Promise<void> {
    const names = new Set<string>();
    const ids = new Set<string>();
    for (const s of scopes) {
      if (s.kind === 'org' && !this.byName.has(normalizeOrgName(s.name))) names.add(normalizeOrgName(s.name));
      if (s.kind === 'orgId' && !this.byId.has(s.id)) ids.add(s.id);
    }
    const repo = this.em.getRepository(Org);
    if (names.size > 0) {
      const found = await repo.createQueryBuilder('o').select(['o.id', 'o.name']).where('o.name IN (:...names)', { names: [...names] }).getMany();
      for (const n of names) this.byName.set(n, null);
      for (const o of found) this.remember(o);
    }
    const uuids = [...ids].filter((id) => isUuid(id));
    for (const id of ids) this.byId.set(id, null);
    if (uuids.length > 0) {
      const found = await repo.createQueryBuilder('o').select(['o.id', 'o.name']).where('o.id IN (:...ids)', { ids: uuids }).getMany();
      for (const o of found) this.remember(o);
    }
  }

  private remember(o: Pick<Org, 'id' | 'name'>): void {
    this.byName.set(o.name, o.id);
    this.byId.set(o.id, o.name);
  }

  idOf(name: string): string | null {
    return this.byName.get(normalizeOrgName(name)) ?? null;
  }

  /** Names of every org here, read once, plus those this import creates. */
  private allNames?: Set<string>;

  /** True when `name` looks like (TR39 skeleton) an org here or one this bundle creates first. */
  async looksLikeAnother(name: string): Promise<boolean> {
    if (!this.allNames) {
      const rows = await this.em.getRepository(Org).find({ select: { name: true } });
      this.allNames = new Set(rows.map((o) => o.name));
      for (const [n, id] of this.byName) if (id !== null) this.allNames.add(n);
    }
    return confusableWith(name, this.allNames) !== null;
  }

  nameOf(id: string): string | null {
    return this.byId.get(id) ?? null;
  }

  async create(requested: string): Promise<string> {
    const name = normalizeOrgName(requested);
    this.allNames?.add(name);
    if (!this.creator) {
      const placeholder = `new:${name}`;
      this.byName.set(name, placeholder);
      return placeholder;
    }
    const org = Object.assign(new Org(), { id: this.plans.get(name) ?? randomUUID(), name, createdAt: new Date() });
    await this.em.insert(Org, org);
    this.remember(org);
    return org.id;
  }
}

