/**
 * Polls `probe` (sync or async) until it gives something truthy, and returns that; throws after
 * `ms` naming `what`. The one way tests wait for an outside effect (a process's output, a file, a
 * background write): a deadline, never a fixed number of tries, so a loaded machine is only slower.
 */
export async function waitFor<T>(probe: () => T | Promise<T>, what: string, ms = 60_000, everyMs = 25): Promise<NonNullable<Exclude<T, false | 0 | ''>>> {
  const deadline = Date.now() + ms;
  for (;;) {
    const got = await probe();
    if (got) return got as NonNullable<Exclude<T, false | 0 | ''>>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
