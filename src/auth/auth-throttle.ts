import { Injectable } from '@nestjs/common';

const WINDOW_MS = 60_000;
const MAX_FAILURES = 10;

/**
 * Failed authentications per client address in a fixed one-minute window. Past 10, every request
 * from that address is refused with 429 until the window ends, valid token or not (otherwise the
 * difference would tell a guesser which token was right). Kept per instance: a best-effort brake
 * on guessing, not state that must agree across instances.
 */
@Injectable()
export class AuthThrottle {
  private readonly windows = new Map<string, { start: number; failures: number }>();

  isBlocked(client: string, now = Date.now()): boolean {
    const w = this.windows.get(client);
    if (!w) return false;
    if (now - w.start >= WINDOW_MS) {
      this.windows.delete(client);
      return false;
    }
    return w.failures > MAX_FAILURES;
  }

  recordFailure(client: string, now = Date.now()): void {
    const w = this.windows.get(client);
    if (!w || now - w.start >= WINDOW_MS) {
      this.windows.set(client, { start: now, failures: 1 });
      if (this.windows.size > 100_000) this.prune(now);
    } else {
      w.failures++;
    }
  }

  /** Seconds until the client's window ends. */
  retryAfter(client: string, now = Date.now()): number {
    const w = this.windows.get(client);
    return w ? Math.max(1, Math.ceil((w.start + WINDOW_MS - now) / 1000)) : 0;
  }

  private prune(now: number): void {
    for (const [k, w] of this.windows) if (now - w.start >= WINDOW_MS) this.windows.delete(k);
  }
}
