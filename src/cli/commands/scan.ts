import { CLI_PRINCIPAL } from '../../auth/roles';
import { ScanService } from '../../leaks/scan.service';
import { CommandFailure, defineCommand } from '../command';
import { resolveScope } from './export';

export const scanCommand = defineCommand({
  name: 'scan',
  summary: 'List the plain (non-secret) configs that look like credentials, by scope, key and detector (never a value).',
  options: [{ name: 'scope', type: 'string', value: 'SCOPE', help: "global, or an org's id or name (default: every scope)" }],
  details:
    'One line per finding: scope, key, type and detector, tab-separated. The exit code is 1 when any is found.\n' +
    'With --json: {"scanned": N, "found": N, "items": [{"scope", "key", "type", "detector"}], "truncated": false}.',
  services: true,
  parse: (values) => ({ scope: values.scope as string | undefined }),
  async run(cmd, c) {
    const scope = await resolveScope(c.services, cmd.scope);
    const result = await c.services.get(ScanService).scan(CLI_PRINCIPAL, scope === 'all' ? undefined : scope);
    c.result(result, result.items.map((f) => `${f.scope}\t${f.key}\t${f.type}\t${f.detector}`).join('\n'));
    const more = result.truncated ? ` (the first ${result.items.length} are listed)` : '';
    const summary = `${result.found} of ${result.scanned} plain configs look like credentials${more}`;
    if (result.found > 0) throw new CommandFailure('LEAKS_FOUND', `${summary}: store each as a secret (PUT with type secret), or leave it`);
    c.say(summary);
  },
});
