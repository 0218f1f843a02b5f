import { AppError } from './errors';
import { decodeCursor, DEFAULT_LIMIT, encodeCursor, MAX_LIMIT, parseLimit } from './paging';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? err.code : String(err);
  }
};

describe('paging', () => {
  it('reads limit as every list does: digits from 1 to 500, default 100', () => {
    expect(parseLimit(undefined)).toBe(DEFAULT_LIMIT);
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit(String(MAX_LIMIT))).toBe(MAX_LIMIT);
    for (const bad of ['0', '501', '-1', '1.5', '1e2', ' 5', '', 'ten', '99999']) expect({ bad, code: codeOf(() => parseLimit(bad)) }).toEqual({ bad, code: 'INVALID_LIMIT' });
  });

  it('gives back the position of a cursor it made, and refuses any other', () => {
    const cursor = encodeCursor('n', 'Émile & co');
    expect(decodeCursor(cursor, 'n', () => true)).toBe('Émile & co');
    expect(decodeCursor(undefined, 'n', () => true)).toBeUndefined();
    for (const bad of [encodeCursor('t', 'x'), encodeCursor('n', ''), 'n:plain', '***', 'x'.repeat(2000)]) {
      expect({ bad: bad.slice(0, 20), code: codeOf(() => decodeCursor(bad, 'n', (p) => p.length > 0)) }).toEqual({ bad: bad.slice(0, 20), code: 'INVALID_CURSOR' });
    }
  });
});
