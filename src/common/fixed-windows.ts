/**
 * Counts per key in fixed windows of `windowMs` (a window opens with the key's first count), kept
 * in memory per instance: a brake (authentication failures, verify attempts), not shared state.
 * Each window also remembers whether its first refusal was audited, so a throttled key gets one
 * audit entry per window. Past `maxKeys`, ended windows are dropped.
 */
export class FixedWindows {
  private readonly windows = new Map<string, { start: number; count: number; refusalAudited: boolean }>();

  constructor(
    private readonly windowMs: number,
    private readonly maxKeys = 100_000,
  ) {}

  /** The key's count in its running window (0 when none runs). */
  count(key: string, now = Date.now()): number {
    return this.running(key, now)?.count ?? 0;
  }

  /** Counts one for the key (opening a window when none runs); its count in that window. */
  add(key: string, now = Date.now()): number {
    const w = this.running(key, now);
    if (w) return ++w.count;
    this.windows.set(key, { start: now, count: 1, refusalAudited: false });
    if (this.windows.size > this.maxKeys) this.prune(now);
    return 1;
  }

  /** True the first time it is asked in the key's running window, false afterwards (and with no window). */
  firstRefusal(key: string, now = Date.now()): boolean {
    const w = this.running(key, now);
    if (!w || w.refusalAudited) return false;
    w.refusalAudited = true;
    return true;
  }

  /** Seconds until the key's window ends (at least 1), or 0 with no window. */
  retryAfter(key: string, now = Date.now()): number {
    const w = this.running(key, now);
    return w ? Math.max(1, Math.ceil((w.start + this.windowMs - now) / 1000)) : 0;
  }

  private running(key: string, now: number) {
    const w = this.windows.get(key);
    if (w && now - w.start >= this.windowMs) {
      this.windows.delete(key);
      return undefined;
    }
    return w;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= this.windowMs) this.windows.delete(k);
  }
}
