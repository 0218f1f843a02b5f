import { parseCommand, usage } from '../main';
import { UsageError } from '../command';

const argsOf = (argv: string[]) => {
  const parsed = parseCommand(argv);
  if (parsed.name !== 'command') throw new Error(`not a command: ${parsed.name}`);
  return { name: parsed.command.name, ...(parsed.args as object), json: parsed.json };
};

describe('bifrost scan: arguments', () => {
  it('parses --scope and --json', () => {
    expect(argsOf(['scan'])).toEqual({ name: 'scan', scope: undefined, json: false });
    expect(argsOf(['scan', '--scope', 'global', '--json'])).toEqual({ name: 'scan', scope: 'global', json: true });
  });

  it('refuses unknown options and arguments as usage errors', () => {
    expect(() => parseCommand(['scan', '--nope'])).toThrow(UsageError);
    expect(() => parseCommand(['scan', 'extra'])).toThrow(UsageError);
  });

  it('is in the usage, answers --help, and import takes --allow-secret-like-values', () => {
    expect(usage()).toMatch(/\bscan\b/);
    expect(parseCommand(['scan', '--help'])).toEqual({ name: 'help', text: expect.stringMatching(/^Usage: bifrost scan \[options\][\s\S]*--scope SCOPE/) });
    expect(argsOf(['import', 'f.json', '--allow-secret-like-values'])).toMatchObject({ name: 'import', allowSecretLikeValues: true });
    expect(argsOf(['import', 'f.json'])).not.toHaveProperty('allowSecretLikeValues');
  });
});
