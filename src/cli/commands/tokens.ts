import { CLI_PRINCIPAL, CREATABLE_ROLES as ROLES, Role } from '../../auth/roles';
import type { TokenView } from '../../auth/tokens.service';
import { parseDuration } from '../../common/env';
import { defineCommand, orgIdOf, UsageError } from '../command';

export const tokensCreateCommand = defineCommand({
  name: 'tokens create',
  summary: 'Create an API token; it is printed once.',
  options: [
    { name: 'role', type: 'string', value: ROLES.join('|'), help: 'the token\'s role (required)' },
    { name: 'org', type: 'string', value: 'ORG', help: "the org (its id or name) of an org_admin, member or service token" },
    { name: 'name', type: 'string', value: 'NAME', help: 'what the token is for (required)' },
    { name: 'ttl', type: 'string', value: 'DURATION', help: 'it expires after this (3600, 90m, 12h, 30d); required within BIFROST_TOKEN_MAX_TTL when that is set' },
  ],
  details: 'Printed on stdout as one JSON line: {"id", "name", "role", "orgId", "expiresAt", "token"}.',
  services: true,
  parse(values) {
    if (typeof values.role !== 'string' || !(ROLES as readonly string[]).includes(values.role)) throw new UsageError(`--role must be one of ${ROLES.join(', ')}`);
    if (typeof values.name !== 'string' || !values.name) throw new UsageError('--name is required');
    let ttlSeconds: number | undefined;
    if (values.ttl !== undefined) {
      try {
        ttlSeconds = parseDuration('--ttl', values.ttl as string);
      } catch {
        throw new UsageError('--ttl must be a duration: seconds, or a number with s, m, h or d (e.g. 3600, 90m, 30d)');
      }
    }
    return { role: values.role as Role, org: values.org as string | undefined, tokenName: values.name, ...(ttlSeconds !== undefined ? { ttlSeconds } : {}) };
  },
  async run(cmd, c) {
    const orgId = cmd.org === undefined ? null : await orgIdOf(c.services, cmd.org, '--org');
    const created = await c.services.tokens.create(CLI_PRINCIPAL, { name: cmd.tokenName, role: cmd.role, orgId, ...(cmd.ttlSeconds !== undefined ? { ttlSeconds: cmd.ttlSeconds } : {}) });
    c.result({ id: created.id, name: created.name, role: created.role, orgId: created.orgId, expiresAt: created.expiresAt, token: created.token });
    c.say('The token is shown only now: keep it somewhere safe.');
  },
});

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export const tokensListCommand = defineCommand({
  name: 'tokens list',
  summary: 'List the API tokens (never their values; execution tokens are not listed).',
  options: [
    { name: 'org', type: 'string', value: 'ORG', help: "only the tokens of this org (its id or name)" },
    { name: 'revoked', type: 'boolean', help: 'include revoked tokens' },
  ],
  details: 'With --json: {"items": [{"id", "name", "role", "orgId", "createdAt", "expiresAt", "revokedAt", "lastUsedAt", "createdBy"}]}.',
  services: true,
  parse: (values) => ({ org: values.org as string | undefined, revoked: !!values.revoked }),
  async run(cmd, c) {
    const orgId = cmd.org === undefined ? undefined : await orgIdOf(c.services, cmd.org, '--org');
    const items: TokenView[] = [];
    let cursor: string | undefined;
    do {
      const page = await c.services.tokens.list(CLI_PRINCIPAL, { limit: '200', cursor });
      items.push(...page.items.filter((t) => (orgId === undefined || t.orgId === orgId) && (cmd.revoked || !t.revokedAt)));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const rows = items.map((t) => ({ id: t.id, name: t.name, role: t.role, orgId: t.orgId, createdAt: iso(t.createdAt), expiresAt: iso(t.expiresAt), revokedAt: iso(t.revokedAt), lastUsedAt: iso(t.lastUsedAt), createdBy: t.createdBy }));
    const text =
      rows.length === 0
        ? 'no tokens'
        : rows
            .map((t) => `${t.id}  ${t.role} ${JSON.stringify(t.name)}${t.orgId ? ` org ${t.orgId}` : ''}${t.expiresAt ? ` expires ${t.expiresAt}` : ''}${t.revokedAt ? ` revoked ${t.revokedAt}` : ''}${t.lastUsedAt ? ` last used ${t.lastUsedAt}` : ' never used'}`)
            .join('\n');
    c.result({ items: rows }, text);
  },
});
