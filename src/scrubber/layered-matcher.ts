import { Scrubber } from './scrubber';

/** Added secrets kept in the small layer before the base is rebuilt with them: 256, or a quarter of the base. */
const deltaLimit = (base: number) => Math.max(256, base >> 2);
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
  private delta = Scrubber.EMPTY;
  private current: readonly string[] = [];
  private combined = Scrubber.EMPTY;
  /** Serialises updates and base swaps. */
  private queue: Promise<void> = Promise.resolve();
  private rebuilding = false;
  private rebuildAgain = false;
  private timer: NodeJS.Timeout | null = null;
  /** Moves with every change of `scrubber` (combined scrubbers are cached by it). */
  generation = 0;

  constructor(private readonly onChange: () => void = () => undefined) {}

  /** Base and delta as one. */
  get scrubber(): Scrubber {
    return this.combined;
  }

  /** Makes the matcher cover exactly `secrets` (plus, for a while, removed ones). */
  update(secrets: readonly string[]): Promise<void> {
    const run = this.queue.then(() => this.apply(secrets));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async apply(secrets: readonly string[]): Promise<void> {
    this.current = secrets;
    const currentSet = new Set(secrets);
    const added: string[] = [];
    for (const s of currentSet) if (!this.baseSet.has(s)) added.push(s);
    let kept = 0;
    for (const s of this.baseSet) if (currentSet.has(s)) kept++;
    const removed = kept < this.baseSet.size;
    if (this.baseSet.size === 0 && this.base.isEmpty) {
      // The first build (or a set that was empty): the whole set is the base.
      this.base = await Scrubber.build(currentSet);
      this.baseSet = currentSet;
      this.delta = Scrubber.EMPTY;
    } else {
      this.delta = await Scrubber.build(added);
      if (added.length > deltaLimit(this.baseSet.size)) this.rebuildSoon(0);
      else if (removed) this.rebuildSoon(REBUILD_DELAY_MS);
    }
    this.publish();
  }

  private publish(): void {
    this.combined = Scrubber.combine([this.base, this.delta]);
    this.generation++;
    this.onChange();
  }

  private rebuildSoon(delay: number): void {
    if (this.rebuilding) {
      this.rebuildAgain = true;
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
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      await this.rebuild();
    }
    while (this.rebuilding) await new Promise<void>((resolve) => setTimeout(resolve, 5));
    await this.queue;
  }

  /** Rebuilds the base from the set as it is now, then swaps it in (with a delta of what came meanwhile). */
  private async rebuild(): Promise<void> {
    this.rebuilding = true;
    try {
      do {
        this.rebuildAgain = false;
        const snapshot = new Set(this.current);
        const base = await Scrubber.build(snapshot);
        const swap = this.queue.then(async () => {
          const added: string[] = [];
          for (const s of new Set(this.current)) if (!snapshot.has(s)) added.push(s);
          this.delta = await Scrubber.build(added);
          this.base = base;
          this.baseSet = snapshot;
          this.publish();
        });
        this.queue = swap.catch(() => undefined);
        await swap;
      } while (this.rebuildAgain);
    } catch {
      // The current layers stay in use (they cover every current secret); the next change retries.
    } finally {
      this.rebuilding = false;
    }
  }
}
