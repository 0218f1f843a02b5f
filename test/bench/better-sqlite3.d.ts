/** The part of better-sqlite3 the adapter benchmarks use (the package ships no types). */
declare module 'better-sqlite3' {
  interface Statement {
    run(...params: unknown[]): unknown;
    get(...params: unknown[]): unknown;
    all(...params: unknown[]): unknown[];
  }
  class Database {
    constructor(filename: string, options?: Record<string, unknown>);
    prepare(source: string): Statement;
    exec(source: string): this;
    pragma(source: string): unknown;
    close(): void;
  }
  export default Database;
}
