import { Column, Entity, PrimaryColumn, PrimaryGeneratedColumn } from 'typeorm';

export const EXECUTION_STATUSES = ['running', 'success', 'failed'] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];
export const FINISHED_STATUSES = ['success', 'failed'] as const;
export type FinishedStatus = (typeof FINISHED_STATUSES)[number];

/**
 * One run of a workflow, as the workflow engine reports it. `result` and `error` are JSON text,
 * scrubbed of every secret registered for the execution before they were stored.
 */
@Entity('executions')
export class Execution {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ name: 'org_id', type: 'varchar', length: 36 })
  orgId: string;

  @Column({ type: 'varchar', length: 255 })
  workflow: string;

  @Column({ type: 'varchar', length: 16 })
  status: ExecutionStatus;

  @Column({ type: 'text', nullable: true })
  result: string | null;

  @Column({ type: 'text', nullable: true })
  error: string | null;

  @Column({ name: 'created_by', type: 'varchar', length: 36, nullable: true })
  createdBy: string | null;

  @Column({ name: 'started_at', type: 'datetime' })
  startedAt: Date;

  @Column({ name: 'finished_at', type: 'datetime', nullable: true })
  finishedAt: Date | null;
}

/** One log line of an execution, scrubbed before it was stored. */
@Entity('execution_logs')
export class ExecutionLog {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: number;

  @Column({ name: 'execution_id', type: 'varchar', length: 36 })
  executionId: string;

  @Column({ type: 'varchar', length: 16 })
  level: string;

  @Column({ type: 'text' })
  message: string;

  @Column({ type: 'datetime' })
  at: Date;
}

/**
 * What is encrypted for a dynamic secret: its JSON string literal. A secret is any string the engine
 * holds, and one with a lone surrogate has no UTF-8 form; its JSON text (`"\ud800..."`) does, and
 * gives the very same string back.
 */
export const encodeExecutionSecret = (secret: string): string => JSON.stringify(secret);

/** The secret back from its encrypted text; null when the text is not one encodeExecutionSecret made. */
export function decodeExecutionSecret(text: string): string | null {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'string' ? value : null;
  } catch {
    return null;
  }
}

/**
 * A dynamic secret of an execution (an OAuth token, ...), as a Fernet token of
 * encodeExecutionSecret(secret), so every instance can scrub it.
 */
@Entity('execution_secrets')
export class ExecutionSecret {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: number;

  @Column({ name: 'execution_id', type: 'varchar', length: 36 })
  executionId: string;

  @Column({ type: 'text' })
  ciphertext: string;

  /** The id of the key `ciphertext` is under (Fernet.keyId); NULL when not known. */
  @Column({ name: 'key_id', type: 'varchar', length: 16, nullable: true })
  keyId: string | null;

  @Column({ name: 'created_at', type: 'datetime' })
  createdAt: Date;
}

/**
 * One execution and one secret the scrubber redacted from what it stored (`scope` and `key` empty
 * for its dynamic secrets): audited once per pair (`secret.redacted`), with the count of the write
 * that first redacted it. Never a value.
 */
@Entity('secret_exposures')
export class SecretExposure {
  @PrimaryColumn({ name: 'execution_id', type: 'varchar', length: 36 })
  executionId: string;

  @PrimaryColumn({ type: 'varchar', length: 36 })
  scope: string;

  @PrimaryColumn({ type: 'varchar', length: 255 })
  key: string;

  @Column({ type: 'integer' })
  count: number;

  @Column({ type: 'datetime' })
  at: Date;
}
