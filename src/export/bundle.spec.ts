import { Fernet } from '../crypto/fernet';
import { wrapBifrostStored } from '../crypto/key-derivation';
import { BUNDLE_CLOSING, bundleItem, bundleOpening, BundleHeader, headerCollector, parseBifrostRow, parseBundleRow, parseRow, rowArrayPath } from './bundle';
import { JsonStreamScanner } from './json-stream';
import { Scrubber } from '../scrubber/scrubber';

function header(doc: unknown): BundleHeader {
  const { handlers, result } = headerCollector();
  const scanner = new JsonStreamScanner(handlers);
  scanner.write(Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc)));
  scanner.end();
  return result();
}

const codes = (h: BundleHeader) => h.problems.map((p) => p.code);
const token = new Fernet(Fernet.generateKey()).encrypt('s3cret');

describe('bundle header', () => {
  it('recognises this service’s bundle, bare and wrapped, and counts its rows', () => {
    const bare = header({ format: 'bifrost-config-bundle', version: 1, portable: true, exportedAt: 'x', configs: [{}, {}, {}] });
    expect(bare).toEqual({ kind: 'bundle', wrapped: false, portable: true, rows: 3, problems: [] });
    expect(rowArrayPath(bare)).toEqual(['configs']);
    const wrapped = header({ sourceSecretKey: 'their-key', bundle: { format: 'bifrost-config-bundle', version: 1, configs: [{}] } });
    expect(wrapped).toMatchObject({ kind: 'bundle', wrapped: true, sourceSecretKey: 'their-key', rows: 1, problems: [] });
    expect(rowArrayPath(wrapped)).toEqual(['bundle', 'configs']);
  });

  it('recognises Bifrost’s configs export', () => {
    const h = header({ bifrost_export_version: '1.0', entity_type: 'configs', contains_encrypted_values: true, item_count: 2, items: [{}, {}] });
    expect(h).toMatchObject({ kind: 'bifrost', rows: 2, problems: [] });
    expect(rowArrayPath(h)).toEqual(['items']);
  });

  it.each([
    [{ format: 'other', version: 1, configs: [] }, ['UNSUPPORTED_FORMAT']],
    [{ format: 'bifrost-config-bundle', version: '1', configs: [] }, ['UNSUPPORTED_FORMAT']],
    [{ format: 'bifrost-config-bundle', version: 1 }, ['MISSING_CONFIGS']],
    [{ format: 'bifrost-config-bundle', version: 1, configs: [], items: [] }, ['UNSUPPORTED_FORMAT']],
    [{ format: 'bifrost-config-bundle', version: 1, configs: {} }, ['MISSING_CONFIGS']],
    [{ bifrost_export_version: '1.0', entity_type: 'tables', items: [] }, ['UNSUPPORTED_FORMAT']],
    [{ bifrost_export_version: '0.9', entity_type: 'configs', items: [] }, ['UNSUPPORTED_FORMAT']],
    [{ configs: [] }, ['UNSUPPORTED_FORMAT']],
    [{ bundle: 'nope', sourceSecretKey: 'k' }, ['UNSUPPORTED_FORMAT', 'UNSUPPORTED_FORMAT']],
    [{ bundle: { format: 'bifrost-config-bundle', version: 1, configs: [] }, sourceSecretKey: '' }, ['INVALID_SOURCE_KEY']],
    [{ bundle: { format: 'bifrost-config-bundle', version: 1, configs: [] }, configs: [] }, ['UNSUPPORTED_FORMAT']],
  ])('reports bad header #%# as %j', (doc, expected) => {
    expect(codes(header(doc))).toEqual(expected);
  });

  it('a header member twice is refused by the scanner itself (DUPLICATE_KEY), before the header is looked at', () => {
    expect(() => header('{"format":"bifrost-config-bundle","format":"bifrost-config-bundle","version":1,"configs":[]}')).toThrow(
      expect.objectContaining({ code: 'DUPLICATE_KEY' }),
    );
  });
});

describe('parseBundleRow', () => {
  it('accepts every type, orgs by name, and keeps an absent description apart from null', () => {
    expect(parseBundleRow({ scope: 'global', key: 'n', type: 'int', value: '42' }, 0)).toEqual({
      parsed: { key: 'n', type: 'int', description: undefined, scope: { kind: 'global' }, stored: '42', secretToken: null },
      problems: [],
    });
    expect(parseBundleRow({ scope: { org: 'acme corp' }, key: 'j', type: 'json', value: null, description: null }, 1).parsed).toMatchObject({
      scope: { kind: 'org', name: 'acme corp' },
      stored: 'null',
      description: null,
    });
    expect(parseBundleRow({ scope: 'global', key: 's', type: 'secret', value: null, encryptedValue: token }, 2).parsed).toMatchObject({ secretToken: token, stored: null });
    expect(parseBundleRow({ scope: 'global', key: 's', type: 'secret', encryptedValue: wrapBifrostStored(token) }, 2).parsed?.secretToken).toBe(token);
    expect(parseBundleRow({ scope: 'global', key: 's', type: 'secret', value: null }, 3).parsed?.secretToken).toBeNull();
  });

  it('lists every problem of a row, never its value', () => {
    const { parsed, problems } = parseBundleRow({ scope: { org: '' }, key: '.hidden', type: 'int', value: 'MARKER', description: 7 }, 5);
    expect(parsed).toBeUndefined();
    expect(problems.map((p) => [p.row, p.code])).toEqual([
      [5, 'INVALID_KEY'],
      [5, 'INVALID_SCOPE'],
      [5, 'INVALID_DESCRIPTION'],
      [5, 'INVALID_VALUE'],
    ]);
    expect(JSON.stringify(problems)).not.toContain('MARKER');
    expect(problems.every((p) => p.key === undefined)).toBe(true); // an invalid key is not echoed either
  });

  it.each([
    [{ scope: 'global', key: 'k', type: 'secret', value: 'plaintext' }, 'SECRET_IN_CLEAR'],
    [{ scope: 'global', key: 'k', type: 'secret', value: '••••••' }, 'SECRET_IN_CLEAR'],
    [{ scope: 'global', key: 'k', type: 'secret', encryptedValue: 'not-a-token' }, 'INVALID_SECRET'],
    [{ scope: 'global', key: 'k', type: 'string', value: 'v', encryptedValue: token }, 'INVALID_ROW'],
    [{ scope: 'global', key: 'k', type: 'string' }, 'MISSING_VALUE'],
    [{ scope: 'global', key: 'k', type: 'bool', value: 'yes' }, 'INVALID_VALUE'],
    [{ scope: 'global', key: 'k', type: 'int', value: 2 ** 53 }, 'INVALID_VALUE'],
    [{ scope: 'global', key: 'k', type: 'string', value: 'x'.repeat(65 * 1024) }, 'VALUE_TOO_LARGE'],
    [{ scope: 'global', key: 'k', type: 'text', value: 'x' }, 'INVALID_TYPE'],
    [{ scope: 'GLOBAL', key: 'k', type: 'string', value: 'x' }, 'INVALID_SCOPE'],
    [{ scope: { org: 'a', id: 'b' }, key: 'k', type: 'string', value: 'x' }, 'INVALID_SCOPE'],
    [{ scope: { org: ' acme' }, key: 'k', type: 'string', value: 'x' }, 'INVALID_SCOPE'],
    [{ scope: { org: 'a'.repeat(101) }, key: 'k', type: 'string', value: 'x' }, 'INVALID_SCOPE'],
    [{ scope: 'global', key: 'k', type: 'string', value: 'x', description: 'd'.repeat(1001) }, 'INVALID_DESCRIPTION'],
    [[1, 2], 'INVALID_ROW'],
    [null, 'INVALID_ROW'],
  ])('rejects bad row #%# with %s', (row, code) => {
    expect(parseBundleRow(row, 0).problems.map((p) => p.code)).toEqual([code]);
  });

  it('refuses prototype keys and over-deep values (the limits of every JSON body)', () => {
    const proto = JSON.parse('{"scope":"global","key":"k","type":"json","value":{"__proto__":{"polluted":true}}}');
    expect(parseRow('bundle', proto, 0).problems.map((p) => p.code)).toEqual(['INVALID_ROW']);
    const deep = { scope: 'global', key: 'k', type: 'json', value: JSON.parse('['.repeat(80) + ']'.repeat(80)) };
    expect(parseRow('bundle', deep, 0).problems.map((p) => p.code)).toEqual(['JSON_TOO_DEEP']);
  });
});

describe('parseBifrostRow', () => {
  it('maps Bifrost’s fields: config_type in either case, org by name before id, Python booleans', () => {
    expect(parseBifrostRow({ key: 'k', value: wrapBifrostStored(token), config_type: 'SECRET', organization_id: 'x', organization_name: 'Contoso' }, 0).parsed).toEqual({
      key: 'k',
      type: 'secret',
      description: undefined,
      scope: { kind: 'org', name: 'Contoso' },
      stored: null,
      secretToken: token,
    });
    expect(parseBifrostRow({ key: 'k', value: 'True', config_type: 'bool', organization_id: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' }, 0).parsed).toMatchObject({
      stored: 'true',
      scope: { kind: 'orgId', id: 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' },
    });
    expect(parseBifrostRow({ key: 'k', value: null, config_type: 'secret' }, 0).parsed).toMatchObject({ secretToken: null, scope: { kind: 'global' } });
    expect(parseBifrostRow({ key: 'k', value: '', config_type: 'secret' }, 0).parsed?.secretToken).toBeNull();
    expect(parseBifrostRow({ key: 'k', value: { a: 1 }, config_type: 'json', integration_name: 'ignored' }, 0).parsed?.stored).toBe('{"a":1}');
  });

  it('lists problems per row', () => {
    expect(parseBifrostRow({ key: 'k', value: 'x', config_type: 'float' }, 3).problems.map((p) => p.code)).toEqual(['INVALID_TYPE']);
    expect(parseBifrostRow({ key: 'k', value: 'not-a-token', config_type: 'secret' }, 3).problems.map((p) => p.code)).toEqual(['INVALID_SECRET']);
    expect(parseBifrostRow({ key: 'k', value: 'x', config_type: 'string', organization_name: 7 }, 3).problems.map((p) => p.code)).toEqual(['INVALID_SCOPE']);
    expect(parseBifrostRow({ key: 'k', config_type: 'int' }, 3).problems.map((p) => p.code)).toEqual(['MISSING_VALUE']);
  });
});

describe('bundle writing', () => {
  it('writes a bundle that parses back, secrets null when portable and as tokens in a backup', () => {
    const rows = [
      { scope: 'global' as const, key: 'a', type: 'json' as const, description: 'd "q"', value: '{"x":[1,"\\u2028"]}' },
      { scope: { org: 'acme' }, key: 's', type: 'secret' as const, description: null, value: null, encryptedValue: token },
    ];
    for (const portable of [true, false]) {
      const text = bundleOpening(portable, new Date(0)) + rows.map((r) => '\n' + bundleItem(r, portable)).join(',') + BUNDLE_CLOSING;
      const parsed = JSON.parse(text);
      expect(parsed).toMatchObject({ format: 'bifrost-config-bundle', version: 1, portable, exportedAt: '1970-01-01T00:00:00.000Z' });
      expect(parsed.configs[0]).toEqual({ scope: 'global', key: 'a', type: 'json', description: 'd "q"', value: { x: [1, '\u2028'] } });
      expect(parsed.configs[1]).toEqual(
        portable ? { scope: { org: 'acme' }, key: 's', type: 'secret', description: null, value: null } : { scope: { org: 'acme' }, key: 's', type: 'secret', description: null, encryptedValue: token },
      );
      if (portable) expect(text).not.toContain(token);
    }
  });

  it('scrubs a portable bundle value by value: valid JSON and intact structure whatever the secrets, a backup as stored', () => {
    // Secrets that break a bundle whose text is scrubbed: short, JSON punctuation, words of its structure.
    const scrubber = Scrubber.of(['1234', ',"value":', '"}]}\\', 'global', 'secret', 'configs', 'ab/cd']);
    const rows = [
      { scope: 'global' as const, key: 'build', type: 'string' as const, description: 'pin 1234', value: '"12345"' },
      { scope: 'global' as const, key: 'port', type: 'int' as const, description: null, value: '12345' },
      { scope: 'global' as const, key: 'small', type: 'int' as const, description: null, value: '123' },
      { scope: 'global' as const, key: 'db_secret_name', type: 'string' as const, description: ',"value":"}]}\\', value: '"plain"' },
      { scope: { org: 'global' }, key: 'configs', type: 'json' as const, description: null, value: '{"k1234":[1234,"global",null,true,{"d":"x"}],"n":42}' },
      // Stored with escapes: a secret hidden behind one (\/ is "/") is found all the same.
      { scope: 'global' as const, key: 'escaped', type: 'string' as const, description: null, value: '"x ab\\/cd \\u0031234"' },
      { scope: 'global' as const, key: 's', type: 'secret' as const, description: 'secret', value: null, encryptedValue: token },
    ];
    const text = bundleOpening(true, new Date(0)) + rows.map((r) => '\n' + bundleItem(r, true, scrubber)).join(',') + BUNDLE_CLOSING;
    const parsed = JSON.parse(text);
    expect(parsed).toMatchObject({ format: 'bifrost-config-bundle', version: 1, portable: true });
    // Scopes, keys and types are identifiers of the bundle's structure: as they are.
    expect(parsed.configs.map((c: { scope: unknown; key: string; type: string }) => [c.scope, c.key, c.type])).toEqual(rows.map((r) => [r.scope, r.key, r.type]));
    expect(parsed.configs.map((c: { value: unknown }) => c.value)).toEqual([
      '[REDACTED]5',
      '[REDACTED]',
      123,
      'plain',
      { 'k[REDACTED]': ['[REDACTED]', '[REDACTED]', null, true, { d: 'x' }], n: 42 },
      'x [REDACTED] [REDACTED]',
      null,
    ]);
    expect(parsed.configs.map((c: { description: unknown }) => c.description)).toEqual(['pin [REDACTED]', null, null, '[REDACTED]', null, null, '[REDACTED]']);
    expect(text).not.toContain(token);

    // A backup is never scrubbed: every value as stored.
    const backup = JSON.parse(bundleOpening(false, new Date(0)) + rows.map((r) => '\n' + bundleItem(r, false)).join(',') + BUNDLE_CLOSING);
    expect(backup.configs.map((c: { value?: unknown }) => c.value)).toEqual(rows.map((r) => (r.type === 'secret' ? undefined : JSON.parse(r.value!))));
    expect(backup.configs[6].encryptedValue).toBe(token);
  });
});
