import { MigrationInterface, QueryRunner, Table, TableColumn } from 'typeorm';
import { isSqlite } from '../dialect';

/**
 * Secret exposure (issue 19): `exposed_at` on configs, set when the scrubber first redacted the
 * secret's value from what an execution stored, NULL again once a new value is set; and
 * `secret_exposures`, one row per execution and secret redacted from it, so each pair is audited once
 * (its primary key answers "seen already?" without a scan of the audit log). `scope` and `key` are
 * empty for the execution's dynamic secrets, which belong to no config.
 */
export class SecretExposure1765100000000 implements MigrationInterface {
  name = 'SecretExposure1765100000000';

  async up(queryRunner: QueryRunner): Promise<void> {
    const mysql = !isSqlite(queryRunner.connection);
    const binary = mysql ? { charset: 'utf8mb4', collation: 'utf8mb4_bin' } : {};
    const precise = mysql ? { precision: 3 } : {};
    await queryRunner.addColumn('configs', new TableColumn({ name: 'exposed_at', type: 'datetime', isNullable: true, ...precise }));
    await queryRunner.createTable(
      new Table({
        name: 'secret_exposures',
        columns: [
          { name: 'execution_id', type: 'varchar', length: '36', isPrimary: true, ...binary },
          { name: 'scope', type: 'varchar', length: '36', isPrimary: true, ...binary },
          { name: 'key', type: 'varchar', length: '255', isPrimary: true, ...binary },
          { name: 'count', type: 'integer' },
          { name: 'at', type: 'datetime', ...precise },
        ],
        foreignKeys: [{ columnNames: ['execution_id'], referencedTableName: 'executions', referencedColumnNames: ['id'], onDelete: 'CASCADE' }],
      }),
    );
  }

  async down(queryRunner: QueryRunner): Promise<void> {
    await queryRunner.dropTable('secret_exposures');
    await queryRunner.dropColumn('configs', 'exposed_at');
  }
}
