import { DataSource, ObjectLiteral, SelectQueryBuilder } from 'typeorm';

/**
 * Every SQL difference between the two databases the service runs on (better-sqlite3 and
 * MySQL/MariaDB) is decided here, so the rest of the code asks a question instead of a driver name.
 */
export function isSqlite(dataSource: DataSource): boolean {
  return dataSource.options.type === 'better-sqlite3';
}

/**
 * A read that a write in the same transaction depends on: on MySQL it locks the rows it finds (and
 * the gaps where missing ones would go) until commit; SQLite transactions are serialised already.
 */
export function lockedForWrite<T extends ObjectLiteral>(dataSource: DataSource, qb: SelectQueryBuilder<T>): SelectQueryBuilder<T> {
  if (!isSqlite(dataSource)) qb.setLock('pessimistic_write');
  return qb;
}

/** The value the conflicting INSERT brought for `column`, inside an upsert's assignments. */
export function incoming(dataSource: DataSource, column: string): string {
  return isSqlite(dataSource) ? `excluded.${column}` : `VALUES(${column})`;
}

/** The tail of an upsert: on a clash of the unique `keys`, apply `assignments` (SQL, comma-separated) instead. */
export function onConflictUpdate(dataSource: DataSource, keys: string[], assignments: string): string {
  return isSqlite(dataSource) ? ` ON CONFLICT (${keys.join(', ')}) DO UPDATE SET ${assignments}` : ` ON DUPLICATE KEY UPDATE ${assignments}`;
}
