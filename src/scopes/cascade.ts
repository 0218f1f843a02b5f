import { GLOBAL_SCOPE } from './org-scope.guard';

/**
 * The cascade: what an org reads is the global scope overlaid by its own, so for each key the
 * org's row shadows the global one. The one place that rule is written.
 */
export const cascadeScopes = (orgId: string): string[] => [orgId, GLOBAL_SCOPE];

/** Of the rows of one key in an org's cascade scopes, the one the org sees (undefined: neither has it). */
export function shadowing<T extends { scope: string }>(rows: readonly T[], orgId: string): T | undefined {
  return rows.find((r) => r.scope === orgId) ?? rows.find((r) => r.scope === GLOBAL_SCOPE);
}

/**
 * Rows of many keys in an org's cascade scopes, one a key: the org's where it has one. In the order
 * the keys were first met, global rows first (as `rows` is ordered within each scope).
 */
export function overlay<T extends { scope: string; key: string }>(rows: readonly T[], orgId: string): Map<string, T> {
  const byKey = new Map<string, T>();
  for (const scope of [GLOBAL_SCOPE, orgId]) for (const row of rows) if (row.scope === scope) byKey.set(row.key, row);
  return byKey;
}
