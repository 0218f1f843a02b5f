import type { ImportProblem } from './bundle';

/** At most this many problems are listed in a refusal; the message always gives the true total. */
export const MAX_LISTED_PROBLEMS = 1000;

const rowOf = (p: ImportProblem) => p.row ?? -1;

/**
 * The problems of an import, in bounded memory: it counts every problem but keeps only the first
 * `limit` by row (the whole bundle's problems, row null, first; ties in the order they were added),
 * exactly those that sorting every problem by row and cutting after `limit` would keep. Kept
 * problems are compacted whenever twice the limit have piled up, so at most 2 x limit are held.
 */
export class ProblemList {
  private kept: ImportProblem[] = [];
  private count = 0;
  private forbidden = false;

  constructor(readonly limit = MAX_LISTED_PROBLEMS) {}

  push(...problems: ImportProblem[]): void {
    for (const p of problems) {
      this.count++;
      if (p.code === 'SCOPE_FORBIDDEN') this.forbidden = true;
      this.kept.push(p);
      if (this.kept.length >= 2 * this.limit) this.compact();
    }
  }

  /** How many problems were found (listed or not). */
  get total(): number {
    return this.count;
  }

  /** True when some row lies outside the importer's org (answered 403 rather than 400). */
  get scopeForbidden(): boolean {
    return this.forbidden;
  }

  /** The first `limit` problems by row. */
  listed(): ImportProblem[] {
    this.compact();
    return this.kept;
  }

  /** The refusal's message: the true total, and how many are listed when not all are. */
  summary(what: string): string {
    const n = this.count;
    const cut = n > this.limit ? ` (the first ${this.limit} by row are listed)` : '';
    return `${what} ${n} problem${n === 1 ? '' : 's'}${cut}`;
  }

  private compact(): void {
    // Array.prototype.sort is stable: equal rows keep the order in which they were added.
    this.kept.sort((a, b) => rowOf(a) - rowOf(b));
    if (this.kept.length > this.limit) this.kept.length = this.limit;
  }
}
