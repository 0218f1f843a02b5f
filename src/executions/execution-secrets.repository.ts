import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { ExecutionSecret } from './execution.entity';

/** A stored execution secret token and its row id (a bigint: a number or a string, by driver). */
export interface StoredExecutionToken {
  id: number | string;
  ciphertext: string;
}

/** The key-related statements on `execution_secrets` (key rotation, the key census). */
@Injectable()
export class ExecutionSecretsRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  /** False on a database migrated before executions existed. */
  async exists(): Promise<boolean> {
    const runner = this.dataSource.createQueryRunner();
    try {
      return await runner.hasTable('execution_secrets');
    } finally {
      await runner.release();
    }
  }

  /** Up to `limit` tokens with ids after `afterId`, in id order, with their key ids. */
  tokensAfter(afterId: number, limit: number): Promise<(StoredExecutionToken & { key_id: string | null })[]> {
    return this.dataSource.query('SELECT id, ciphertext, key_id FROM execution_secrets WHERE id > ? ORDER BY id ASC LIMIT ?', [afterId, limit]);
  }

  /** Swaps a token for `next` under `keyId` only if it is still `old` (a concurrent write wins); whether it did. */
  async swapToken(em: EntityManager, id: string, old: string, next: string, keyId: string): Promise<boolean> {
    const result = await em.createQueryBuilder().update(ExecutionSecret).set({ ciphertext: next, keyId }).where('id = :id AND ciphertext = :old', { id, old }).execute();
    return (result.affected ?? 0) > 0;
  }

  /** Up to `limit` tokens whose key id is not recorded yet, with ids after `afterId`. */
  unlabelledAfter(afterId: number, limit: number): Promise<StoredExecutionToken[]> {
    return this.dataSource.query(`SELECT id, ciphertext FROM execution_secrets WHERE key_id IS NULL AND id > ? ORDER BY id LIMIT ${limit}`, [afterId]);
  }

  /** Records the key id of a token that has none yet, if the token is still the same (compare-and-set). */
  async label(em: EntityManager, token: StoredExecutionToken, keyId: string): Promise<void> {
    await em.query('UPDATE execution_secrets SET key_id = ? WHERE id = ? AND ciphertext = ? AND key_id IS NULL', [keyId, token.id, token.ciphertext]);
  }

  /** Tokens counted by key id. */
  countByKeyId(): Promise<{ k: string | null; n: number | string }[]> {
    return this.dataSource.query('SELECT key_id AS k, COUNT(*) AS n FROM execution_secrets GROUP BY key_id');
  }

  /** Up to `limit` ids of tokens under none of `keyIds` (or none recorded), in id order. */
  idsNotUnder(keyIds: readonly string[], limit: number): Promise<{ id: number | string }[]> {
    return this.dataSource.query(`SELECT id FROM execution_secrets WHERE key_id IS NULL OR key_id NOT IN (${keyIds.map(() => '?').join(', ')}) ORDER BY id LIMIT ${limit}`, [...keyIds]);
  }
}
