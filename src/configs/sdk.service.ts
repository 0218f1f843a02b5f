import { Inject, Injectable } from '@nestjs/common';
import { APP_ENV } from '../common/app-env.provider';
import type { AppEnv } from '../common/env';
import { AuditService } from '../audit/audit.service';
import type { DeferredTokenCheck } from '../auth/deferred-token-check';
import type { Principal } from '../auth/roles';
import { AppError, conflict, forbidden } from '../common/errors';
import { currentContext } from '../common/request-context';
import { SecretBindingMismatchError } from '../crypto/binding';
import { CryptoService } from '../crypto/crypto.service';
import { ExecutionsService } from '../executions/executions.service';
import { isUuid } from '../common/params';
import { cascadeScopes, overlay } from '../scopes/cascade';
import { SecretRegistry } from '../scrubber/secret-registry';
import { ConfigType } from './config.entity';
import { ConfigsRepository } from './configs.repository';
import { assertValidKey, inferType, MASK } from './config-values';
import { bindingMismatch, configNotFound, ConfigsService, decryptionFailed, secretTypeChange } from './configs.service';
import { SdkReadRepository } from './sdk-read.repository';

export interface SdkValue {
  key: string;
  type: ConfigType;
  value: unknown;
  source: 'org' | 'global';
}

/**
 * The workflow engine's view: the org's row shadows the global one, values come decrypted and
 * typed. Every read is audited (found, not found, missing value, decryption failed) before it is
 * answered.
 */
@Injectable()
export class SdkService {
  constructor(
    private readonly crypto: CryptoService,
    private readonly audit: AuditService,
    private readonly configs: ConfigsService,
    private readonly reads: SdkReadRepository,
    private readonly executions: ExecutionsService,
    private readonly registry: SecretRegistry,
    @Inject(APP_ENV) private readonly env: AppEnv,
    private readonly repo: ConfigsRepository,
  ) {}

  /**
   * One statement (SdkReadRepository), which also settles the token check the guard deferred to it
   * and finds the named execution; a secret read naming an execution registers the secret with it.
   */
  async read(orgId: string, key: string, executionId?: string | null, check?: DeferredTokenCheck | null): Promise<SdkValue> {
    assertValidKey(key);
    const ctx = currentContext();
    const named = executionId && isUuid(executionId) ? executionId : null;
    const parts = await this.reads.read(orgId, key, check ? check.hash : null, named);
    // A revoked token gets its 401 before anything of the read is used or audited as a read.
    check?.confirmWith(parts.token);
    // The response's scrubber takes the versions this statement read (an execution of another org, or none: count 0).
    this.registry.prime(ctx, { orgId, versions: parts.versions, execution: named ? { id: named, count: parts.execution?.count ?? 0 } : undefined });
    const row = parts.config;
    const base = { action: 'config.read' as const, scope: row?.scope ?? orgId, key, configType: row?.type ?? null, executionId: executionId ?? null };
    const fail = async (err: AppError) => {
      await this.audit.recordRead({ ...base, outcome: 'failure', reason: err.code });
      return err;
    };
    if (!row) throw await fail(configNotFound());
    const source = row.scope === orgId ? 'org' : 'global';
    let value: unknown;
    if (row.type === 'secret') {
      if (!row.hasValue || !row.ciphertext) throw await fail(conflict('SECRET_VALUE_MISSING', `The secret '${key}' has no value yet: set it before reading it`));
      // Strict (BIFROST_STRICT_SECRET_READS): a plaintext only to an execution token, whose token row
      // this very statement found with its execution running, so every plaintext is registered.
      if (this.env.strictSecretReads && ctx?.principal?.role !== 'execution') {
        throw await fail(forbidden('This service returns a secret only to a read made with a running execution’s token (BIFROST_STRICT_SECRET_READS)', 'SECRET_NEEDS_EXECUTION'));
      }
      try {
        // Only a token written for this very row opens here.
        value = this.crypto.decryptBound(row.ciphertext, { scope: row.scope, key });
      } catch (err) {
        throw await fail(err instanceof SecretBindingMismatchError ? bindingMismatch(key) : decryptionFailed(key));
      }
      if (executionId) {
        // Registering with the execution's scrubber can fail (no such execution in this org): the read
        // fails then, and a failed read is audited like any other.
        try {
          await this.executions.registerSecrets(orgId, executionId, [value as string], parts.execution);
        } catch (err) {
          await this.audit.recordRead({ ...base, outcome: 'failure', reason: err instanceof AppError ? err.code : 'EXECUTION_REGISTRATION_FAILED' });
          throw err;
        }
      }
    } else {
      value = row.value === null ? null : JSON.parse(row.value);
    }
    await this.audit.recordRead({ ...base, outcome: 'success' });
    return { key, type: row.type, value, source };
  }

  async readAll(orgId: string): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = Object.create(null);
    for (const row of overlay(await this.repo.allIn(cascadeScopes(orgId)), orgId).values()) {
      out[row.key] = row.type === 'secret' ? (row.hasValue ? MASK : null) : row.value === null ? null : JSON.parse(row.value);
    }
    await this.audit.recordRead({ action: 'config.list', outcome: 'success', scope: orgId, reason: 'sdk' });
    return out;
  }

  /**
   * A write through the SDK never makes a secret plain: without `isSecret`, a value written over an
   * existing secret stays a secret (so it must be a string); `isSecret: false` over one is refused
   * (409 SECRET_TYPE_CHANGE). The lock in putIn re-checks, so a secret created meanwhile is refused
   * too, never downgraded.
   */
  async write(principal: Principal, orgId: string, key: string, value: unknown, isSecret?: boolean, allowSecretLikeValue?: boolean): Promise<void> {
    let type = inferType(value, isSecret);
    if (type !== 'secret' && (await this.configs.storedType(orgId, key)) === 'secret') {
      if (isSecret === false) throw secretTypeChange('an SDK write never makes it plain (an admin or org admin may, with PUT /api/scopes/{scope}/configs/{key} and "allowTypeChange": true)');
      type = 'secret';
    }
    await this.configs.put(principal, orgId, key, { type, value, allowTypeChange: false, allowSecretLikeValue });
  }

  async delete(principal: Principal, orgId: string, key: string): Promise<void> {
    await this.configs.delete(principal, orgId, key);
  }
}
