import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUCKET_ENTRIES, DuplicateCheck } from './duplicate-check';
import { statementSlices, STATEMENT_ROWS } from './import.service';

async function all(check: DuplicateCheck) {
  const out = [];
  for await (const d of check.duplicates()) out.push(d);
  return out.sort((a, b) => a.row - b.row);
}

describe('DuplicateCheck', () => {
  it('finds repeats in memory for a small bundle, naming the first occurrence, and makes no files', async () => {
    const check = new DuplicateCheck(5);
    check.add('', 'a', 0);
    check.add('acme', 'a', 1); // another scope: not a repeat
    check.add('', 'A', 2); // keys are case-sensitive
    check.add('', 'a', 3);
    check.add('', 'a', 4);
    await check.flush();
    expect(check.spillDir).toBeNull();
    expect(await all(check)).toEqual([
      { row: 3, key: 'a', first: 0 },
      { row: 4, key: 'a', first: 0 },
    ]);
    await check.dispose();
  });

  it('spills 100,000 pairs to hash-partitioned temp files, finds exactly the planted repeats, and removes the files', async () => {
    const n = 100_000;
    const check = new DuplicateCheck(n);
    const planted = new Map<number, number>(); // row -> first row
    let dir: string | null = null;
    let maxBucketLines = 0;
    for (let row = 0; row < n; row++) {
      // Every 997th row repeats the pair of the row 5,000 before it (same scope, same key).
      const src = row % 997 === 0 && row >= 5000 ? row - 5000 : row;
      if (src !== row) planted.set(row, src);
      check.add(src % 2 === 0 ? '' : `org-${src % 20}`, `config_${src}`, row);
      if (row % 500 === 499) await check.flush();
    }
    await check.flush(true);
    dir = check.spillDir;
    expect(dir).not.toBeNull();
    const files = readdirSync(dir!);
    expect(files.length).toBe(Math.ceil(n / BUCKET_ENTRIES));
    for (const lines of check.spilledLines) maxBucketLines = Math.max(maxBucketLines, lines);
    expect(check.spilledLines.reduce((a, b) => a + b, 0)).toBe(n);
    // Nothing of a pair is readable in the files (a process killed before dispose() leaves them).
    for (const f of files) {
      const bytes = readFileSync(join(dir!, f));
      expect(bytes.includes('config_')).toBe(false);
      expect(bytes.includes('org-')).toBe(false);
    }
    // A bucket holds about BUCKET_ENTRIES pairs: the most a Map holds while checking.
    expect(maxBucketLines).toBeLessThan(BUCKET_ENTRIES * 1.5);
    const found = await all(check);
    expect(found.map((d) => [d.row, d.first])).toEqual([...planted].sort((a, b) => a[0] - b[0]));
    expect(found.every((d) => d.key === `config_${planted.get(d.row)}`)).toBe(true);
    await check.dispose();
    expect(existsSync(dir!)).toBe(false);
  });

  it('removes its files when disposed before the check (an error in between)', async () => {
    const check = new DuplicateCheck(50_000);
    for (let row = 0; row < 10_000; row++) check.add('', `k${row}`, row);
    await check.flush();
    const dir = check.spillDir!;
    expect(existsSync(dir)).toBe(true);
    await check.dispose();
    await check.dispose();
    expect(existsSync(dir)).toBe(false);
  });
});

describe('statementSlices', () => {
  it('cuts any count into slices of the few fixed sizes, in order, losing nothing', () => {
    for (const n of [0, 1, 9, 10, 99, 100, 137, 500, 999]) {
      const items = Array.from({ length: n }, (_, i) => i);
      const slices = statementSlices(items);
      expect(slices.flat()).toEqual(items);
      expect(slices.every((s) => (STATEMENT_ROWS as readonly number[]).includes(s.length))).toBe(true);
    }
    expect(statementSlices(Array.from({ length: 500 }, (_, i) => i)).map((s) => s.length)).toEqual([100, 100, 100, 100, 100]);
  });
});
