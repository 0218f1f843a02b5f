import { Inject, Injectable } from '@nestjs/common';
import { APP_ENV } from '../common/app-env.provider';
import type { AppEnv } from '../common/env';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { TOKEN_ACTIVE_SQL, TOKEN_CHECK_FROM, TokenCheckRow, TokensService } from '../auth/tokens.service';
import { rawQuery } from '../common/database';
import { AppError, badRequest, conflict, forbidden, notFound } from '../common/errors';
import { currentContext } from '../common/request-context';
import { SecretBindingMismatchError } from '../crypto/binding';
import { CryptoService } from '../crypto/crypto.service';
import { GLOBAL_SCOPE } from '../scopes/org-scope.guard';
import { OrgsService } from '../scopes/orgs.service';
import { isUuid } from '../common/params';
import { cascadeScopes, overlay, shadowing } from '../scopes/cascade';
import { ConfigType } from './config.entity';
import { ConfigsRepository } from './configs.repository';
import { assertValidKey, inferType, MASK } from './config-values';
import { bindingMismatch, configNotFound, ConfigsService, decryptionFailed, secretTypeChange } from './configs.service';

export interface SdkValue {
  key: string;
  type: ConfigType;
  value: unknown;
  source: 'org' | 'global';
}

/**
 * A row of the SDK read, by `kind`: `c` a configs row (has_value is 0/1 on both databases), `v` a
 * secret_versions row (`version`), `t` the presented token's row (`scope` its id, `type` its role,
 * `value` its org, `has_value` its TokenCheckRow `active`), `x` the named execution (`scope` its org,
 * `version` the count of its registered secrets).
 */
interface SdkRow {
  kind: 'c' | 'v' | 't' | 'x';
  scope: string;
  type: string | null;
  value: string | null;
  ciphertext: string | null;
  has_value: number | string | boolean | null;
  version: number | string | null;
}

/**
 * The workflow engine's hot path, one prepared statement: the org's and the global row, and the
 * secret versions of both scopes, which the response's scrubber would otherwise ask for in a
 * second round trip (read together, they are exactly as fresh as the value).
 */
const SDK_READ_SQL =
  "SELECT 'c' AS kind, scope, type, value, ciphertext, has_value, NULL AS version FROM configs WHERE `key` = ? AND scope IN (?, ?)" +
  " UNION ALL SELECT 'v', scope, NULL, NULL, NULL, NULL, version FROM secret_versions WHERE scope IN (?, ?)";
/** Also the presented token's row, when the guard left its check to this read (@TokenCheckedByHandler). */
const TOKEN_PART = ` UNION ALL SELECT 't', id, role, org_id, NULL, ${TOKEN_ACTIVE_SQL}, NULL ${TOKEN_CHECK_FROM}`;
/**
 * Also the execution the read names (X-Bifrost-Execution, the read every workflow makes): its org
 * and how many secrets it has registered, which the registration and the response's scrubber would
 * otherwise each ask for again.
 */
const EXECUTION_PART =
  " UNION ALL SELECT 'x', e.org_id, NULL, NULL, NULL, NULL, (SELECT COUNT(*) FROM execution_secrets s WHERE s.execution_id = e.id) FROM executions e WHERE e.id = ?";
/** The four statements, by [token part, execution part]: each prepared once. */
const SDK_READS = [
  [SDK_READ_SQL, SDK_READ_SQL + EXECUTION_PART],
  [SDK_READ_SQL + TOKEN_PART, SDK_READ_SQL + TOKEN_PART + EXECUTION_PART],
];

/** What the read found of the execution it names, for the registration's fast path. */
export interface SeenExecution {
  id: string;
  /** Its registered secrets as of the read. */
  count: number;
}

/**
 * Hook for the executions module: registers a secret read during an execution with its scrubber.
 * `seen`: the execution was found in `orgId` by the read's own statement.
 */
export type ExecutionSecretSink = (orgId: string, executionId: string, secret: string, seen?: SeenExecution) => Promise<void>;

/**
 * The workflow engine's view: the org's row shadows the global one, values come decrypted and
 * typed. Every read is audited (found, not found, missing value, decryption failed) before it is
 * answered.
 */
@Injectable()
export class SdkService {
  private executionSink?: ExecutionSecretSink;

  constructor(
    @InjectDataSource() private readonly dataSource: DataSource,
    private readonly crypto: CryptoService,
    private readonly audit: AuditService,
    private readonly orgs: OrgsService,
    private readonly configs: ConfigsService,
    private readonly tokens: TokensService,
    @Inject(APP_ENV) private readonly env: AppEnv,
    private readonly repo: ConfigsRepository,
  ) {}

  setExecutionSecretSink(sink: ExecutionSecretSink): void {
    this.executionSink = sink;
  }

  /** The org a service principal acts for: its own, or X-Bifrost-Org (id or name) for an org-less token. */
  async resolveOrg(principal: Principal, rawHeader: string | undefined): Promise<string> {
    const header = decodeOrgHeader(rawHeader);
    let orgId = principal.orgId;
    if (!orgId) {
      if (!header) throw badRequest('ORG_REQUIRED', 'An org-less service token must name the org in X-Bifrost-Org');
      const org = await this.orgs.findByIdOrName(header);
      if (!org) throw notFound('ORG_NOT_FOUND', 'No org matches X-Bifrost-Org');
      orgId = org.id;
    } else if (header && header !== orgId) {
      const org = await this.orgs.findByIdOrName(header);
      if (!org || org.id !== orgId) throw forbidden('This token acts for its own org only', 'ORG_FORBIDDEN');
    }
    const ctx = currentContext();
    if (ctx) ctx.orgId = orgId;
    return orgId;
  }

  async read(orgId: string, key: string, executionId?: string | null): Promise<SdkValue> {
    assertValidKey(key);
    const ctx = currentContext();
    const check = ctx?.tokenCheck?.state === 'pending' ? ctx.tokenCheck : undefined;
    const named = executionId && isUuid(executionId) ? executionId : null;
    const params: unknown[] = [key, orgId, GLOBAL_SCOPE, orgId, GLOBAL_SCOPE];
    if (check) params.push(check.hash);
    if (named) params.push(named);
    const all = await rawQuery<SdkRow>(this.dataSource, SDK_READS[check ? 1 : 0][named ? 1 : 0], params);
    const rows: SdkRow[] = [];
    const versions: { scope: string; version: number }[] = [];
    let token: TokenCheckRow | undefined;
    let seen: SeenExecution | undefined;
    for (const r of all) {
      if (r.kind === 'c') rows.push(r);
      else if (r.kind === 'v') versions.push({ scope: r.scope, version: Number(r.version) });
      else if (r.kind === 't') token = { id: r.scope, role: r.type ?? '', org_id: r.value, active: r.has_value ?? 0 };
      else if (named && r.scope === orgId) seen = { id: named, count: Number(r.version) };
    }
    // A revoked token gets its 401 before anything of the read is used or audited as a read.
    if (check) this.tokens.confirmFromRow(ctx, token);
    // An execution of another org (or none) has no secrets for this request: count 0, as the registry reads it.
    if (ctx) ctx.secretVersions = { orgId, versions, ...(named ? { execution: { id: named, count: seen?.count ?? 0 } } : {}) };
    const found = shadowing(rows, orgId);
    const row = found && { scope: found.scope, type: found.type as ConfigType, value: found.value, ciphertext: found.ciphertext, hasValue: Number(found.has_value) === 1 };
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
      if (executionId && this.executionSink) {
        // Registering with the execution's scrubber can fail (no such execution in this org): the read
        // fails then, and a failed read is audited like any other.
        try {
          await this.executionSink(orgId, executionId, value as string, seen);
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

/**
 * X-Bifrost-Org may be percent-encoded (header values are Latin-1; org names are any Unicode
 * letters). Names cannot hold `%`, so a `%` always means encoding.
 */
export function decodeOrgHeader(raw: string | undefined): string | undefined {
  if (raw === undefined || !raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest('INVALID_ORG_HEADER', 'X-Bifrost-Org is not validly percent-encoded');
  }
}
