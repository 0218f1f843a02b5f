import type { ImportProblem } from './bundle';
import { MAX_LISTED_PROBLEMS, ProblemList } from './problem-list';

const p = (row: number | null, code = 'INVALID_VALUE', key?: string): ImportProblem => ({ row, code, message: 'm', ...(key ? { key } : {}) });

describe('ProblemList', () => {
  it('keeps every problem, sorted by row (bundle-wide first, ties in insertion order), when under the limit', () => {
    const list = new ProblemList(10);
    list.push(p(5, 'A'), p(2, 'B'), p(null, 'C'), p(2, 'D'), p(0, 'E'));
    expect(list.total).toBe(5);
    expect(list.listed().map((x) => [x.row, x.code])).toEqual([
      [null, 'C'],
      [0, 'E'],
      [2, 'B'],
      [2, 'D'],
      [5, 'A'],
    ]);
    expect(list.summary('The bundle has')).toBe('The bundle has 5 problems');
  });

  it('lists the first `limit` by row of 100,000 problems but counts them all, holding at most twice the limit', () => {
    const list = new ProblemList();
    // Rows in a scrambled order (duplicates come after the check pass, out of row order).
    const n = 100_000;
    let maxHeld = 0;
    for (let i = 0; i < n; i++) {
      list.push(p((i * 7919) % n, 'X'));
      maxHeld = Math.max(maxHeld, (list as unknown as { kept: unknown[] }).kept.length);
    }
    expect(list.total).toBe(n);
    const listed = list.listed();
    expect(listed).toHaveLength(MAX_LISTED_PROBLEMS);
    expect(listed.map((x) => x.row)).toEqual(Array.from({ length: MAX_LISTED_PROBLEMS }, (_, i) => i));
    expect(maxHeld).toBeLessThanOrEqual(2 * MAX_LISTED_PROBLEMS);
    expect(list.summary('The bundle has')).toBe(`The bundle has 100000 problems (the first ${MAX_LISTED_PROBLEMS} by row are listed)`);
  });

  it('keeps exactly what sorting all and cutting would keep, ties included', () => {
    const all: ImportProblem[] = [];
    const list = new ProblemList(7);
    for (let i = 0; i < 200; i++) {
      const q = p(i % 13 === 0 ? null : (i * 31) % 17, `C${i}`);
      all.push(q);
      list.push(q);
    }
    const expected = [...all].sort((a, b) => (a.row ?? -1) - (b.row ?? -1)).slice(0, 7);
    expect(list.listed()).toEqual(expected);
    expect(list.total).toBe(200);
  });

  it('remembers a forbidden scope even when that problem is not listed', () => {
    const list = new ProblemList(2);
    list.push(p(0), p(1), p(2), p(3), p(99, 'SCOPE_FORBIDDEN'));
    expect(list.listed().some((x) => x.code === 'SCOPE_FORBIDDEN')).toBe(false);
    expect(list.scopeForbidden).toBe(true);
  });

  it('says "1 problem" in the singular', () => {
    const list = new ProblemList();
    list.push(p(3));
    expect(list.summary('The bundle has')).toBe('The bundle has 1 problem');
  });
});
