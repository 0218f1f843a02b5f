import { Injectable } from '@nestjs/common';

const WINDOW_MS = 60_000;
const MAX_FAILURES = 10;

/**
 * Failed authentications per client address (request.ip: the socket's, or the one the TRUST_PROXY
 * proxies report) in a fixed one-minute window. Past 10, a request from that address that does not
 * bring a valid token is refused with 429 until the window ends. A valid token is never refused:
 * tokens carry 256 random bits, so telling a guesser that a token is right gives nothing away, and
 * refusing it let one client behind a shared address (a proxy, a NAT) lock every other client out.
 * Kept per instance: a best-effort brake on guessing, not state that must agree across instances.
 */
@Injectable()
export class AuthThrottle {
  private readonly windows = new Map<string, { start: number; failures: number; refusalAudited: boolean }>();

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
      this.windows.set(client, { start: now, failures: 1, refusalAudited: false });
      if (this.windows.size > 100_000) this.prune(now);
    } else {
      w.failures++;
    }
  }

  /**
   * True for the first 429 of a blocked client's window, false for every later one: the audit log
   * gets one entry per address and window, not one per refused request.
   */
  firstRefusal(client: string, now = Date.now()): boolean {
    const w = this.windows.get(client);
    if (!w || now - w.start >= WINDOW_MS || w.refusalAudited) return false;
    w.refusalAudited = true;
    return true;
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
