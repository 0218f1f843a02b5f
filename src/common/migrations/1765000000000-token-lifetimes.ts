import { MigrationInterface, QueryRunner, TableColumn, TableIndex } from 'typeorm';

/**
 * Token lifetimes (issue 17): `expires_at` (NULL: never), `last_used_at` (written at most once a
 * minute per token, in the background) and `execution_id` (an execution token's execution; NULL for
 * every other role). Indexed by execution, so an execution's tokens are found without a scan.
 */
export class TokenLifetimes1765000000000 implements MigrationInterface {
  name = 'TokenLifetimes1765000000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = queryRunner.connection.options.type !== 'better-sqlite3';
    const time = (name: string) => new TableColumn({ name, type: 'datetime', isNullable: true, ...(mysql ? { precision: 3 } : {}) });
    await queryRunner.addColumn('api_tokens', time('expires_at'));
    await queryRunner.addColumn('api_tokens', time('last_used_at'));
    await queryRunner.addColumn(
      'api_tokens',
      new TableColumn({ name: 'execution_id', type: 'varchar', length: '36', isNullable: true, ...(mysql ? { charset: 'utf8mb4', collation: 'utf8mb4_bin' } : {}) }),
    );
    await queryRunner.createIndex('api_tokens', new TableIndex({ name: 'ix_api_tokens_execution', columnNames: ['execution_id'] }));
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropIndex('api_tokens', 'ix_api_tokens_execution');
    for (const column of ['execution_id', 'last_used_at', 'expires_at']) await queryRunner.dropColumn('api_tokens', column);
  }
}
