import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import type { TokenRowPart } from '../auth/deferred-token-check';
import { rawQuery } from '../common/database';
import { shadowing } from '../scopes/cascade';
import { GLOBAL_SCOPE } from '../scopes/org-scope.guard';
import type { ConfigType } from './config.entity';

/** A configs row as the SDK read uses it. */
export interface StoredConfig {
  scope: string;
  type: ConfigType;
  value: string | null;
  ciphertext: string | null;
  hasValue: boolean;
}

/** What one SDK read statement finds, each part in its own columns. */
export interface SdkReadParts {
  /** The org's row, else the global one (the org shadows global); null: neither exists. */
  config: StoredConfig | null;
  /** The secret versions of the org and of global (0 when a scope has none yet). */
  versions: { scope: string; version: number }[];
  /** The presented token's row, when its hash was given (undefined: no such row). */
  token?: TokenRowPart;
  /** The named execution, when it belongs to the org: its registered secret count. */
  execution?: { id: string; count: number };
}

interface Row {
  o_type: string | null;
  o_value: string | null;
  o_ciphertext: string | null;
  o_has_value: number | string | boolean | null;
  g_type: string | null;
  g_value: string | null;
  g_ciphertext: string | null;
  g_has_value: number | string | boolean | null;
  o_version: number | string | null;
  g_version: number | string | null;
  t_id: string | null;
  t_role: string | null;
  t_org_id: string | null;
  t_revoked_at: unknown;
  t_execution_status: string | null;
  x_org_id: string | null;
  x_secrets: number | string | null;
}

/**
 * The workflow engine's hot read, one prepared statement and one row: the org's and the global
 * configs row, both scopes' secret versions (the response's scrubber needs them; read together they
 * are exactly as fresh as the value), the presented token's row (a deferred token check) and the
 * named execution with its secret count (the registration's fast path). A part not asked for is
 * bound to NULL and matches nothing.
 */
const SDK_READ_SQL =
  'SELECT o.type AS o_type, o.value AS o_value, o.ciphertext AS o_ciphertext, o.has_value AS o_has_value,' +
  ' g.type AS g_type, g.value AS g_value, g.ciphertext AS g_ciphertext, g.has_value AS g_has_value,' +
  ' ov.version AS o_version, gv.version AS g_version,' +
  ' t.id AS t_id, t.role AS t_role, t.org_id AS t_org_id, t.revoked_at AS t_revoked_at,' +
  ' (SELECT te.status FROM executions te WHERE te.id = t.execution_id) AS t_execution_status,' +
  ' x.org_id AS x_org_id, (SELECT COUNT(*) FROM execution_secrets s WHERE s.execution_id = x.id) AS x_secrets' +
  ' FROM (SELECT 1 AS one) d' +
  ' LEFT JOIN configs o ON o.scope = ? AND o.`key` = ?' +
  ' LEFT JOIN configs g ON g.scope = ? AND g.`key` = ?' +
  ' LEFT JOIN secret_versions ov ON ov.scope = ?' +
  ' LEFT JOIN secret_versions gv ON gv.scope = ?' +
  ' LEFT JOIN api_tokens t ON t.token_hash = ?' +
  ' LEFT JOIN executions x ON x.id = ?';

const stored = (scope: string, type: string | null, value: string | null, ciphertext: string | null, hasValue: unknown): StoredConfig | null =>
  type === null ? null : { scope, type: type as ConfigType, value, ciphertext, hasValue: Number(hasValue) === 1 };

@Injectable()
export class SdkReadRepository {
  constructor(@InjectDataSource() private readonly dataSource: DataSource) {}

  async read(orgId: string, key: string, tokenHash: string | null, executionId: string | null): Promise<SdkReadParts> {
    const [r] = await rawQuery<Row>(this.dataSource, SDK_READ_SQL, [orgId, key, GLOBAL_SCOPE, key, orgId, GLOBAL_SCOPE, tokenHash, executionId]);
    const parts: SdkReadParts = {
      config: shadowing([stored(orgId, r.o_type, r.o_value, r.o_ciphertext, r.o_has_value), stored(GLOBAL_SCOPE, r.g_type, r.g_value, r.g_ciphertext, r.g_has_value)].filter((c) => c !== null), orgId) ?? null,
      versions: [
        { scope: orgId, version: Number(r.o_version ?? 0) },
        { scope: GLOBAL_SCOPE, version: Number(r.g_version ?? 0) },
      ],
    };
    if (tokenHash !== null && r.t_id !== null) {
      parts.token = { id: r.t_id, role: r.t_role ?? '', orgId: r.t_org_id, revoked: r.t_revoked_at != null, executionStatus: r.t_execution_status };
    }
    if (executionId !== null && r.x_org_id === orgId) parts.execution = { id: executionId, count: Number(r.x_secrets ?? 0) };
    return parts;
  }
}
