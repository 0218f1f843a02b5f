import { parseCommand, USAGE, UsageError } from './main';

describe('bifrost scan: arguments', () => {
  it('parses --scope and --json', () => {
    expect(parseCommand(['scan'])).toEqual({ name: 'scan', json: false });
    expect(parseCommand(['scan', '--scope', 'global', '--json'])).toEqual({ name: 'scan', scope: 'global', json: true });
  });

  it('refuses unknown options and arguments as usage errors', () => {
    expect(() => parseCommand(['scan', '--nope'])).toThrow(UsageError);
    expect(() => parseCommand(['scan', 'extra'])).toThrow(UsageError);
  });

  it('is in the usage, and import takes --allow-secret-like-values', () => {
    expect(USAGE).toMatch(/scan \[--scope global\|ORG_ID\] \[--json\]/);
    expect(parseCommand(['import', 'f.json', '--allow-secret-like-values'])).toMatchObject({ name: 'import', allowSecretLikeValues: true });
    expect(parseCommand(['import', 'f.json'])).not.toHaveProperty('allowSecretLikeValues');
  });
});
