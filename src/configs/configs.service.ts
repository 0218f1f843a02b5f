import { HttpStatus, Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { inTransaction } from '../common/database';
import { AppError, badRequest, conflict, notFound } from '../common/errors';
import { CryptoService } from '../crypto/crypto.service';
import { cascadeScopes, overlay } from '../scopes/cascade';
import { CONFIG_TYPES, ConfigEntity, ConfigType } from './config.entity';
import { KEY_PATTERN, MASK, assertValidKey, normalizeValue } from './config-values';
import { ConfigChange, planWrite } from './config-write';
import { ConfigsRepository } from './configs.repository';
import { SecretRegistry } from '../scrubber/secret-registry';
import { SecretVersions } from './secret-versions';

/** A config as the API shows it: a secret's value is always masked. */
export interface ConfigView {
  scope: string;
  key: string;
  type: ConfigType;
  value: unknown;
  masked: boolean;
  hasValue: boolean;
  description: string | null;
  updatedAt: Date;
  updatedBy: string;
}

export interface EffectiveConfigView extends ConfigView {
  source: 'org' | 'global';
}

export interface ListQuery {
  type?: string;
  prefix?: string;
  limit?: string;
  cursor?: string;
}

export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

export interface PutInput {
  type: ConfigType;
  value: unknown;
  description?: string | null;
  /** Replacing a secret with a value of another type must say so (else 409 SECRET_TYPE_CHANGE). */
  allowTypeChange?: boolean;
}

export const secretTypeChange = (how: string) => conflict('SECRET_TYPE_CHANGE', `This key holds a secret; ${how}`);

const MAX_LIMIT = 500;
const DEFAULT_LIMIT = 100;

export function toView(row: ConfigEntity): ConfigView {
  const secret = row.type === 'secret';
  return {
    scope: row.scope,
    key: row.key,
    type: row.type,
    value: secret ? (row.hasValue ? MASK : null) : row.value === null ? null : JSON.parse(row.value),
    masked: secret,
    hasValue: secret ? !!row.hasValue : true,
    description: row.description ?? null,
    updatedAt: row.updatedAt,
    updatedBy: row.updatedBy,
  };
}

export const decryptionFailed = (key: string) =>
  new AppError(
    HttpStatus.INTERNAL_SERVER_ERROR,
    'DECRYPTION_FAILED',
    `The value of '${key}' cannot be decrypted with the configured keys: check BIFROST_SECRET_KEY (and BIFROST_SECRET_KEY_PREVIOUS)`,
  );

/** A stored secret whose token was written for another scope or key (a copied row or ciphertext). */
export const bindingMismatch = (key: string) =>
  new AppError(
    HttpStatus.INTERNAL_SERVER_ERROR,
    'SECRET_BINDING_MISMATCH',
    `The stored value of '${key}' was encrypted for another scope or key and is not used here: set the secret again`,
  );

interface ListPlan {
  type?: ConfigType;
  prefix?: string;
  limit: number;
  after?: string;
}

/** Parses list filters; each bad one gets its own code. */
export function parseListQuery(q: ListQuery): ListPlan {
  if (q.type !== undefined && !(CONFIG_TYPES as readonly string[]).includes(q.type)) {
    throw badRequest('INVALID_TYPE', `type must be one of ${CONFIG_TYPES.join(', ')}`);
  }
  if (q.prefix !== undefined && q.prefix.length > 255) throw badRequest('INVALID_PREFIX', 'prefix may be at most 255 characters');
  const limit = q.limit === undefined ? DEFAULT_LIMIT : /^\d{1,4}$/.test(q.limit) ? Number(q.limit) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw badRequest('INVALID_LIMIT', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  let after: string | undefined;
  if (q.cursor !== undefined) {
    const decoded = Buffer.from(q.cursor, 'base64url').toString('utf8');
    if (!decoded.startsWith('k:') || !KEY_PATTERN.test(decoded.slice(2))) throw badRequest('INVALID_CURSOR', 'cursor is not one this service issued');
    after = decoded.slice(2);
  }
  return { type: q.type as ConfigType | undefined, prefix: q.prefix, limit, after };
}

const cursorFor = (key: string) => Buffer.from(`k:${key}`).toString('base64url');

/**
 * Configs in a scope: typed values, encrypted secrets, masking, and the cascade. Each write and its
 * audit entry commit in one transaction; each read is answered after its audit entry committed.
 */
@Injectable()
export class ConfigsService {
  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
    private readonly audit: AuditService,
    private readonly secretVersions: SecretVersions,
    private readonly repo: ConfigsRepository,
    @Optional() private readonly registry?: SecretRegistry,
  ) {}

  async list(scope: string, q: ListQuery): Promise<Page<ConfigView>> {
    const plan = parseListQuery(q);
    const rows = await this.repo.list([scope], plan, plan.limit + 1);
    await this.audit.recordRead({ action: 'config.list', outcome: 'success', scope, reason: plan.type ? `type=${plan.type}` : null });
    const more = rows.length > plan.limit;
    const page = more ? rows.slice(0, plan.limit) : rows;
    return { items: page.map(toView), nextCursor: more ? cursorFor(page[page.length - 1].key) : null };
  }

  /** The cascade: every global key overlaid by the org's own, each marked with its source. */
  async effective(orgId: string, q: ListQuery): Promise<Page<EffectiveConfigView>> {
    const plan = parseListQuery(q);
    // Each scope's next limit+1 keys suffice to fill a page of the merged, de-duplicated list.
    const rows = await this.repo.list(cascadeScopes(orgId), plan, 2 * (plan.limit + 1));
    const merged = [...overlay(rows, orgId).values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await this.audit.recordRead({ action: 'config.list', outcome: 'success', scope: orgId, reason: 'effective' });
    const more = merged.length > plan.limit;
    const page = more ? merged.slice(0, plan.limit) : merged;
    return {
      items: page.map((row) => ({ ...toView(row), source: row.scope === orgId ? 'org' : 'global' })),
      nextCursor: more ? cursorFor(page[page.length - 1].key) : null,
    };
  }

  async get(scope: string, key: string): Promise<ConfigView> {
    assertValidKey(key);
    const row = await this.repo.view(scope, key);
    await this.audit.recordRead({ action: 'config.read', outcome: row ? 'success' : 'failure', scope, key, configType: row?.type ?? null, reason: row ? 'masked read' : 'CONFIG_NOT_FOUND' });
    if (!row) throw configNotFound();
    return toView(row);
  }

  /**
   * Creates or replaces (scope, key). Concurrent writers of one key are serialised by the row lock
   * (or retried after losing the insert race), so one row results, holding one of the values.
   */
  async put(actor: Principal, scope: string, key: string, input: PutInput): Promise<{ created: boolean; config: ConfigView }> {
    assertValidKey(key);
    if (!(CONFIG_TYPES as readonly string[]).includes(input.type)) throw badRequest('INVALID_TYPE', `type must be one of ${CONFIG_TYPES.join(', ')}`);
    const { stored } = normalizeValue(input.type, input.value);
    const secret = input.type === 'secret';
    // Encrypt once, outside the transaction: the lock is held for the shortest time.
    // Bound to its scope and key: the token is accepted nowhere else (a copied row does not open).
    const ciphertext = secret ? this.crypto.encryptBound({ scope, key }, stored) : null;
    const change: ConfigChange = { scope, key, type: input.type, stored: secret ? null : stored, ciphertext, description: input.description, allowTypeChange: input.allowTypeChange };
    const result = await inTransaction(this.dataSource, (em) => this.putIn(em, actor, change));
    // Committed: this instance's scrubber takes the change as it is, without reloading the scope.
    if (result.secretVersion !== undefined) this.registry?.noteWrite(scope, result.secretVersion, key, secret && ciphertext !== null ? { ciphertext, plain: stored } : null);
    return { created: result.created, config: result.config };
  }

  /** The type of (scope, key) as stored now, or null when there is no such row (no lock: see putIn). */
  async storedType(scope: string, key: string): Promise<ConfigType | null> {
    assertValidKey(key);
    return this.repo.typeOf(scope, key);
  }

  /** One write under its row lock, in the caller's transaction: the rule (planWrite), the row, its secret version, its audit entry. */
  private async putIn(em: EntityManager, actor: Principal, change: ConfigChange): Promise<{ created: boolean; config: ConfigView; secretVersion?: number }> {
    // SQLite transactions are serialised already; MySQL locks the row (or the gap where it would go).
    const existing = await this.repo.forWrite(em, change.scope, change.key);
    // Decided under the row lock, so no concurrent write can slip a secret in between.
    const write = planWrite(existing, change, { actor, now: new Date(), currentKeyId: this.crypto.currentKeyId });
    if (write.refused) throw secretTypeChange('replacing it with a value of another type discards the secret and needs "allowTypeChange": true');
    if (existing) await this.repo.replace(em, write.row);
    else await this.repo.insert(em, write.row);
    const secretVersion = write.touchesSecrets ? await this.secretVersions.bump(em, change.scope) : undefined;
    await this.audit.record(em, write.audit);
    return { created: write.created, config: toView(write.row), secretVersion };
  }

  async patchDescription(actor: Principal, scope: string, key: string, description: string | null): Promise<ConfigView> {
    assertValidKey(key);
    return inTransaction(this.dataSource, async (em) => {
      const row = await this.repo.find(em, scope, key);
      if (!row) throw configNotFound();
      const now = new Date();
      await this.repo.setDescription(em, scope, key, { description, updatedBy: actor.name, updatedAt: now });
      await this.audit.record(em, { action: 'config.update', outcome: 'success', scope, key, configType: row.type, reason: 'description', actor });
      return toView(Object.assign(row, { description, updatedBy: actor.name, updatedAt: now }));
    });
  }

  async delete(actor: Principal, scope: string, key: string): Promise<void> {
    assertValidKey(key);
    const secretVersion = await inTransaction(this.dataSource, async (em) => {
      const row = await this.repo.findType(em, scope, key);
      if (!row) throw configNotFound();
      await this.repo.remove(em, scope, key);
      const version = row.type === 'secret' ? await this.secretVersions.bump(em, scope) : undefined;
      await this.audit.record(em, { action: 'config.delete', outcome: 'success', scope, key, configType: row.type, actor });
      return version;
    });
    if (secretVersion !== undefined) this.registry?.noteWrite(scope, secretVersion, key, null);
  }
}

export const configNotFound = () => notFound('CONFIG_NOT_FOUND', 'No config with this key in this scope');
