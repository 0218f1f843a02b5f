import { MigrationInterface, QueryRunner, Table, TableIndex } from 'typeorm';
import { TableColumnOptions } from 'typeorm/schema-builder/options/TableColumnOptions';

/**
 * The whole first schema, written with the Table API so the same migration runs on SQLite and
 * MySQL/MariaDB. On MySQL every text column is utf8mb4 and names and keys use a binary collation,
 * so `stripe_key` and `STRIPE_KEY` are two rows (MySQL's default collation folds case).
 */
export class InitialSchema1764400000000 implements MigrationInterface {
  name = 'InitialSchema1764400000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = queryRunner.connection.options.type !== 'better-sqlite3';
    const text = (name: string, opts: Partial<TableColumnOptions> = {}): TableColumnOptions => ({
      name,
      type: 'varchar',
      length: '255',
      isNullable: false,
      ...(mysql ? { charset: 'utf8mb4', collation: 'utf8mb4_bin' } : {}),
      ...opts,
    });
    const long = (name: string, opts: Partial<TableColumnOptions> = {}): TableColumnOptions => ({
      name,
      type: mysql ? 'mediumtext' : 'text',
      isNullable: true,
      ...(mysql ? { charset: 'utf8mb4', collation: 'utf8mb4_bin' } : {}),
      ...opts,
    });
    const time = (name: string, opts: Partial<TableColumnOptions> = {}): TableColumnOptions => ({
      name,
      type: 'datetime',
      ...(mysql ? { precision: 3 } : {}),
      isNullable: false,
      ...opts,
    });
    const id = (name = 'id'): TableColumnOptions => text(name, { length: '36', isPrimary: true });
    const serial = (name = 'id'): TableColumnOptions => ({
      name,
      type: mysql ? 'bigint' : 'integer',
      isPrimary: true,
      isGenerated: true,
      generationStrategy: 'increment',
    });

    await queryRunner.createTable(
      new Table({
        name: 'orgs',
        columns: [id(), text('name', { length: '100' }), time('created_at')],
        uniques: [{ name: 'uq_orgs_name', columnNames: ['name'] }],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'api_tokens',
        columns: [
          id(),
          text('name', { length: '100' }),
          text('role', { length: '16' }),
          text('org_id', { length: '36', isNullable: true }),
          text('token_hash', { length: '64' }),
          text('created_by', { length: '100', isNullable: true }),
          time('created_at'),
          time('revoked_at', { isNullable: true }),
        ],
        uniques: [{ name: 'uq_api_tokens_hash', columnNames: ['token_hash'] }],
        indices: [{ name: 'ix_api_tokens_org', columnNames: ['org_id'] }],
        foreignKeys: [{ columnNames: ['org_id'], referencedTableName: 'orgs', referencedColumnNames: ['id'] }],
      }),
    );

    // scope is 'global' or an org id and never NULL, so (scope, key) is unique for global rows too.
    await queryRunner.createTable(
      new Table({
        name: 'configs',
        columns: [
          text('scope', { length: '36', isPrimary: true }),
          text('key', { length: '255', isPrimary: true }),
          text('type', { length: '8' }),
          long('value'),
          long('ciphertext'),
          { name: 'has_value', type: 'boolean', isNullable: false, default: '1' },
          text('description', { length: '1000', isNullable: true }),
          text('updated_by', { length: '100' }),
          time('created_at'),
          time('updated_at'),
        ],
      }),
    );

    // Bumped in the same transaction as any change to a scope's secrets, so every instance sharing the
    // database notices on its next request that its scrubber must be rebuilt.
    await queryRunner.createTable(
      new Table({
        name: 'secret_versions',
        columns: [text('scope', { length: '36', isPrimary: true }), { name: 'version', type: 'integer', isNullable: false }],
      }),
    );

    // Append-only. Index plan for ~10M rows (newest first, keyset on id):
    //  - PK id: the default listing and cursor (`id < cursor ORDER BY id DESC`).
    //  - (scope, id): org_admin's view and `scope=` filters, the most common query.
    //  - (scope, key, id): history of one config.
    //  - (actor_id, id), (action, id): who-did-what and per-action filters.
    //  - (at): time-range filters (`since`/`until`) when no narrower filter is given.
    // Each ends in id so ORDER BY id DESC LIMIT n is read straight off the index, no filesort.
    await queryRunner.createTable(
      new Table({
        name: 'audit_entries',
        columns: [
          serial(),
          time('at'),
          text('actor_id', { length: '36', isNullable: true }),
          text('actor_name', { length: '100', isNullable: true }),
          text('actor_role', { length: '16', isNullable: true }),
          text('action', { length: '32' }),
          text('scope', { length: '36', isNullable: true }),
          text('key', { length: '255', isNullable: true }),
          text('config_type', { length: '8', isNullable: true }),
          text('outcome', { length: '8' }),
          text('reason', { length: '255', isNullable: true }),
          text('execution_id', { length: '36', isNullable: true }),
          text('request_id', { length: '64', isNullable: true }),
          text('ip', { length: '64', isNullable: true }),
          text('user_agent', { length: '255', isNullable: true }),
        ],
      }),
    );
    for (const cols of [['scope', 'id'], ['scope', 'key', 'id'], ['actor_id', 'id'], ['action', 'id'], ['at']]) {
      await queryRunner.createIndex('audit_entries', new TableIndex({ name: `ix_audit_${cols.join('_')}`, columnNames: cols }));
    }

    await queryRunner.createTable(
      new Table({
        name: 'executions',
        columns: [
          id(),
          text('org_id', { length: '36' }),
          text('workflow', { length: '255' }),
          text('status', { length: '16' }),
          long('result'),
          long('error'),
          text('created_by', { length: '36', isNullable: true }),
          time('started_at'),
          time('finished_at', { isNullable: true }),
        ],
        indices: [{ name: 'ix_executions_org', columnNames: ['org_id', 'started_at'] }],
        foreignKeys: [{ columnNames: ['org_id'], referencedTableName: 'orgs', referencedColumnNames: ['id'] }],
      }),
    );

    await queryRunner.createTable(
      new Table({
        name: 'execution_logs',
        columns: [
          serial(),
          text('execution_id', { length: '36' }),
          text('level', { length: '16' }),
          long('message', { isNullable: false }),
          time('at'),
        ],
        indices: [{ name: 'ix_execution_logs_execution', columnNames: ['execution_id', 'id'] }],
        foreignKeys: [
          { columnNames: ['execution_id'], referencedTableName: 'executions', referencedColumnNames: ['id'], onDelete: 'CASCADE' },
        ],
      }),
    );

    // Dynamic secrets of an execution, Fernet-encrypted like config secrets, so every instance can
    // scrub them.
    await queryRunner.createTable(
      new Table({
        name: 'execution_secrets',
        columns: [serial(), text('execution_id', { length: '36' }), long('ciphertext', { isNullable: false }), time('created_at')],
        indices: [{ name: 'ix_execution_secrets_execution', columnNames: ['execution_id'] }],
        foreignKeys: [
          { columnNames: ['execution_id'], referencedTableName: 'executions', referencedColumnNames: ['id'], onDelete: 'CASCADE' },
        ],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    for (const table of ['execution_secrets', 'execution_logs', 'executions', 'audit_entries', 'secret_versions', 'configs', 'api_tokens', 'orgs']) {
      await queryRunner.dropTable(table, true);
    }
  }
}
