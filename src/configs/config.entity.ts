import { Column, Entity, PrimaryColumn } from 'typeorm';

export const CONFIG_TYPES = ['string', 'int', 'bool', 'json', 'secret'] as const;
export type ConfigType = (typeof CONFIG_TYPES)[number];

/**
 * One config, identified by (scope, key). `scope` is 'global' or an org id, never NULL, so the
 * primary key is unique for global rows on MySQL too. A non-secret's typed value is kept as JSON
 * text in `value`, so every type reads back the same on SQLite and MySQL; a secret keeps only its
 * Fernet token in `ciphertext`.
 */
@Entity('configs')
export class ConfigEntity {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  scope: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  key: string;

  @Column({ type: 'varchar', length: 8 })
  type: ConfigType;

  @Column({ type: 'text', nullable: true })
  value: string | null;

  @Column({ type: 'text', nullable: true })
  ciphertext: string | null;

  /** The id of the key `ciphertext` is under (Fernet.keyId); NULL when not known (rows from before it was kept). */
  @Column({ name: 'key_id', type: 'varchar', length: 16, nullable: true })
  keyId: string | null;

  @Column({ name: 'has_value', type: 'boolean' })
  hasValue: boolean;

  @Column({ type: 'varchar', length: 1000, nullable: true })
  description: string | null;

  @Column({ name: 'updated_by', type: 'varchar', length: 100 })
  updatedBy: string;

  @Column({ name: 'created_at', type: 'datetime' })
  createdAt: Date;

  @Column({ name: 'updated_at', type: 'datetime' })
  updatedAt: Date;

  /** When the scrubber first redacted this secret's value from what an execution stored; NULL again once a new value is set. */
  @Column({ name: 'exposed_at', type: 'datetime', nullable: true })
  exposedAt: Date | null;
}
