import { Scrubber } from './scrubber';

/**
 * Added secrets kept in the small layer before the base is rebuilt with them: 256 of them or a
 * quarter of the base's count, and 16 Ki code units or a quarter of the base's length (the small
 * layer is rebuilt on every change, so it must stay small in both).
 */
function deltaTooLarge(added: Set<string>, baseSet: Set<string>, baseChars: number): boolean {
  if (added.size > Math.max(256, baseSet.size >> 2)) return true;
  let chars = 0;
  for (const s of added) chars += s.length;
  return chars > Math.max(16 * 1024, baseChars >> 2);
}
const charsOf = (set: Set<string>) => {
  let n = 0;
  for (const s of set) n += s.length;
  return n;
};
/** A removed secret may stay redacted (never the reverse) until the base is rebuilt, at most this long after. */
export const REBUILD_DELAY_MS = 2000;

/**
 * The matcher of one set of secrets that changes a little at a time (a scope's secrets, an
 * execution's): a base matcher, rebuilt in the background, and a small matcher of the secrets added
 * since, rebuilt on each change. A change costs the size of the change, not of the set, so secret
 * writes stay fast in an org with 10,000 secrets.
 *
 * - Every current secret is covered by the time `update` resolves (base or delta).
 * - A secret that was removed (deleted, replaced) may still be redacted until the next base rebuild,
 *   at most REBUILD_DELAY_MS plus a build later: it errs towards redacting, never the other way.
 * - Builds are sliced (SecretMatcher.build): the event loop is handed back every few milliseconds.
 */
export class LayeredMatcher {
  private base = Scrubber.EMPTY;
  private baseSet = new Set<string>();
  private baseChars = 0;
  private delta = Scrubber.EMPTY;
  /** The current secrets, each with the number of entries (keys) that hold it. */
  private counts = new Map<string, number>();
  /** Current secrets the base does not hold: the delta layer's. */
  private added = new Set<string>();
  /** Some secret of the base is no longer current. */
  private stale = false;
  /** How long the last base build took (ms): removals wait a multiple of it, so rebuilds stay a small share of the CPU. */
  private lastBuildMs = 0;
  private combined = Scrubber.EMPTY;
  /** Serialises updates and base swaps. */
  private queue: Promise<void> = Promise.resolve();
  private rebuilding = false;
  /** A rebuild asked for while one ran: its delay, counted from that one's end. */
  private rebuildAfter: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Moves with every change of `scrubber` (combined scrubbers are cached by it). */
  generation = 0;

  constructor(private readonly onChange: () => void = () => undefined) {}

  /** Base and delta as one. */
  get scrubber(): Scrubber {
    return this.combined;
  }

  /** Makes the matcher cover exactly `secrets` (plus, for a while, removed ones): the whole set, as a load reads it. */
  update(secrets: readonly string[]): Promise<void> {
    return this.enqueue(() => {
      const counts = new Map<string, number>();
      for (const s of secrets) counts.set(s, (counts.get(s) ?? 0) + 1);
      this.counts = counts;
      this.added = new Set();
      for (const s of counts.keys()) if (!this.baseSet.has(s)) this.added.add(s);
      for (const s of this.baseSet) if (!counts.has(s)) this.stale = true;
    });
  }

  /** The same for a change: entries that now hold `added`, entries that held `removed` (one per entry). */
  change(added: readonly string[], removed: readonly string[]): Promise<void> {
    return this.enqueue(() => {
      for (const s of removed) {
        const n = (this.counts.get(s) ?? 0) - 1;
        if (n > 0) {
          this.counts.set(s, n);
          continue;
        }
        this.counts.delete(s);
        this.added.delete(s);
        if (this.baseSet.has(s)) this.stale = true;
      }
      for (const s of added) {
        this.counts.set(s, (this.counts.get(s) ?? 0) + 1);
        if (!this.baseSet.has(s)) this.added.add(s);
      }
    });
  }

  private enqueue(mutate: () => void): Promise<void> {
    const run = this.queue.then(async () => {
      mutate();
      await this.refresh();
    });
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Rebuilds the small layer (or, the first time, the base) after a change of the set. */
  private async refresh(): Promise<void> {
    if (this.baseSet.size === 0 && this.base.isEmpty) {
      // The first build (or a set that was empty): the whole set is the base.
      const all = new Set(this.counts.keys());
      this.base = await this.timedBuild(all);
      this.baseSet = all;
      this.baseChars = charsOf(all);
      this.added = new Set();
      this.delta = Scrubber.EMPTY;
      this.stale = false;
    } else {
      this.delta = await Scrubber.build(this.added);
      if (deltaTooLarge(this.added, this.baseSet, this.baseChars)) this.rebuildSoon(0);
      else if (this.stale) this.rebuildSoon(Math.max(REBUILD_DELAY_MS, 5 * this.lastBuildMs));
    }
    this.publish();
  }

  private async timedBuild(secrets: Set<string>): Promise<Scrubber> {
    const t0 = performance.now();
    const built = await Scrubber.build(secrets);
    this.lastBuildMs = performance.now() - t0;
    return built;
  }

  private publish(): void {
    this.combined = Scrubber.combine([this.base, this.delta]);
    this.generation++;
    this.onChange();
  }

  private rebuildSoon(delay: number): void {
    if (this.rebuilding) {
      // After the running rebuild, from its end.
      this.rebuildAfter = this.rebuildAfter === null ? delay : Math.min(this.rebuildAfter, delay);
      return;
    }
    if (this.timer) {
      if (delay > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.rebuild();
    }, delay);
    this.timer.unref?.();
  }

  /** Runs a pending base rebuild now and waits for it (tests, shutdown): then no removed secret is matched. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.timer) {
        clearTimeout(this.timer);
        this.timer = null;
        await this.rebuild();
      } else if (this.rebuilding) {
        await new Promise<void>((resolve) => setTimeout(resolve, 5));
      } else {
        await this.queue;
        if (!this.timer && !this.rebuilding) return;
      }
    }
  }

  /** Rebuilds the base from the set as it is now, then swaps it in (with a delta of what came meanwhile). */
  private async rebuild(): Promise<void> {
    this.rebuilding = true;
    this.rebuildAfter = null;
    try {
      const snapshot = new Set(this.counts.keys());
      const base = await this.timedBuild(snapshot);
      const swap = this.queue.then(async () => {
        const added = new Set<string>();
        let stale = false;
        for (const s of this.counts.keys()) if (!snapshot.has(s)) added.add(s);
        for (const s of snapshot) if (!this.counts.has(s)) stale = true;
        this.delta = await Scrubber.build(added);
        this.base = base;
        this.baseSet = snapshot;
        this.baseChars = charsOf(snapshot);
        this.added = added;
        this.stale = stale;
        this.publish();
        if (deltaTooLarge(added, snapshot, this.baseChars)) this.rebuildSoon(0);
        else if (stale) this.rebuildSoon(Math.max(REBUILD_DELAY_MS, 5 * this.lastBuildMs));
      });
      this.queue = swap.catch(() => undefined);
      await swap;
    } catch {
      // The current layers stay in use (they cover every current secret); the next change retries.
    } finally {
      this.rebuilding = false;
      const after = this.rebuildAfter;
      this.rebuildAfter = null;
      if (after !== null) this.rebuildSoon(after);
    }
  }
}
