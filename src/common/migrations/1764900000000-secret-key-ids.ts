import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Which key each stored secret was encrypted with: `key_id` (Fernet.keyId, 16 hex digits) on
 * configs and execution_secrets, so the start-up check and `bifrost rotate-key` count the secrets
 * not under the current key without decrypting them. Rows from before this migration have NULL
 * (not known yet): the first start-up (or rotate-key) opens those once and fills it in. Indexed, so
 * the count per key id is read off the index.
 */
export class SecretKeyIds1764900000000 implements MigrationInterface {
  name = 'SecretKeyIds1764900000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = queryRunner.connection.options.type !== 'better-sqlite3';
    for (const table of ['configs', 'execution_secrets']) {
      await queryRunner.addColumn(
        table,
        new TableColumn({ name: 'key_id', type: 'varchar', length: '16', isNullable: true, ...(mysql ? { charset: 'ascii', collation: 'ascii_bin' } : {}) }),
      );
      await queryRunner.createIndex(table, new TableIndex({ name: `ix_${table}_key_id`, columnNames: ['key_id'] }));
    }
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['configs', 'execution_secrets']) {
      await queryRunner.dropIndex(table, `ix_${table}_key_id`);
      await queryRunner.dropColumn(table, 'key_id');
    }
  }
}
