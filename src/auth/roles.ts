export const ROLES = ['admin', 'org_admin', 'member', 'service', 'execution'] as const;
export type Role = (typeof ROLES)[number];
/** The roles POST /api/tokens creates: an `execution` token is minted by POST /api/executions only. */
export const CREATABLE_ROLES = ['admin', 'org_admin', 'member', 'service'] as const;

/** Who is calling: built by the bearer strategy from the token row. */
export interface Principal {
  id: string;
  name: string;
  role: Role;
  orgId: string | null;
  /** When the token expires (ms since the epoch); null or absent: never. */
  expiresAt?: number | null;
  /** An execution token's execution. */
  executionId?: string | null;
}

/** The CLI acts as this principal in audit entries. */
export const CLI_PRINCIPAL: Principal = { id: 'cli', name: 'cli', role: 'admin', orgId: null };

/** Start-up creations (BIFROST_BOOTSTRAP_TOKEN, the first development token) are audited as this actor. */
export const BOOTSTRAP_PRINCIPAL: Principal = { id: 'bootstrap', name: 'bootstrap', role: 'admin', orgId: null };
