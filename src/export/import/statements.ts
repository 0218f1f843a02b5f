/** Rows are checked and written this many at a time (exactly, but for the last batch): bounded memory, few statements. */
export const IMPORT_BATCH = 500;

/**
 * Row counts of the multi-row statements (upsert, audit insert): a batch is written as a few of
 * these, largest first, so only these shapes of SQL ever exist. better-sqlite3 prepares each
 * distinct SQL text and TypeORM keeps the last 100 prepared: with a statement per batch of varying
 * length that cache filled with large statements and native memory grew with the import.
 */
export const STATEMENT_ROWS = [100, 10, 1] as const;

/** IN-list lengths of the lookup of existing configs: a scope's keys are padded up to one of these. */
const IN_LIST_SIZES = [1, 4, 16, 64, 256, IMPORT_BATCH] as const;

/** Splits `items` into slices whose lengths are all in STATEMENT_ROWS. */
export function statementSlices<T>(items: T[]): T[][] {
  const out: T[][] = [];
  let i = 0;
  for (const size of STATEMENT_ROWS) {
    while (items.length - i >= size) {
      out.push(items.slice(i, i + size));
      i += size;
    }
  }
  return out;
}

/** `keys` padded (with its last key again) to one of a few lengths, so few distinct statements exist. */
export function paddedKeys(keys: string[]): string[] {
  const size = IN_LIST_SIZES.find((n) => n >= keys.length) ?? keys.length;
  while (keys.length < size) keys.push(keys[keys.length - 1]);
  return keys;
}
