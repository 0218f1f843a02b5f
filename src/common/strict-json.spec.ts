import fc from 'fast-check';
import { parseStrictJson, parseStrictJsonBytes, sameDecimal, StrictJsonError } from './strict-json';

const LIMITS = { maxDepth: 64, maxValues: 100_000 };

function codeOf(input: string | Buffer, limits = LIMITS): string | undefined {
  try {
    if (typeof input === 'string') parseStrictJson(input, limits);
    else parseStrictJsonBytes(input, limits);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(StrictJsonError);
    return (err as StrictJsonError).code;
  }
}

describe('parseStrictJson', () => {
  it('reads what JSON.parse reads, for any JSON value JSON.stringify writes', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const text = JSON.stringify(value);
        fc.pre(!text.includes('"__proto__"') && !text.includes('"constructor"'));
        expect(parseStrictJson(text, { maxDepth: 1000, maxValues: 1e9 })).toEqual(JSON.parse(text));
      }),
      { numRuns: 300 },
    );
    const text = ' {"a" : [1, -2.5e3, true, false, null, "x\\u00e9\\n\\"", {}, []], "b": {"c": ""}, "": 0} ';
    expect(parseStrictJson(text, LIMITS)).toEqual(JSON.parse(text));
  });

  it.each(['', '   ', '{', '[1,]', '{"a":1,}', '{"a" 1}', '01', '1.', '-', '.5', '1e', 'tru', 'nul', '"a', '"\\x"', '"\\u12"', '"a\u0001"', '{} {}', '[1] x', "{'a':1}", 'NaN', 'Infinity'])(
    'refuses %j as INVALID_JSON',
    (text) => expect(codeOf(text)).toBe('INVALID_JSON'),
  );

  it('refuses __proto__ and constructor.prototype members, as secure-json-parse did', () => {
    expect(codeOf('{"__proto__": {"x": 1}}')).toBe('INVALID_JSON');
    expect(codeOf('{"a": [{"\\u005f_proto__": 1}]}')).toBe('INVALID_JSON');
    expect(codeOf('{"constructor": {"prototype": {"x": 1}}}')).toBe('INVALID_JSON');
    expect(parseStrictJson('{"constructor": "x", "prototype": 1}', LIMITS)).toEqual({ constructor: 'x', prototype: 1 });
    expect(({} as Record<string, unknown>).x).toBeUndefined();
  });

  it('refuses a member name twice in any object, however it is spelled, and never quotes it', () => {
    const cases = [
      '{"type":"secret","value":"s3cret-MARK","type":"string"}',
      '{"a":{"isSecret":true,"isSecret":false}}',
      '[1,{"k":1,"x":2,"k":3}]',
      '{"k":1,"\\u006b":2}',
      '{"MARK":1,"MARK":1}',
    ];
    for (const text of cases) {
      expect(codeOf(text)).toBe('DUPLICATE_KEY');
      try {
        parseStrictJson(text, LIMITS);
      } catch (err) {
        expect((err as Error).message).not.toMatch(/MARK|isSecret|type|"k"/);
      }
    }
    // The same name in two different objects is fine.
    expect(parseStrictJson('{"a":{"k":1},"b":{"k":2}}', LIMITS)).toEqual({ a: { k: 1 }, b: { k: 2 } });
  });

  it('refuses bytes that are not UTF-8 instead of turning them into U+FFFD', () => {
    const bad = [
      Buffer.concat([Buffer.from('{"value":"pass'), Buffer.from([0xff]), Buffer.from('word"}')]),
      Buffer.concat([Buffer.from('{"v":"'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}')]), // overlong "/"
      Buffer.concat([Buffer.from('{"v":"'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}')]), // a surrogate
      Buffer.concat([Buffer.from('{"v":"'), Buffer.from([0xe2, 0x82]), Buffer.from('"}')]), // cut short
      Buffer.concat([Buffer.from('{"'), Buffer.from([0x80]), Buffer.from('":1}')]), // in a key
    ];
    for (const bytes of bad) expect(codeOf(bytes)).toBe('INVALID_UTF8');
    expect(parseStrictJsonBytes(Buffer.from('{"v":"pass€word 🚀 漢"}'), LIMITS)).toEqual({ v: 'pass€word 🚀 漢' });
    // A byte order mark before the document is allowed.
    expect(parseStrictJsonBytes(Buffer.from('\ufeff{"v":1}'), LIMITS)).toEqual({ v: 1 });
  });

  it('refuses a number that does not read back as the same decimal number', () => {
    for (const n of ['12345678901234567890', '9007199254740993', '-9007199254740993', '3.14159265358979323846', '0.1000000000000000055511151231257827', '1e-400', '123456789012345678e-5'])
      expect(codeOf(`{"value":${n}}`)).toBe('NUMBER_NOT_EXACT');
    // Beyond a double's range: INVALID_VALUE, as config values answered it before.
    for (const n of ['1e400', '-1e999']) expect(codeOf(`[${n}]`)).toBe('INVALID_VALUE');
    const ok = ['0', '-0', '1.0', '1e2', '1E+2', '0.1', '-2.5e-3', '9007199254740991', '9007199254740992', '123456789012345', '5e-324', '1.7976931348623157e308', '100000000000000000000'];
    for (const n of ok) expect(parseStrictJson(`[${n}]`, LIMITS)).toEqual([Number(n)]);
  });

  it('sameDecimal compares numbers, not spellings', () => {
    expect(sameDecimal('1.50', 1.5)).toBe(true);
    expect(sameDecimal('0.000', 0)).toBe(true);
    expect(sameDecimal('-0.0e5', -0)).toBe(true);
    expect(sameDecimal('2', 3)).toBe(false);
  });

  it('caps nesting and the number of values while it reads', () => {
    expect(codeOf('['.repeat(64) + ']'.repeat(64))).toBeUndefined();
    expect(codeOf('['.repeat(65) + ']'.repeat(65))).toBe('JSON_TOO_DEEP');
    // Deeper than any stack: refused at depth 65, without recursion.
    expect(codeOf('['.repeat(1_000_000))).toBe('JSON_TOO_DEEP');
    const members = (n: number) => '{' + Array.from({ length: n }, (_, i) => `"k${i}":${i}`).join(',') + '}';
    // The object itself is one value, each member another.
    expect(codeOf(members(99), { maxDepth: 64, maxValues: 100 })).toBeUndefined();
    expect(codeOf(members(100), { maxDepth: 64, maxValues: 100 })).toBe('TOO_MANY_VALUES');
    expect(codeOf('[' + '0,'.repeat(150) + '0]', { maxDepth: 64, maxValues: 100 })).toBe('TOO_MANY_VALUES');
  });

  it('gives an offset in its messages, never content', () => {
    try {
      parseStrictJson('{"a": MARK}', LIMITS);
      throw new Error('not refused');
    } catch (err) {
      expect((err as Error).message).toMatch(/at character 6/);
      expect((err as Error).message).not.toContain('MARK');
    }
  });
});
