import { HttpStatus, Injectable, Logger } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { Principal } from '../auth/roles';
import { AppError } from '../common/errors';
import { LruMap } from '../common/lru-map';
import { currentContext, RequestContext } from '../common/request-context';
import { ConfigsRepository } from '../configs/configs.repository';
import { CryptoService } from '../crypto/crypto.service';
import { decodeExecutionSecret } from '../executions/execution.entity';
import { GLOBAL_SCOPE } from '../scopes/org-scope.guard';
import { isUuid } from '../common/params';
import { LayeredMatcher } from './layered-matcher';
import { Scrubber } from './scrubber';

/** Whose secrets a text is scrubbed with. */
export interface ScrubTarget {
  /**
   * The org the request acts for: its secrets and the global ones. `null` for an org-less request
   * (an admin not naming an org), which may see every org's data: every scope's secrets then.
   */
  orgId: string | null;
  /** An execution whose dynamic secrets are added, if it belongs to `orgId` (or any, when null). */
  executionId?: string | null;
}

interface ScopeEntry {
  version: number;
  /** The scope's secrets by key, with the ciphertext each was decrypted from: a reload decrypts only what changed. */
  byKey: Map<string, { ciphertext: string; plain: string }>;
  /** Keys of the scope's stored secrets that no configured key opens: its answers are withheld (fail closed). */
  unreadable: ReadonlySet<string>;
  layers: LayeredMatcher;
}

export const SECRETS_UNREADABLE = 'SECRETS_UNREADABLE';

/**
 * A scope (or execution) holds a stored secret that no configured key opens: its value is unknown,
 * so an answer that would be scrubbed of it cannot be checked, and is withheld (503), never sent
 * unscrubbed.
 */
export const secretsUnreadable = (where: 'org' | 'execution') =>
  new AppError(
    HttpStatus.SERVICE_UNAVAILABLE,
    SECRETS_UNREADABLE,
    `A stored secret of this ${where === 'org' ? 'org (or a global one)' : 'execution'} cannot be decrypted with the configured keys, so this answer, which must be checked for it, is withheld. ` +
      'An admin restores the key in BIFROST_SECRET_KEY_PREVIOUS (see `bifrost rotate-key --status`), or replaces or deletes that secret',
  );

const NONE: ReadonlySet<string> = new Set();

const plainsOf = (byKey: ScopeEntry['byKey']): string[] => {
  const out: string[] = [];
  for (const v of byKey.values()) out.push(v.plain);
  return out;
};

interface ExecutionEntry {
  id: string;
  /** execution_secrets is append-only, so the row count is the set's version. */
  count: number;
  secrets: string[];
  /** Its stored secrets that no configured key opens: answers naming it are withheld. */
  unreadable: number;
  /** Code units of its secrets: what its matcher's size follows. */
  chars: number;
  layers: LayeredMatcher;
}

const EXECUTION_ROW = '#execution';
const ALL_ROW = '#all';
/** Execution secret sets kept in memory (each is re-checked by its count on every use). */
const MAX_CACHED_EXECUTIONS = 1000;
/** And at most this many code units of their secrets (8 executions at the 256 KiB cap, thousands of usual ones). */
const EXECUTION_CACHE_CHARS = 2 * 1024 * 1024;
/** Combined matchers kept, one per (org, execution) shape; each is rebuilt when a version moves. */
const MAX_COMBINED = 256;
/** Noted writes kept per scope while one before them is missing (a burst); beyond, the next load covers them. */
const MAX_PENDING_NOTES = 1024;

export const EXECUTION_HEADER = 'x-bifrost-execution';

/** Versions a request's statement read with its data (SecretRegistry.prime). */
export interface PrimedVersions {
  orgId: string;
  versions: { scope: string; version: number }[];
  /** The named execution's registered secret count (0: not of this org). */
  execution?: { id: string; count: number };
}

/** What the registry needs of an HTTP request (Express's and Fastify's both fit). */
export interface ScrubbableRequest {
  headers: Record<string, string | string[] | undefined>;
  user?: Principal;
  context?: RequestContext;
}

/** The execution a request names: the context's (set from a path) or the X-Bifrost-Execution header. */
export function namedExecution(req: ScrubbableRequest | undefined, ctx: RequestContext | undefined): string | null {
  if (ctx?.executionId) return ctx.executionId;
  const header = req?.headers?.[EXECUTION_HEADER];
  return typeof header === 'string' && isUuid(header) ? header : null;
}

/**
 * The secrets every response, log line and stored execution payload is scrubbed with.
 *
 * Many instances may share one database, so nothing here is trusted without asking it: each
 * resolution reads the versions of the scopes involved (and the execution's secret count) in one
 * SELECT, and reloads (and decrypts) a scope's secrets only when its version moved. Matchers are
 * built once per combination of versions and reused until one of them moves. A secret set through
 * another instance is therefore scrubbed here from the next request on.
 */
@Injectable()
export class SecretRegistry {
  private readonly logger = new Logger('Scrubber');
  private readonly scopes = new Map<string, ScopeEntry>();
  /** The scopes whose entry has unreadable secrets: an org-less answer is withheld while any has. */
  private readonly unreadableScopes = new Set<string>();
  private readonly executions = new LruMap<string, ExecutionEntry>(MAX_CACHED_EXECUTIONS);
  private readonly combined = new LruMap<string, { key: string; layers: LayeredMatcher[]; scrubber: Scrubber }>(MAX_COMBINED);
  /** Execution secret loads in flight, shared by identical requests. */
  private readonly loads = new Map<string, Promise<void>>();
  /** The one load in flight per scope (see ensureScope). */
  private readonly scopeLoads = new Map<string, Promise<void>>();
  /** This instance's committed secret writes not applied yet, by scope and version (see noteWrite). */
  private readonly notes = new Map<string, Map<number, { key: string; value: { ciphertext: string; plain: string } | null }>>();
  /** The one application of noted writes in flight per scope. */
  private readonly scopeDrains = new Map<string, Promise<void>>();
  /** SUM(version) over secret_versions when every scope was last loaded: it grows with any change. */
  private allSum: number | null = null;
  /** Every scope's secrets in one matcher, for org-less requests, as of scopeEpoch = allLayersEpoch. */
  private allLayers: LayeredMatcher | null = null;
  private allLayersEpoch = -1;
  /** Moves whenever a scope's cached secrets change. */
  private scopeEpoch = 0;
  /** Every secret this instance knows, for log lines; null when it must be rebuilt. */
  private known: Scrubber | null = null;
  private readonly perRequest = new WeakMap<RequestContext, Map<string, Promise<Scrubber>>>();
  /** The versions a request's own statement read (see prime), by request. */
  private readonly primed = new WeakMap<RequestContext, PrimedVersions>();
  private readonly resolved = new WeakMap<RequestContext, Scrubber[]>();

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
    private readonly configs: ConfigsRepository,
  ) {}

  /** The target of an HTTP request, or null for an unauthenticated one (public routes, 401s). */
  targetOf(req: ScrubbableRequest): ScrubTarget | null {
    const ctx = req.context ?? currentContext();
    const principal = ctx?.principal ?? req.user;
    if (!principal) return null;
    return { orgId: ctx?.orgId ?? principal.orgId ?? null, executionId: namedExecution(req, ctx) };
  }

  /** The scrubber of an HTTP request: its target's, or every known secret when unauthenticated. */
  async forRequest(req: ScrubbableRequest): Promise<Scrubber> {
    const target = this.targetOf(req);
    return target ? this.forTarget(target) : this.allKnown();
  }

  /**
   * The up-to-date scrubber of a target. Within one request the result is remembered per target
   * (see `forget` for when the request itself changed the secrets).
   */
  forTarget(target: ScrubTarget, ctx: RequestContext | undefined = currentContext()): Promise<Scrubber> {
    const executionId = target.executionId && isUuid(target.executionId) ? target.executionId : null;
    const normalized: ScrubTarget = { orgId: target.orgId === GLOBAL_SCOPE ? null : target.orgId, executionId };
    if (!ctx) return this.resolve(normalized, undefined);
    let memo = this.perRequest.get(ctx);
    if (!memo) this.perRequest.set(ctx, (memo = new Map()));
    const memoKey = `${normalized.orgId ?? '*'}|${executionId ?? ''}`;
    const hit = memo.get(memoKey);
    if (hit) return hit;
    const pending = this.resolve(normalized, ctx).then((scrubber) => {
      const list = this.resolved.get(ctx) ?? [];
      if (!list.includes(scrubber)) list.push(scrubber);
      this.resolved.set(ctx, list);
      return scrubber;
    });
    memo.set(memoKey, pending);
    pending.catch(() => memo.delete(memoKey));
    return pending;
  }

  /**
   * The secret versions of (global, orgId), and the named execution's secret count, as the request's
   * own statement read them with its data (the SDK read's): its scrubber needs no second round trip.
   */
  prime(ctx: RequestContext | undefined, versions: PrimedVersions): void {
    if (ctx) this.primed.set(ctx, versions);
  }

  /** Drops what this request remembered (it has just registered secrets). */
  forget(ctx: RequestContext | undefined = currentContext()): void {
    if (!ctx) return;
    this.perRequest.delete(ctx);
    this.primed.delete(ctx);
  }

  /**
   * Every secret this instance has loaded (every scope since start-up, recent executions), with no
   * database round trip: for log lines and unauthenticated responses.
   */
  allKnown(): Scrubber {
    if (!this.known) {
      const parts: Scrubber[] = [];
      for (const entry of this.scopes.values()) parts.push(entry.layers.scrubber);
      for (const entry of this.executions.values()) parts.push(entry.layers.scrubber);
      this.known = Scrubber.combine(parts);
    }
    return this.known;
  }

  private readonly changed = (): void => {
    this.known = null;
  };

  /** A log line with every known secret (and those of the current request) replaced. */
  readonly scrubLogLine = (line: string): string => {
    const ctx = currentContext();
    const resolved = ctx && this.resolved.get(ctx);
    // One pass: the line's decoded views built once for every matcher, the regions merged.
    return (resolved && resolved.length > 0 ? Scrubber.combine([this.allKnown(), ...resolved]) : this.allKnown()).scrub(line);
  };

  /** Finishes every pending rebuild of a base matcher (removed secrets stop being redacted): for tests. */
  async settle(): Promise<void> {
    for (const entry of [...this.scopes.values(), ...this.executions.values()]) await entry.layers.flush();
    await this.allLayers?.flush();
  }

  /** Loads every scope's secrets (at start-up, so log lines are scrubbed from the first one). */
  async warm(): Promise<void> {
    await this.resolve({ orgId: null, executionId: null }, undefined);
  }

  private async resolve(target: ScrubTarget, ctx: RequestContext | undefined): Promise<Scrubber> {
    const { orgId, executionId } = target;
    const primed = ctx && this.primed.get(ctx);
    // The versions the request's own statement read (the SDK read's) are as fresh as its data: no second round trip.
    const usable = orgId !== null && primed?.orgId === orgId && (executionId ? primed.execution?.id === executionId : true);
    const rows = usable
      ? [...primed!.versions.map((r) => ({ k: r.scope, v: r.version })), ...(executionId ? [{ k: EXECUTION_ROW, v: primed!.execution!.count }] : [])]
      : await this.readVersions(orgId, executionId ?? null);
    const value = (k: string) => Number(rows.find((r) => r.k === k)?.v ?? 0);

    let scopes: string[];
    let versionKey: string;
    if (orgId) {
      scopes = [GLOBAL_SCOPE, orgId];
      await Promise.all(scopes.map((scope) => this.ensureScope(scope, value(scope))));
      // Fail closed: a secret of these scopes that cannot be opened cannot be scrubbed either.
      for (const scope of scopes) if (this.unreadableScopes.has(scope)) throw secretsUnreadable('org');
      versionKey = scopes.map((s) => `${s}@${this.scopes.get(s)?.version ?? 0}`).join(',');
    } else {
      const sum = value(ALL_ROW);
      if (sum !== this.allSum) await this.refreshAll(sum);
      if (this.unreadableScopes.size > 0) throw secretsUnreadable('org');
      // One matcher of every scope's secrets (changed like a scope's, see LayeredMatcher), rather
      // than one per scope: an admin's answers are scrubbed in one pass however many orgs there are.
      scopes = [];
      if (this.allLayersEpoch !== this.scopeEpoch) {
        const epoch = this.scopeEpoch;
        const all: string[] = [];
        for (const entry of this.scopes.values()) for (const v of entry.byKey.values()) all.push(v.plain);
        this.allLayers ??= new LayeredMatcher(this.changed);
        await this.allLayers.update(all);
        this.allLayersEpoch = epoch;
      }
      versionKey = `*@${this.allSum}`;
    }

    let execution: ExecutionEntry | undefined;
    if (executionId) {
      const count = value(EXECUTION_ROW);
      // 0 also when the execution belongs to another org: its secrets are not this request's.
      if (count > 0) execution = await this.ensureExecution(executionId, count);
      if (execution && execution.unreadable > 0) throw secretsUnreadable('execution');
    }

    // The request's scrubber is its scopes' and execution's matchers used together: nothing is built
    // here (each scope's and execution's matcher is built once per change, in slices, see LayeredMatcher).
    const shape = `${orgId ?? '*'}|${executionId ?? ''}`;
    const layers: LayeredMatcher[] = orgId === null && this.allLayers ? [this.allLayers] : [];
    for (const scope of scopes) {
      const entry = this.scopes.get(scope);
      if (entry) layers.push(entry.layers);
    }
    if (execution) layers.push(execution.layers);
    const key = `${versionKey}|${execution ? execution.count : 0}|${layers.map((l) => l.generation).join(',')}`;
    const cached = this.combined.get(shape);
    if (cached && cached.key === key && cached.layers.length === layers.length && cached.layers.every((l, i) => l === layers[i])) return cached.scrubber;
    const scrubber = Scrubber.combine(layers.map((l) => l.scrubber));
    this.combined.set(shape, { key, layers, scrubber });
    return scrubber;
  }

  /** One SELECT: the versions of the scopes (or their sum) and the execution's secret count. */
  private async readVersions(orgId: string | null, executionId: string | null): Promise<{ k: string; v: number | string }[]> {
    const parts: string[] = [];
    const params: unknown[] = [];
    if (orgId) {
      parts.push('SELECT scope AS k, version AS v FROM secret_versions WHERE scope IN (?, ?)');
      params.push(GLOBAL_SCOPE, orgId);
    } else {
      parts.push(`SELECT '${ALL_ROW}' AS k, COALESCE(SUM(version), 0) AS v FROM secret_versions`);
    }
    if (executionId) {
      parts.push(
        `SELECT '${EXECUTION_ROW}' AS k, COUNT(*) AS v FROM execution_secrets s INNER JOIN executions e ON e.id = s.execution_id WHERE s.execution_id = ?` +
          (orgId ? ' AND e.org_id = ?' : ''),
      );
      params.push(executionId);
      if (orgId) params.push(orgId);
    }
    return this.dataSource.query(parts.join(' UNION ALL '), params);
  }

  /**
   * Makes the cached secrets of one scope at least as new as `version`. One load per scope at a
   * time, shared by every request waiting meanwhile: under a burst of secret writes, a load serves
   * everyone whose version it covers and the rest share the next one (instead of one reload, and
   * one matcher rebuild, per write). A load reads the scope's version in the same statement as its
   * secrets, so what it covers is exact; a waiter it does not cover waits for the next load, which
   * starts after the waiter read its version and so holds every secret committed by then: two
   * rounds at most.
   */
  private async ensureScope(scope: string, version: number): Promise<void> {
    // A drain of this instance's own writes in flight often brings the version: wait for it first (it
    // does not count as a load below: it holds only the noted writes, not a snapshot).
    const drain = this.scopeDrains.get(scope);
    if (drain) await drain.catch(() => undefined);
    for (let round = 0; round < 2; round++) {
      const entry = this.scopes.get(scope);
      if (entry && entry.version >= version) return;
      let pending = this.scopeLoads.get(scope);
      if (!pending) {
        pending = this.loadScope(scope).finally(() => {
          this.scopeLoads.delete(scope);
          this.drainNotes(scope);
        });
        this.scopeLoads.set(scope, pending);
      }
      await pending;
    }
  }

  /** One statement: a scope's stored secrets and its version, as of one snapshot. */
  private async loadScope(scope: string): Promise<void> {
    const rows = await this.configs.secretsAndVersion(scope);
    let version = 0;
    const previous = this.scopes.get(scope);
    const known = previous?.byKey;
    const byKey: ScopeEntry['byKey'] = new Map();
    const unreadable = new Set<string>();
    for (const row of rows) {
      if (row.kind === 'v') {
        version = Number(row.v);
        continue;
      }
      const ciphertext = String(row.v);
      const key = String(row.k);
      const seen = known?.get(key);
      const plain = seen && seen.ciphertext === ciphertext ? seen.plain : this.decrypt(ciphertext);
      if (plain !== null) byKey.set(key, { ciphertext, plain });
      else unreadable.add(key);
    }
    if (unreadable.size > 0) this.warnUnreadable(`scope ${scope}`, unreadable.size);
    if (previous && previous.version > version) return;
    const layers = previous?.layers ?? new LayeredMatcher(this.changed);
    await layers.update(plainsOf(byKey));
    const current = this.scopes.get(scope);
    if (current && current !== previous && current.version > version) return;
    this.setScope(scope, { version, byKey, unreadable: unreadable.size > 0 ? unreadable : NONE, layers });
  }

  private setScope(scope: string, entry: ScopeEntry): void {
    this.scopes.set(scope, entry);
    if (entry.unreadable.size > 0) this.unreadableScopes.add(scope);
    else this.unreadableScopes.delete(scope);
    this.scopeEpoch++;
    this.known = null;
  }

  /**
   * A secret write of this instance, just committed: `version` is the scope's version it made. The
   * writes that follow the cached version one after another (nothing else changed in between) are
   * applied as they are (their secrets into the small layer), instead of reloading and decrypting
   * the whole scope. A gap (another instance wrote, a note is still to come) leaves the rest to the
   * next load, which every request that needs a newer version starts as before.
   */
  noteWrite(scope: string, version: number, key: string, value: { ciphertext: string; plain: string } | null): void {
    const entry = this.scopes.get(scope);
    if (!entry || version <= entry.version) return;
    let notes = this.notes.get(scope);
    if (!notes) this.notes.set(scope, (notes = new Map()));
    if (notes.size >= MAX_PENDING_NOTES) notes.clear();
    notes.set(version, { key, value });
    this.drainNotes(scope);
  }

  /** Applies the noted writes that follow the cached version, all at once; one drain per scope at a time. */
  private drainNotes(scope: string): void {
    if (this.scopeLoads.has(scope) || this.scopeDrains.has(scope)) return;
    const entry = this.scopes.get(scope);
    const notes = this.notes.get(scope);
    if (!entry || !notes) return;
    for (const v of notes.keys()) if (v <= entry.version) notes.delete(v);
    if (!notes.has(entry.version + 1)) return;
    // No load or drain runs meanwhile (checked above), so the map is changed in place.
    const byKey = entry.byKey;
    const added: string[] = [];
    const removed: string[] = [];
    // A noted write replaced or deleted the row: whatever it held before, it is readable now (or gone).
    let unreadable = entry.unreadable;
    let version = entry.version;
    for (let note = notes.get(version + 1); note; note = notes.get(version + 1)) {
      notes.delete(++version);
      if (unreadable.has(note.key)) {
        const left = new Set(unreadable);
        left.delete(note.key);
        unreadable = left;
      }
      const old = byKey.get(note.key);
      if (old) removed.push(old.plain);
      if (note.value) {
        byKey.set(note.key, note.value);
        added.push(note.value.plain);
      } else byKey.delete(note.key);
    }
    const pending = (async () => {
      await entry.layers.change(added, removed);
      const now = this.scopes.get(scope);
      if (now && now.version >= version) return;
      this.setScope(scope, { version, byKey, unreadable: unreadable.size > 0 ? unreadable : NONE, layers: entry.layers });
    })().finally(() => {
      this.scopeDrains.delete(scope);
      this.drainNotes(scope);
    });
    this.scopeDrains.set(scope, pending);
  }

  /** Brings every scope with secrets up to date (each scope's own load, see ensureScope). */
  private async refreshAll(sum: number): Promise<void> {
    const rows: { scope: string; version: number | string }[] = await this.dataSource.query('SELECT scope, version FROM secret_versions');
    await Promise.all(rows.map((r) => this.ensureScope(r.scope, Number(r.version))));
    if (this.allSum === null || sum > this.allSum) this.allSum = sum;
  }

  private async ensureExecution(executionId: string, count: number): Promise<ExecutionEntry> {
    const cached = this.executions.get(executionId);
    if (cached && cached.count >= count) return cached;
    const loadKey = `x:${executionId}@${count}`;
    let pending = this.loads.get(loadKey);
    if (!pending) {
      pending = (async () => {
        const rows: { ciphertext: string }[] = await this.dataSource.query('SELECT ciphertext FROM execution_secrets WHERE execution_id = ? ORDER BY id', [executionId]);
        // Append-only: the rows a previous load read are the first ones, already decrypted.
        const previous = this.executions.get(executionId);
        const secrets: string[] = previous ? [...previous.secrets] : [];
        let unreadable = previous?.unreadable ?? 0;
        for (const row of rows.slice(previous?.count ?? 0)) {
          const text = this.decrypt(row.ciphertext);
          if (text === null) unreadable++;
          const plain = text === null ? null : decodeExecutionSecret(text);
          if (plain !== null) secrets.push(plain);
        }
        if (unreadable > (previous?.unreadable ?? 0)) this.warnUnreadable(`execution ${executionId}`, unreadable);
        const layers = previous?.layers ?? new LayeredMatcher(this.changed);
        await layers.update(secrets);
        const now = this.executions.get(executionId);
        if (!now || now.count <= rows.length) {
          const chars = secrets.reduce((n, x) => n + x.length, 0);
          this.executions.set(executionId, { id: executionId, count: rows.length, secrets, unreadable, chars, layers });
          this.trimExecutions(executionId);
        }
        this.known = null;
      })().finally(() => this.loads.delete(loadKey));
      this.loads.set(loadKey, pending);
    }
    await pending;
    return this.executions.get(executionId) ?? { id: executionId, count: 0, secrets: [], unreadable: 0, chars: 0, layers: new LayeredMatcher() };
  }

  /**
   * Keeps the cached executions' secrets (and so their matchers, ~100 bytes a code unit) under
   * EXECUTION_CACHE_CHARS, least recently used first out; an evicted one is reloaded when named again.
   */
  private trimExecutions(keep: string): void {
    let total = 0;
    for (const e of this.executions.values()) total += e.chars;
    if (total <= EXECUTION_CACHE_CHARS) return;
    const victims: ExecutionEntry[] = [];
    for (const e of this.executions.values()) {
      if (total <= EXECUTION_CACHE_CHARS) break;
      if (e.id === keep) continue;
      victims.push(e);
      total -= e.chars;
    }
    for (const v of victims) this.executions.delete(v.id);
    this.combined.deleteWhere((c) => victims.some((v) => c.layers.includes(v.layers)));
  }

  /**
   * The dynamic secrets of an execution as they are now (for de-duplicating registrations); with
   * `count`, as of a statement that has just counted them (no round trip when they are cached).
   */
  async executionSecrets(executionId: string, count?: number): Promise<string[]> {
    if (count === undefined) {
      const [row] = await this.dataSource.query('SELECT COUNT(*) AS n FROM execution_secrets WHERE execution_id = ?', [executionId]);
      count = Number(row?.n ?? 0);
    }
    return count === 0 ? [] : (await this.ensureExecution(executionId, count)).secrets;
  }

  /**
   * The config secrets held for `orgId` (its own and the global ones) as of the last resolution, with
   * where each is stored: to attribute a redaction to its config (src/executions), never to answer.
   */
  configSecrets(orgId: string): { scope: string; key: string; ciphertext: string; plain: string }[] {
    const out: { scope: string; key: string; ciphertext: string; plain: string }[] = [];
    for (const scope of [GLOBAL_SCOPE, orgId]) {
      const entry = this.scopes.get(scope);
      if (entry) for (const [key, v] of entry.byKey) out.push({ scope, key, ciphertext: v.ciphertext, plain: v.plain });
    }
    return out;
  }

  /**
   * A value no configured key opens cannot be revealed by this service, nor scrubbed: it is left out
   * of the matcher and its scope (or execution) is marked unreadable, whose answers are then
   * withheld (secretsUnreadable) until the row is replaced or the key is configured again. The
   * warning names where it is, never what.
   */
  private decrypt(ciphertext: string): string | null {
    try {
      return this.crypto.decryptString(ciphertext);
    } catch {
      return null;
    }
  }

  /** One line per load that found unreadable secrets: where and how many, never what. */
  private warnUnreadable(where: string, count: number): void {
    this.logger.warn(`${count} stored secret(s) of ${where} cannot be decrypted with the configured keys; answers that would be scrubbed of them are withheld (503 SECRETS_UNREADABLE)`);
  }
}
