import type { Principal } from '../../auth/roles';
import { AppError } from '../../common/errors';
import { normalizeValue } from '../../configs/config-values';
import { InvalidTokenError } from '../../crypto/fernet';
import { GLOBAL_SCOPE } from '../../scopes/org-scope.guard';
import { BundleHeader, BundleScope, ParsedRow, parseRow } from '../bundle';
import { checkImportRow } from '../../leaks/import-rows';
import { ProblemList } from '../problem-list';
import type { OrgLookup } from './orgs';
import { checkBinding, SecretOpener } from './secrets';
import type { ImportOptions, RawRow, Resolved } from './types';

/** What a batch's rows are checked with. */
export interface RowContext {
  header: BundleHeader;
  opener: SecretOpener;
  orgs: OrgLookup;
  opts: ImportOptions;
  actor: Principal;
}

/** Checks a batch of rows: shape and values, scope and org, secrets opened. Each problem goes to `problems`, with its row. */
export async function resolveBatch(ctx: RowContext, batch: RawRow[], problems: ProblemList): Promise<Resolved[]> {
  const parsed: { row: number; parsed: ParsedRow }[] = [];
  for (const { row, raw } of batch) {
    const r = parseRow(ctx.header.kind!, raw, row);
    if (r.parsed) parsed.push({ row, parsed: r.parsed });
    else problems.push(...r.problems);
  }
  await ctx.orgs.prefetch(parsed.map((p) => p.parsed.scope));
  const out: Resolved[] = [];
  for (const { row, parsed: p } of parsed) {
    const resolved = await resolveRow(ctx, row, p, problems);
    if (resolved) out.push(resolved);
  }
  return out;
}

/** One row: where it goes (an org created, or planned, when the options allow), and its secret opened; null after a problem. */
async function resolveRow(ctx: RowContext, row: number, p: ParsedRow, problems: ProblemList): Promise<Resolved | null> {
  const { orgs, opts, actor, opener } = ctx;
  const problem = (code: string, message: string) => {
    problems.push({ row, key: p.key, code, message });
    return null;
  };
  let name: string | null = null;
  let scopeId: string | null = GLOBAL_SCOPE;
  if (p.scope.kind === 'orgId') {
    name = orgs.nameOf(p.scope.id);
    if (name === null) return problem('ORG_NOT_FOUND', 'organization_id names no org here and the item has no organization_name');
  } else if (p.scope.kind === 'org') name = p.scope.name;
  if (name !== null) {
    scopeId = orgs.idOf(name);
    if (scopeId === null) {
      if (!opts.createOrgs) return problem('ORG_NOT_FOUND', 'The org named by this row does not exist here (import with createOrgs=true to create it)');
      if (await orgs.looksLikeAnother(name)) {
        return problem('ORG_NAME_CONFUSABLE', 'The org named by this row looks like an existing org (or one created earlier in this bundle); its name must read differently');
      }
      scopeId = await orgs.create(name);
    }
  }
  if (actor.role !== 'admin' && scopeId !== actor.orgId) return problem('SCOPE_FORBIDDEN', 'You may import configs of your own org only');
  let secretPlain: string | null = null;
  let secretKeep: string | undefined;
  if (p.type === 'secret' && p.secretToken !== null) {
    try {
      const opened = opener.open(p.secretToken);
      // A ciphertext of this deployment is accepted only into the scope and key it was written for.
      const kept = opener.withSourceKey ? false : await checkBinding(opened.binding, scopeId!, name, p.key, actor, orgs);
      if (opened.value.length > 0) {
        normalizeValue('secret', opened.value);
        secretPlain = opened.value;
        if (kept && opened.current) secretKeep = p.secretToken;
      }
    } catch (err) {
      if (err instanceof AppError) return problem(err.code, err.message);
      if (err instanceof InvalidTokenError || err instanceof TypeError) return problem('SECRET_UNDECRYPTABLE', opener.failure);
      throw err;
    }
  }
  const scopeOut: BundleScope = name === null ? 'global' : { org: name };
  const leak = checkImportRow(row, scopeOut, p, ctx.opts.allowSecretLikeValues === true);
  if (leak.problem) {
    problems.push(leak.problem);
    return null;
  }
  return { row, parsed: p, scopeId: scopeId!, scopeOut, secretPlain, secretKeep, leakNote: leak.note };
}
