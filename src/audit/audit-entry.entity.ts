import { Column, Entity, PrimaryGeneratedColumn } from 'typeorm';

export const AUDIT_ACTIONS = [
  'config.read',
  'config.list',
  'config.create',
  'config.update',
  'config.delete',
  'config.export',
  'config.import',
  'config.verify',
  'secret.redacted',
  'key.rotate',
  'token.create',
  'token.revoke',
  'auth.denied',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];
export const AUDIT_OUTCOMES = ['success', 'failure', 'denied'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

/**
 * One append-only audit entry. No column ever holds a config value, plaintext or encrypted, a hash
 * of one, or a token. Index plan for ~10 million rows (see the initial migration): every index ends
 * in `id`, so each filter (scope; scope+key; actor; action) reads its newest-first page straight
 * off an index with `id < cursor ORDER BY id DESC LIMIT n`; `at` has its own index for time ranges.
 */
@Entity('audit_entries')
export class AuditEntry {
  @PrimaryGeneratedColumn({ type: 'bigint' })
  id: string;

  @Column({ type: 'datetime' })
  at: Date;

  @Column({ name: 'actor_id', type: 'varchar', length: 36, nullable: true })
  actorId: string | null;

  @Column({ name: 'actor_name', type: 'varchar', length: 100, nullable: true })
  actorName: string | null;

  @Column({ name: 'actor_role', type: 'varchar', length: 16, nullable: true })
  actorRole: string | null;

  @Column({ type: 'varchar', length: 32 })
  action: AuditAction;

  @Column({ type: 'varchar', length: 36, nullable: true })
  scope: string | null;

  @Column({ type: 'varchar', length: 255, nullable: true })
  key: string | null;

  @Column({ name: 'config_type', type: 'varchar', length: 8, nullable: true })
  configType: string | null;

  @Column({ type: 'varchar', length: 8 })
  outcome: AuditOutcome;

  @Column({ type: 'varchar', length: 255, nullable: true })
  reason: string | null;

  @Column({ name: 'execution_id', type: 'varchar', length: 36, nullable: true })
  executionId: string | null;

  @Column({ name: 'request_id', type: 'varchar', length: 64, nullable: true })
  requestId: string | null;

  @Column({ type: 'varchar', length: 64, nullable: true })
  ip: string | null;

  @Column({ name: 'user_agent', type: 'varchar', length: 255, nullable: true })
  userAgent: string | null;
}
