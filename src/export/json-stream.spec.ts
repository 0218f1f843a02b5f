import { JsonPath, JsonStreamScanner, JsonSyntaxError, JsonValueTooLargeError, MAX_DESCENDED_MEMBERS } from './json-stream';
import { descendBundle, isRowPath } from './bundle';

interface Seen {
  path: JsonPath;
  value: unknown;
}

/** Scans `text` cut into chunks of `size` bytes, descending like a bundle import does. */
function scan(text: string | Buffer, size: number, opts: { wants?: (p: JsonPath) => boolean; max?: number } = {}): Seen[] {
  const seen: Seen[] = [];
  const scanner = new JsonStreamScanner({ descend: descendBundle, wants: opts.wants, value: (path, value) => seen.push({ path: [...path], value }) }, opts.max);
  const bytes = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  for (let i = 0; i < bytes.length; i += size) scanner.write(bytes.subarray(i, i + size));
  scanner.end();
  return seen;
}

const bundle = {
  format: 'bifrost-config-bundle',
  version: 1,
  portable: true,
  configs: [
    { scope: 'global', key: 'a', type: 'string', value: 'brace } bracket ] quote " backslash \\ comma , colon :', description: null },
    { scope: { org: 'ünïcødé 日本' }, key: 'b', type: 'json', value: { nested: [1, [2, [3]], { x: '}' }], e: [], o: {} } },
    { scope: 'global', key: 'c', type: 'int', value: -12.5e3 },
    { scope: 'global', key: 'd', type: 'bool', value: false },
    { scope: 'global', key: 'e', type: 'json', value: null },
    { scope: 'global', key: 'emoji', type: 'string', value: '🔑\u0000\u001f\u2028' },
  ],
  trailing: { ignored: [1, 2, 3] },
};

describe('JsonStreamScanner', () => {
  it.each([1, 2, 3, 7, 64, 1 << 20])('hands over each row whole, parsed, with chunks of %i bytes (UTF-8 split anywhere)', (size) => {
    const seen = scan(JSON.stringify(bundle, null, size % 2 ? 2 : 0), size);
    const rows = seen.filter((s) => isRowPath(s.path));
    expect(rows.map((r) => r.path)).toEqual(bundle.configs.map((_, i) => ['configs', i]));
    expect(rows.map((r) => r.value)).toEqual(bundle.configs);
    const header = Object.fromEntries(seen.filter((s) => s.path.length === 1).map((s) => [s.path[0], s.value]));
    expect(header).toEqual({ format: 'bifrost-config-bundle', version: 1, portable: true, trailing: { ignored: [1, 2, 3] } });
  });

  it('streams into a wrapped bundle and skips what is not wanted without building it', () => {
    const text = JSON.stringify({ sourceSecretKey: 'k', bundle: { format: 'f', configs: [{ a: 1 }, [2], 'three'] } });
    const seen = scan(text, 5, { wants: (p) => !isRowPath(p) });
    expect(seen).toEqual([
      { path: ['sourceSecretKey'], value: 'k' },
      { path: ['bundle', 'format'], value: 'f' },
      { path: ['bundle', 'configs', 0], value: undefined },
      { path: ['bundle', 'configs', 1], value: undefined },
      { path: ['bundle', 'configs', 2], value: undefined },
    ]);
  });

  it('accepts a byte order mark, empty arrays and whitespace everywhere', () => {
    const text = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(' \n{ "configs" : [ ] ,\t"version"\r\n: 1 } \n')]);
    expect(scan(text, 1)).toEqual([{ path: ['version'], value: 1 }]);
  });

  it.each([
    ['', 'empty'],
    ['   ', 'empty'],
    ['{"configs": [', 'ends too early'],
    ['{"configs": [1,]}', 'trailing comma'],
    ['{"a": 1,}', 'trailing comma in object'],
    ['{"a" 1}', 'missing colon'],
    ['{"a": 1 "b": 2}', 'missing comma'],
    ['{"configs": [1 2]}', 'missing comma in array'],
    ['{"a": 1}}', 'content after'],
    ['{"a": 1} {}', 'two documents'],
    ['{"configs": [{"a": tru}]}', 'bad literal'],
    ['{"configs": [{"a": "x\ny"}]}', 'raw newline in a string'],
    ['{"configs": [}', 'mismatched bracket'],
    ['{a: 1}', 'unquoted key'],
    ['"just a string"', 'not an object'],
    ['{"a": 01}', 'leading zero'],
  ])('rejects %j (%s) with a JsonSyntaxError that quotes nothing', (text) => {
    let error: unknown;
    try {
      scan(text, 3);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(JsonSyntaxError);
    expect((error as Error).message).toMatch(/^Invalid JSON at byte \d+: /);
    if (text.length > 6) expect((error as Error).message).not.toContain(text.slice(0, 6));
  });

  it('bounds the size of each value taken whole', () => {
    const text = JSON.stringify({ configs: [{ v: 'x'.repeat(100) }, { v: 'y'.repeat(2000) }] });
    expect(() => scan(text, 16, { max: 1000 })).toThrow(JsonValueTooLargeError);
    try {
      scan(text, 16, { max: 1000 });
    } catch (err) {
      expect((err as JsonValueTooLargeError).path).toEqual(['configs', 1]);
    }
  });

  it('keeps memory to one row: a 50,000-row document is scanned without holding it', () => {
    let rows = 0;
    const scanner = new JsonStreamScanner({ descend: descendBundle, value: (path) => void (isRowPath(path) && rows++) });
    scanner.write(Buffer.from('{"configs":['));
    const row = Buffer.from(JSON.stringify({ scope: 'global', key: 'k', type: 'string', value: 'v'.repeat(100) }));
    for (let i = 0; i < 50_000; i++) {
      if (i > 0) scanner.write(Buffer.from(','));
      scanner.write(row);
    }
    scanner.write(Buffer.from(']}'));
    scanner.end();
    expect(rows).toBe(50_000);
  });
});

describe('JsonStreamScanner reads strictly, as every body is read', () => {
  const codeOf = (doc: string | Buffer, size = 7): string | undefined => {
    try {
      scan(doc, size);
      return undefined;
    } catch (err) {
      return (err as { code?: string }).code ?? (err as Error).name;
    }
  };
  const bytes = (before: string, b: number[], after: string) => Buffer.concat([Buffer.from(before), Buffer.from(b), Buffer.from(after)]);

  it('refuses invalid UTF-8 in a row, a header value or a member name, even cut across chunks', () => {
    expect(codeOf(bytes('{"configs":[{"key":"k","value":"pass', [0xff], 'word"}]}'))).toBe('INVALID_UTF8');
    expect(codeOf(bytes('{"format":"', [0xed, 0xa0, 0x80], '","configs":[]}'))).toBe('INVALID_UTF8');
    expect(codeOf(bytes('{"', [0xc0, 0xaf], '":1,"configs":[]}'))).toBe('INVALID_UTF8');
    // A valid multi-byte character split between two chunks is fine.
    for (let size = 1; size < 8; size++) expect(scan(Buffer.from('{"configs":[{"v":"€🚀"}]}'), size)).toEqual([{ path: ['configs', 0], value: { v: '€🚀' } }]);
  });

  it('refuses a member name twice, in a row and in a descended object, naming the row and never the name', () => {
    try {
      scan('{"configs":[{"k":1},{"type":"secret","MARK":1,"type":"string"}]}', 5);
      throw new Error('not refused');
    } catch (err) {
      expect(err).toMatchObject({ code: 'DUPLICATE_KEY', message: expect.stringContaining('row 1') });
      expect((err as Error).message).not.toMatch(/MARK|type/);
    }
    expect(codeOf('{"format":"a","configs":[],"format":"a"}')).toBe('DUPLICATE_KEY');
    expect(codeOf('{"bundle":{"configs":[],"configs":[]}}')).toBe('DUPLICATE_KEY');
    expect(codeOf('{"x":{"a":1,"a":2},"configs":[]}')).toBe('DUPLICATE_KEY');
  });

  it('refuses a number a double cannot hold, and a descended object of too many members', () => {
    expect(codeOf('{"configs":[{"value":12345678901234567890}]}')).toBe('NUMBER_NOT_EXACT');
    expect(scan('{"configs":[{"value":9007199254740992}]}', 3)).toEqual([{ path: ['configs', 0], value: { value: 9007199254740992 } }]);
    const members = Array.from({ length: MAX_DESCENDED_MEMBERS }, (_, i) => `"m${i}":0`).join(',');
    expect(codeOf(`{${members},"configs":[]}`, 4096)).toBe('TOO_MANY_VALUES');
    expect(codeOf(`{${members.slice(members.indexOf(',') + 1)},"configs":[]}`, 4096)).toBeUndefined();
  });
});
