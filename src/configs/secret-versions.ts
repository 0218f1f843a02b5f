import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { onConflictUpdate } from '../common/dialect';

/**
 * A counter per scope, bumped in the same transaction as any change to that scope's secrets. Every
 * instance sharing the database compares it on each request to know when a cached scrubber is stale.
 */
@Injectable()
export class SecretVersions {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** Moves the scope's version on, in the caller's transaction; the new version (exact: the row is the transaction's now). */
  async bump(em: EntityManager, scope: string): Promise<number> {
    await em.query(`INSERT INTO secret_versions (scope, version) VALUES (?, 1)${onConflictUpdate(this.dataSource, ['scope'], 'version = version + 1')}`, [scope]);
    const [row] = await em.query('SELECT version FROM secret_versions WHERE scope = ?', [scope]);
    return Number(row?.version ?? 0);
  }
}
