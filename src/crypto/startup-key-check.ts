import { Injectable, Logger, OnModuleInit } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { inTransaction } from '../common/database';
import { ConfigsRepository } from '../configs/configs.repository';
import { ExecutionSecretsRepository } from '../executions/execution-secrets.repository';
import { CryptoService } from './crypto.service';

/** The configured keys open none of the stored secrets: the service must not start. */
export class KeyMismatchError extends Error {
  constructor(stored: number) {
    super(
      `BIFROST_SECRET_KEY does not decrypt the stored secrets (none of ${stored} opens with it or with BIFROST_SECRET_KEY_PREVIOUS). ` +
        'Start with the key they were encrypted with, or keep that key in BIFROST_SECRET_KEY_PREVIOUS and run `bifrost rotate-key`.',
    );
    this.name = 'KeyMismatchError';
  }
}

/**
 * Some stored secrets are under a key that is not configured any more (a key rotation that did not
 * finish before its old key was dropped): the service must not start, since it could neither read
 * those secrets nor scrub them from its answers.
 */
export class StrandedSecretsError extends Error {
  constructor(readonly census: KeyCensus) {
    const ids = census.unknownKeyIds.length > 0 ? ` (key id ${census.unknownKeyIds.join(', ')})` : '';
    super(
      `${census.unknown} of ${census.total} stored secrets are encrypted with a key that is not configured${ids}: a key rotation was not finished before its old key was removed. ` +
        'Put that key back in BIFROST_SECRET_KEY_PREVIOUS and run `bifrost rotate-key` (`bifrost rotate-key --status` lists them).',
    );
    this.name = 'StrandedSecretsError';
  }
}

/** Where a stored secret is, never what. */
export interface StoredSecretPlace {
  table: 'configs' | 'execution_secrets';
  scope?: string;
  key?: string;
  id?: string;
}

/** The stored secrets (configs and execution secrets) counted by the key they are under. */
export interface KeyCensus {
  total: number;
  /** Under BIFROST_SECRET_KEY. */
  current: number;
  /** Under one of BIFROST_SECRET_KEY_PREVIOUS: readable, but a rotation is incomplete. */
  previous: number;
  /** Under no configured key: unreadable here (stranded). */
  unknown: number;
  /** The key ids recorded for the stranded secrets (a NULL id, a token no key opens, has none). */
  unknownKeyIds: string[];
  /** Up to 100 of the stranded secrets, by place. */
  stranded: StoredSecretPlace[];
  /** Rows whose key id was not recorded yet (from before key ids were kept) and were labelled by this census. */
  labelled: number;
}

const LABEL_BATCH = 500;
const MAX_LISTED = 100;

/**
 * Counts the stored secrets by the key they are under (the rows' key_id, an indexed column, so
 * this reads the index, not the tokens). Rows without a key id yet (written before it was kept)
 * are opened once, a batch at a time, and their key id recorded (compare-and-set on the token, so
 * a concurrent write wins); one that no configured key opens is counted as stranded and stays
 * without a key id.
 */
export async function keyCensus(dataSource: DataSource, crypto: CryptoService): Promise<KeyCensus> {
  const census: KeyCensus = { total: 0, current: 0, previous: 0, unknown: 0, unknownKeyIds: [], stranded: [], labelled: 0 };
  const ids = crypto.keyIds;
  const configs = new ConfigsRepository(dataSource);
  const executionSecrets = new ExecutionSecretsRepository(dataSource);

  // Rows with no key id yet: open them once and record it.
  census.labelled += await labelAll(
    dataSource,
    crypto,
    (after: { scope: string; key: string } | null) => configs.unlabelledAfter(after, LABEL_BATCH),
    (last) => ({ scope: last.scope, key: last.key }),
    (em, token, id) => configs.label(em, token, id),
  );
  census.labelled += await labelAll(
    dataSource,
    crypto,
    (afterId: number | null) => executionSecrets.unlabelledAfter(afterId ?? 0, LABEL_BATCH),
    (last) => Number(last.id),
    (em, token, id) => executionSecrets.label(em, token, id),
  );

  // Counted per key id (read off the key_id index).
  for (const g of [...(await configs.countByKeyId()), ...(await executionSecrets.countByKeyId())]) {
    const n = Number(g.n);
    census.total += n;
    if (g.k === ids[0]) census.current += n;
    else if (g.k !== null && ids.includes(g.k)) census.previous += n;
    else {
      census.unknown += n;
      if (g.k !== null && !census.unknownKeyIds.includes(g.k)) census.unknownKeyIds.push(g.k);
    }
  }
  if (census.unknown === 0) return census;
  // The stranded rows by place (a NULL key id is left only on a row no configured key opens).
  for (const r of await configs.placesNotUnder(ids, MAX_LISTED)) census.stranded.push({ table: 'configs', scope: r.scope, key: r.key });
  for (const r of await executionSecrets.idsNotUnder(ids, MAX_LISTED - census.stranded.length + 1)) {
    if (census.stranded.length < MAX_LISTED) census.stranded.push({ table: 'execution_secrets', id: String(r.id) });
  }
  return census;
}

/**
 * Opens every token `page` yields without a key id, a batch at a time, and records the key id of
 * each one a configured key opens (one transaction a batch, not a commit per row); how many.
 */
async function labelAll<T extends { ciphertext: string }, C>(
  dataSource: DataSource,
  crypto: CryptoService,
  page: (after: C | null) => Promise<T[]>,
  cursor: (last: T) => C,
  label: (em: EntityManager, token: T, keyId: string) => Promise<void>,
): Promise<number> {
  let labelled = 0;
  let after: C | null = null;
  for (;;) {
    const rows = await page(after);
    const labels = rows.map((r) => ({ r, id: openedBy(crypto, r.ciphertext) })).filter((l): l is { r: T; id: string } => l.id !== null);
    if (labels.length > 0) {
      await inTransaction(dataSource, async (em) => {
        for (const { r, id } of labels) await label(em, r, id);
      });
      labelled += labels.length;
    }
    if (rows.length < LABEL_BATCH) return labelled;
    after = cursor(rows[rows.length - 1]);
  }
}

/** The id of the configured key that opens a token, or null when none does. */
function openedBy(crypto: CryptoService, token: string): string | null {
  try {
    return crypto.keyIdOf(token);
  } catch {
    return null;
  }
}

/**
 * The check the service (and the CLI, but for rotate-key) makes before it serves: throws
 * KeyMismatchError when secrets exist and none is under a configured key (the wrong
 * BIFROST_SECRET_KEY), StrandedSecretsError when some are under a key that is not configured (an
 * unfinished rotation whose old key was dropped); returns the census otherwise.
 */
export async function verifyStoredKeys(dataSource: DataSource, crypto: CryptoService): Promise<KeyCensus> {
  const census = await keyCensus(dataSource, crypto);
  if (census.unknown > 0 && census.current + census.previous === 0) throw new KeyMismatchError(census.total);
  if (census.unknown > 0) throw new StrandedSecretsError(census);
  return census;
}

/**
 * At start-up (after migrations, before the scrubber loads the secrets), refuses to start a service that could not read (nor scrub) some
 * stored secrets, with one line naming the way out, rather than failing on those reads later; an
 * incomplete rotation whose old key is still configured is only warned about.
 */
@Injectable()
export class StartupKeyCheck implements OnModuleInit {
  private readonly logger = new Logger('KeyCheck');

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
  ) {}

  /** On init, before any bootstrap hook (the scrubber loads every scope's secrets in its own). */
  async onModuleInit(): Promise<void> {
    try {
      const census = await verifyStoredKeys(this.dataSource, this.crypto);
      if (census.previous > 0) {
        this.logger.warn({
          msg: 'a key rotation is incomplete: some stored secrets are still under a key of BIFROST_SECRET_KEY_PREVIOUS; run `bifrost rotate-key` before removing it',
          previous: census.previous,
          total: census.total,
        });
      }
    } catch (err) {
      if (err instanceof KeyMismatchError || err instanceof StrandedSecretsError) {
        // Nothing is left open by a service that refuses to start (its caller gets no app to close).
        if (this.dataSource.isInitialized) await this.dataSource.destroy().catch(() => undefined);
      }
      throw err;
    }
  }
}
