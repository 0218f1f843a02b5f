import type { AuditInput } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { ConfigEntity, ConfigType } from './config.entity';

/** One write of (scope, key), as the REST put, the SDK write and the import ask for it. */
export interface ConfigChange {
  scope: string;
  key: string;
  type: ConfigType;
  /** A non-secret's value as stored (JSON text); ignored for a secret. */
  stored: string | null;
  /** A secret's token: encrypted for (scope, key) under the current key, or an existing one kept; null: no value given. */
  ciphertext: string | null;
  /** Undefined keeps the description there is. */
  description?: string | null;
  /** Replacing a secret with another type must say so. */
  allowTypeChange?: boolean;
  /** What made the write, for its audit entry's reason (the import says so). */
  via?: 'import';
  /** More for the audit entry's reason (a credential-looking plain value kept by its flag: src/leaks). */
  note?: string;
}

/** The stored row a write decides on (the lookup may leave out the value and the dates). */
export type StoredConfig = Pick<ConfigEntity, 'type' | 'ciphertext' | 'keyId' | 'hasValue' | 'description'> & Partial<Pick<ConfigEntity, 'createdAt' | 'exposedAt'>>;

/** Who writes, and when. */
export interface WriteContext {
  actor: Principal;
  now: Date;
  /** The id of the key new tokens are under (CryptoService.currentKeyId). */
  currentKeyId: string;
}

export type PlannedWrite =
  /** Refused: the row holds a secret and the change would make it another type without allowTypeChange. */
  | { refused: 'SECRET_TYPE_CHANGE' }
  | {
      refused?: undefined;
      /** The row as it is to be stored. */
      row: ConfigEntity;
      created: boolean;
      /** The scope's secrets change (a secret written, or one replaced): its secret version moves on. */
      touchesSecrets: boolean;
      /** The write's audit entry. */
      audit: AuditInput;
    };

/**
 * The rule of every config write (REST put, SDK write, import): what `change` stores over `old`
 * (null: no row), or why it is refused. Pure: the callers read `old` under their row lock and store
 * the row as they store (one statement, or an import's batch). A secret given no value keeps the
 * value there is (an import's row without one); a kept token keeps its key id.
 */
export function planWrite(old: StoredConfig | null, change: ConfigChange, ctx: WriteContext): PlannedWrite {
  const secret = change.type === 'secret';
  const downgrade = old?.type === 'secret' && !secret;
  if (downgrade && change.allowTypeChange !== true) return { refused: 'SECRET_TYPE_CHANGE' };
  let ciphertext = secret ? change.ciphertext : null;
  if (secret && ciphertext === null && old?.type === 'secret' && old.hasValue) ciphertext = old.ciphertext;
  const row = Object.assign(new ConfigEntity(), {
    scope: change.scope,
    key: change.key,
    type: change.type,
    value: secret ? null : change.stored,
    ciphertext,
    keyId: ciphertext === null ? null : old && ciphertext === old.ciphertext ? (old.keyId ?? null) : ctx.currentKeyId,
    hasValue: secret ? ciphertext !== null : true,
    description: change.description === undefined ? (old?.description ?? null) : change.description,
    updatedBy: ctx.actor.name,
    createdAt: old?.createdAt ?? ctx.now,
    updatedAt: ctx.now,
    // A secret stays marked exposed until a new value is set: the same token kept keeps the mark.
    exposedAt: secret && old && ciphertext !== null && ciphertext === old.ciphertext ? (old.exposedAt ?? null) : null,
  });
  const reason = [change.via, downgrade ? `type changed from secret to ${change.type}` : undefined, change.note].filter((r) => r !== undefined).join(', ');
  return {
    row,
    created: !old,
    touchesSecrets: secret || old?.type === 'secret',
    audit: { action: old ? 'config.update' : 'config.create', outcome: 'success', scope: change.scope, key: change.key, configType: change.type, reason: reason || undefined, actor: ctx.actor },
  };
}
