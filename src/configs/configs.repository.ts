import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager, IsNull } from 'typeorm';
import { RunSql, timeParam } from '../common/database';
import { incoming, isSqlite, lockedForWrite, onConflictUpdate } from '../common/dialect';
import { ConfigEntity, ConfigType } from './config.entity';

/** The columns a listing needs; the ciphertext only to fingerprint it (through the crypto cache), never to answer it. */
const VIEW_COLUMNS = ['c.scope', 'c.key', 'c.type', 'c.value', 'c.ciphertext', 'c.hasValue', 'c.description', 'c.updatedBy', 'c.updatedAt', 'c.exposedAt'];

/** The columns the import's upsert writes, and those it replaces on a row that exists (created_at stays). */
const UPSERT_COLUMNS = ['scope', '`key`', 'type', 'value', 'ciphertext', 'key_id', 'has_value', 'description', 'updated_by', 'created_at', 'updated_at'];
const UPSERT_REPLACED = ['type', 'value', 'ciphertext', 'key_id', 'has_value', 'description', 'updated_by', 'updated_at'];

export interface ListFilter {
  type?: ConfigType;
  prefix?: string;
  /** Keyset: keys after this one. */
  after?: string;
}

/** A row of an export page, in the driver's raw types (has_value 0/1 or a boolean). */
export interface ExportRow {
  scope: string;
  key: string;
  type: ConfigType;
  value: string | null;
  has_value: number | boolean;
  description: string | null;
  ciphertext?: string | null;
}

/** Where a stored secret token is, and the token. */
export interface StoredToken {
  scope: string;
  key: string;
  ciphertext: string;
}

/**
 * Every statement on the `configs` table but the SDK read (src/configs/sdk.service.ts, one
 * statement with secret_versions and the token check, kept there for its single round trip).
 * Writes take the caller's transaction (`em`); the rules of what is written are in config-write.ts.
 */
@Injectable()
export class ConfigsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  private rows(em?: EntityManager | null) {
    return (em ?? this.dataSource.manager).getRepository(ConfigEntity);
  }

  /** Up to `limit` configs of `scopes` in key order, as a listing shows them. */
  list(scopes: string[], filter: ListFilter, limit: number): Promise<ConfigEntity[]> {
    const qb = this.rows().createQueryBuilder('c').select(VIEW_COLUMNS).where('c.scope IN (:...scopes)', { scopes });
    if (filter.type) qb.andWhere('c.type = :type', { type: filter.type });
    // Keyset pagination on the key: stable while others write, and SUBSTR compares bytes on both databases.
    if (filter.prefix) qb.andWhere('SUBSTR(c.key, 1, :plen) = :prefix', { plen: filter.prefix.length, prefix: filter.prefix });
    if (filter.after !== undefined) qb.andWhere('c.key > :after', { after: filter.after });
    return qb.orderBy('c.key', 'ASC').limit(limit).getMany();
  }

  /** Every config of `scopes`, key order, without ciphertexts (the SDK's list). */
  allIn(scopes: string[]): Promise<ConfigEntity[]> {
    return this.rows().createQueryBuilder('c').select(['c.scope', 'c.key', 'c.type', 'c.value', 'c.hasValue']).where('c.scope IN (:...scopes)', { scopes }).orderBy('c.key', 'ASC').getMany();
  }

  /** One config as a listing shows it, or null. */
  view(scope: string, key: string): Promise<ConfigEntity | null> {
    return this.rows().createQueryBuilder('c').select(VIEW_COLUMNS).where('c.scope = :scope AND c.key = :key', { scope, key }).getOne();
  }

  /** What verifying (scope, key) needs: its type and token, never its value; no lock. */
  secretOf(scope: string, key: string): Promise<Pick<ConfigEntity, 'scope' | 'key' | 'type' | 'ciphertext' | 'hasValue'> | null> {
    return this.rows().createQueryBuilder('c').select(['c.scope', 'c.key', 'c.type', 'c.ciphertext', 'c.hasValue']).where('c.scope = :scope AND c.key = :key', { scope, key }).getOne();
  }

  /** Up to `limit` secrets of `scope` marked exposed, in key order after `after`, as a listing shows them. */
  exposedIn(scope: string, after: string | undefined, limit: number): Promise<ConfigEntity[]> {
    const qb = this.rows().createQueryBuilder('c').select(VIEW_COLUMNS).where("c.scope = :scope AND c.type = 'secret' AND c.exposedAt IS NOT NULL", { scope });
    if (after !== undefined) qb.andWhere('c.key > :after', { after });
    return qb.orderBy('c.key', 'ASC').limit(limit).getMany();
  }

  /** Up to `limit` plain (non-secret) configs with their values, in (scope, key) order after `after`: the leak scan's pages. */
  plainPage(scope: string | undefined, after: { scope: string; key: string } | null, limit: number): Promise<Pick<ConfigEntity, 'scope' | 'key' | 'type' | 'value'>[]> {
    const qb = this.rows().createQueryBuilder('c').select(['c.scope', 'c.key', 'c.type', 'c.value']).where("c.type <> 'secret'");
    if (scope !== undefined) qb.andWhere('c.scope = :scope', { scope });
    if (after) qb.andWhere('(c.scope > :as OR (c.scope = :as AND c.key > :ak))', { as: after.scope, ak: after.key });
    return qb.orderBy('c.scope', 'ASC').addOrderBy('c.key', 'ASC').limit(limit).getMany();
  }

  /** A scope's stored secret tokens and its secret version, as of one snapshot (one statement: the scrubber's scope load). */
  secretsAndVersion(scope: string): Promise<{ kind: 'c' | 'v'; k: string | null; v: string | number }[]> {
    return this.dataSource.query(
      "SELECT 'c' AS kind, `key` AS k, ciphertext AS v FROM configs WHERE type = 'secret' AND ciphertext IS NOT NULL AND scope = ? UNION ALL SELECT 'v', NULL, version FROM secret_versions WHERE scope = ?",
      [scope, scope],
    );
  }

  /** Marks (scope, key) exposed at `at` while it still holds `ciphertext` and is not marked yet, in the caller's transaction. */
  async markExposed(em: EntityManager, scope: string, key: string, ciphertext: string, at: Date): Promise<void> {
    await em.update(ConfigEntity, { scope, key, ciphertext, exposedAt: IsNull() }, { exposedAt: at });
  }

  /** The stored type of (scope, key), or null; no lock. */
  async typeOf(scope: string, key: string): Promise<ConfigType | null> {
    const row = await this.rows().createQueryBuilder('c').select(['c.type']).where('c.scope = :scope AND c.key = :key', { scope, key }).getOne();
    return row?.type ?? null;
  }

  /** The whole row (scope, key) in the caller's transaction, locked for the write that follows. */
  forWrite(em: EntityManager, scope: string, key: string): Promise<ConfigEntity | null> {
    return lockedForWrite(this.dataSource, this.rows(em).createQueryBuilder('c').where('c.scope = :scope AND c.key = :key', { scope, key })).getOne();
  }

  /**
   * The rows of `scope` among `keys` (what a write decides on; no value, no dates). In a
   * transaction (`em`) they are locked until it commits; with null, a plain read.
   */
  manyForWrite(em: EntityManager | null, scope: string, keys: string[]): Promise<ConfigEntity[]> {
    const qb = this.rows(em)
      .createQueryBuilder('c')
      .select(['c.scope', 'c.key', 'c.type', 'c.ciphertext', 'c.keyId', 'c.hasValue', 'c.description'])
      .where('c.scope = :scope AND c.key IN (:...keys)', { scope, keys });
    return (em ? lockedForWrite(this.dataSource, qb) : qb).getMany();
  }

  async insert(em: EntityManager, row: ConfigEntity): Promise<void> {
    await em.insert(ConfigEntity, row);
  }

  /** Replaces every column of an existing row but its key and created_at. */
  async replace(em: EntityManager, row: ConfigEntity): Promise<void> {
    const { scope, key } = row;
    await em.update(ConfigEntity, { scope, key }, { type: row.type, value: row.value, ciphertext: row.ciphertext, keyId: row.keyId, hasValue: row.hasValue, description: row.description, updatedBy: row.updatedBy, updatedAt: row.updatedAt, exposedAt: row.exposedAt ?? null });
  }

  /**
   * Inserts or replaces `rows` in one statement (created_at stays as it was on a row that exists).
   * Plain SQL: TypeORM's insert builder spent most of a 100,000-config import handling its own parameters.
   */
  async upsertMany(em: EntityManager, rows: ConfigEntity[]): Promise<void> {
    const ds = this.dataSource;
    const params: unknown[] = [];
    for (const r of rows) {
      params.push(r.scope, r.key, r.type, r.value, r.ciphertext, r.keyId, r.hasValue ? 1 : 0, r.description, r.updatedBy, timeParam(ds, r.createdAt), timeParam(ds, r.updatedAt));
    }
    const tuple = `(${UPSERT_COLUMNS.map(() => '?').join(', ')})`;
    // A secret's exposure lasts until a new value is set: kept only when the token is the one already stored
    // (first in MySQL's list, which sees the columns assigned before it).
    const exposure = isSqlite(ds) ? 'exposed_at = CASE WHEN configs.ciphertext IS excluded.ciphertext THEN configs.exposed_at ELSE NULL END' : 'exposed_at = IF(ciphertext <=> VALUES(ciphertext), exposed_at, NULL)';
    const conflict = onConflictUpdate(ds, ['scope', '`key`'], [exposure, ...UPSERT_REPLACED.map((c) => `${c} = ${incoming(ds, c)}`)].join(', '));
    await em.query(`INSERT INTO configs (${UPSERT_COLUMNS.join(', ')}) VALUES ${rows.map(() => tuple).join(', ')}${conflict}`, params);
  }

  /** The whole row, in the caller's transaction, or null. */
  find(em: EntityManager, scope: string, key: string): Promise<ConfigEntity | null> {
    return em.findOne(ConfigEntity, { where: { scope, key } });
  }

  /** The row's identity and type only, in the caller's transaction, or null. */
  findType(em: EntityManager, scope: string, key: string): Promise<Pick<ConfigEntity, 'scope' | 'key' | 'type'> | null> {
    return em.findOne(ConfigEntity, { where: { scope, key }, select: { scope: true, key: true, type: true } });
  }

  async setDescription(em: EntityManager, scope: string, key: string, change: Pick<ConfigEntity, 'description' | 'updatedBy' | 'updatedAt'>): Promise<void> {
    await em.update(ConfigEntity, { scope, key }, change);
  }

  async remove(em: EntityManager, scope: string, key: string): Promise<void> {
    await em.delete(ConfigEntity, { scope, key });
  }

  /**
   * One page of an export in (scope, key) order after `after` (keyset), of one scope or all (null);
   * the same few SQL texts every page. `withTokens` false never reads a ciphertext.
   */
  exportPage(run: RunSql, scope: string | null, after: { scope: string; key: string } | null, withTokens: boolean, limit: number): Promise<ExportRow[]> {
    const columns = `scope, \`key\`, type, value, has_value, description${withTokens ? ', ciphertext' : ''}`;
    const where: string[] = [];
    const params: unknown[] = [];
    if (scope !== null) {
      where.push('scope = ?');
      params.push(scope);
      if (after) {
        where.push('`key` > ?');
        params.push(after.key);
      }
    } else if (after) {
      where.push('(scope > ? OR (scope = ? AND `key` > ?))');
      params.push(after.scope, after.scope, after.key);
    }
    return run<ExportRow>(`SELECT ${columns} FROM configs${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY scope ASC, \`key\` ASC LIMIT ${limit}`, params);
  }

  /** Up to `limit` stored secret tokens after `after`, in (scope, key) order, with their key ids. */
  tokensAfter(after: { scope: string; key: string } | null, limit: number): Promise<(StoredToken & { keyId: string | null })[]> {
    const qb = this.rows().createQueryBuilder('c').select(['c.scope', 'c.key', 'c.ciphertext', 'c.keyId']).where('c.ciphertext IS NOT NULL');
    if (after) qb.andWhere('(c.scope > :scope OR (c.scope = :scope AND c.key > :key))', after);
    return qb.orderBy('c.scope', 'ASC').addOrderBy('c.key', 'ASC').limit(limit).getMany() as Promise<(StoredToken & { keyId: string | null })[]>;
  }

  /** Swaps a token for `next` under `keyId` only if it is still `old` (a concurrent write wins); whether it did. */
  async swapToken(em: EntityManager, at: { scope: string; key: string }, old: string, next: string, keyId: string): Promise<boolean> {
    const result = await em.createQueryBuilder().update(ConfigEntity).set({ ciphertext: next, keyId }).where({ scope: at.scope, key: at.key, ciphertext: old }).execute();
    return (result.affected ?? 0) > 0;
  }

  /** Up to `limit` tokens whose key id is not recorded yet, after `after` in (scope, key) order. */
  unlabelledAfter(after: { scope: string; key: string } | null, limit: number): Promise<StoredToken[]> {
    return this.dataSource.query(
      'SELECT scope, `key`, ciphertext FROM configs WHERE key_id IS NULL AND ciphertext IS NOT NULL' +
        (after ? ' AND (scope > ? OR (scope = ? AND `key` > ?))' : '') +
        ' ORDER BY scope, `key` LIMIT ' + limit,
      after ? [after.scope, after.scope, after.key] : [],
    );
  }

  /** Records the key id of a token that has none yet, if the token is still the same (compare-and-set). */
  async label(em: EntityManager, token: StoredToken, keyId: string): Promise<void> {
    await em.query('UPDATE configs SET key_id = ? WHERE scope = ? AND `key` = ? AND ciphertext = ? AND key_id IS NULL', [keyId, token.scope, token.key, token.ciphertext]);
  }

  /** Stored tokens counted by key id (read off the key_id index). */
  countByKeyId(): Promise<{ k: string | null; n: number | string }[]> {
    return this.dataSource.query('SELECT key_id AS k, COUNT(*) AS n FROM configs WHERE ciphertext IS NOT NULL GROUP BY key_id');
  }

  /** Up to `limit` places of tokens under none of `keyIds` (or none recorded), in (scope, key) order. */
  placesNotUnder(keyIds: readonly string[], limit: number): Promise<{ scope: string; key: string }[]> {
    return this.dataSource.query(
      `SELECT scope, \`key\` FROM configs WHERE ciphertext IS NOT NULL AND (key_id IS NULL OR key_id NOT IN (${keyIds.map(() => '?').join(', ')})) ORDER BY scope, \`key\` LIMIT ${limit}`,
      [...keyIds],
    );
  }
}
