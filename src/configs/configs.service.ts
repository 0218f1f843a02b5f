import { HttpStatus, Injectable, Optional } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource, EntityManager } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { inTransaction } from '../common/database';
import { parseLimit, textCursor } from '../common/paging';
import { AppError, badRequest, conflict, notFound } from '../common/errors';
import { CryptoService } from '../crypto/crypto.service';
import { cascadeScopes, overlay } from '../scopes/cascade';
import { CONFIG_TYPES, ConfigEntity, ConfigType } from './config.entity';
import { KEY_PATTERN, MASK, assertValidKey, normalizeValue } from './config-values';
import { ConfigChange, planWrite } from './config-write';
import { ConfigsRepository } from './configs.repository';
import { SecretRegistry } from '../scrubber/secret-registry';
import { SecretVersions } from './secret-versions';
import { guardPlainWrite } from '../leaks/plain-write-guard';

/** Fingerprints kept in memory (a list page holds at most 500; the scrubber keeps every secret anyway). */

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
  /** A secret's: when its value was first redacted from what an execution stored, until a new value is set. */
  exposedAt: Date | null;
  /** A secret's: a short HMAC of its value (see CryptoService.fingerprint); null for other types or no value. */
  fingerprint: string | null;
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
  /** A plain value that looks like a credential is meant (else 400 LOOKS_LIKE_A_SECRET): src/leaks. */
  allowSecretLikeValue?: boolean;
}

export const secretTypeChange = (how: string) => conflict('SECRET_TYPE_CHANGE', `This key holds a secret; ${how}`);

/** The config lists' cursor: the last key of the page. */
const KEY_CURSOR = textCursor('k', (key) => KEY_PATTERN.test(key));

/** Who is shown a secret's fingerprint: those who may write its scope (admin; an org_admin in its own org). */
const mayCompare = (viewer: Principal, scope: string) => viewer.role === 'admin' || (viewer.role === 'org_admin' && viewer.orgId === scope);
const noFingerprint = () => null;

function toView(row: ConfigEntity, fingerprint: (row: ConfigEntity) => string | null): ConfigView {
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
    exposedAt: secret ? (row.exposedAt ?? null) : null,
    fingerprint: secret && row.hasValue ? fingerprint(row) : null,
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

/** A list's plan from its query (type and prefix checked by ListConfigsQueryDto). */
export function parseListQuery(q: ListQuery): ListPlan {
  return { type: q.type as ConfigType | undefined, prefix: q.prefix, limit: parseLimit(q.limit), after: KEY_CURSOR.decode(q.cursor) };
}

export const cursorFor = (key: string) => KEY_CURSOR.encode(key);

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

  /** A secret's fingerprint, computed on read (CryptoService keeps opened tokens); null when no key opens it for this row. */
  private readonly fingerprintOf = (row: ConfigEntity): string | null => {
    if (!row.ciphertext) return null;
    try {
      return this.crypto.fingerprint(this.crypto.decryptBound(row.ciphertext, { scope: row.scope, key: row.key }));
    } catch {
      return null;
    }
  };

  /**
   * Views as `viewer` is shown them: a secret's fingerprint only to those who may write (and so
   * verify) its scope. Equal values have equal fingerprints, so one shown to a reader of another
   * scope would let a writer test guesses by writing them into its own scope, past verify's throttle.
   */
  viewFor(viewer: Principal): (row: ConfigEntity) => ConfigView {
    return (row) => toView(row, mayCompare(viewer, row.scope) ? this.fingerprintOf : noFingerprint);
  }

  async list(viewer: Principal, scope: string, q: ListQuery): Promise<Page<ConfigView>> {
    const plan = parseListQuery(q);
    const rows = await this.repo.list([scope], plan, plan.limit + 1);
    await this.audit.recordRead({ action: 'config.list', outcome: 'success', scope, reason: plan.type ? `type=${plan.type}` : null });
    const more = rows.length > plan.limit;
    const page = more ? rows.slice(0, plan.limit) : rows;
    return { items: page.map(this.viewFor(viewer)), nextCursor: more ? cursorFor(page[page.length - 1].key) : null };
  }

  /** The cascade: every global key overlaid by the org's own, each marked with its source. */
  async effective(viewer: Principal, orgId: string, q: ListQuery): Promise<Page<EffectiveConfigView>> {
    const plan = parseListQuery(q);
    // Each scope's next limit+1 keys suffice to fill a page of the merged, de-duplicated list.
    const rows = await this.repo.list(cascadeScopes(orgId), plan, 2 * (plan.limit + 1));
    const merged = [...overlay(rows, orgId).values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await this.audit.recordRead({ action: 'config.list', outcome: 'success', scope: orgId, reason: 'effective' });
    const more = merged.length > plan.limit;
    const page = more ? merged.slice(0, plan.limit) : merged;
    const view = this.viewFor(viewer);
    return {
      items: page.map((row) => ({ ...view(row), source: row.scope === orgId ? 'org' : 'global' })),
      nextCursor: more ? cursorFor(page[page.length - 1].key) : null,
    };
  }

  async get(viewer: Principal, scope: string, key: string): Promise<ConfigView> {
    assertValidKey(key);
    const row = await this.repo.view(scope, key);
    await this.audit.recordRead({ action: 'config.read', outcome: row ? 'success' : 'failure', scope, key, configType: row?.type ?? null, reason: row ? 'masked read' : 'CONFIG_NOT_FOUND' });
    if (!row) throw configNotFound();
    return this.viewFor(viewer)(row);
  }

  /**
   * Creates or replaces (scope, key). Concurrent writers of one key are serialised by the row lock
   * (or retried after losing the insert race), so one row results, holding one of the values.
   */
  async put(actor: Principal, scope: string, key: string, input: PutInput): Promise<{ created: boolean; config: ConfigView }> {
    assertValidKey(key);
    if (!(CONFIG_TYPES as readonly string[]).includes(input.type)) throw badRequest('INVALID_TYPE', `type must be one of ${CONFIG_TYPES.join(', ')}`);
    const { stored, value } = normalizeValue(input.type, input.value);
    const secret = input.type === 'secret';
    const auditNote = await guardPlainWrite(this.audit, { actor, scope, key, type: input.type, value, allow: input.allowSecretLikeValue, exists: async () => (await this.storedType(scope, key)) !== null });
    // Encrypt once, outside the transaction: the lock is held for the shortest time.
    // Bound to its scope and key: the token is accepted nowhere else (a copied row does not open).
    const ciphertext = secret ? this.crypto.encryptBound({ scope, key }, stored) : null;
    const change: ConfigChange = { scope, key, type: input.type, stored: secret ? null : stored, ciphertext, description: input.description, allowTypeChange: input.allowTypeChange, note: auditNote };
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
    return { created: write.created, config: this.viewFor(actor)(write.row), secretVersion };
  }

  async patchDescription(actor: Principal, scope: string, key: string, description: string | null): Promise<ConfigView> {
    assertValidKey(key);
    return inTransaction(this.dataSource, async (em) => {
      const row = await this.repo.find(em, scope, key);
      if (!row) throw configNotFound();
      const now = new Date();
      await this.repo.setDescription(em, scope, key, { description, updatedBy: actor.name, updatedAt: now });
      await this.audit.record(em, { action: 'config.update', outcome: 'success', scope, key, configType: row.type, reason: 'description', actor });
      return this.viewFor(actor)(Object.assign(row, { description, updatedBy: actor.name, updatedAt: now }));
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
