import { Column, Entity, PrimaryColumn } from 'typeorm';
import { Role } from './roles';

@Entity('api_tokens')
export class ApiToken {
  @PrimaryColumn({ type: 'varchar', length: 36 })
  id: string;

  @Column({ type: 'varchar', length: 100 })
  name: string;

  @Column({ type: 'varchar', length: 16 })
  role: Role;

  @Column({ name: 'org_id', type: 'varchar', length: 36, nullable: true })
  orgId: string | null;

  /** SHA-256 of the token, hex. The token itself is never stored. */
  @Column({ name: 'token_hash', type: 'varchar', length: 64 })
  tokenHash: string;

  @Column({ name: 'created_by', type: 'varchar', length: 100, nullable: true })
  createdBy: string | null;

  @Column({ name: 'created_at', type: 'datetime' })
  createdAt: Date;

  @Column({ name: 'revoked_at', type: 'datetime', nullable: true })
  revokedAt: Date | null;

  /** After this the token is refused (401 TOKEN_EXPIRED); NULL: it never expires. */
  @Column({ name: 'expires_at', type: 'datetime', nullable: true })
  expiresAt: Date | null;

  /** When it was last used, to the minute (written in the background, at most once a minute). */
  @Column({ name: 'last_used_at', type: 'datetime', nullable: true })
  lastUsedAt: Date | null;

  /** An execution token's execution (role `execution`); NULL for every other role. */
  @Column({ name: 'execution_id', type: 'varchar', length: 36, nullable: true })
  executionId: string | null;
}
