import { Injectable } from '@nestjs/common';
import { FixedWindows } from '../common/fixed-windows';

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
  private readonly failures = new FixedWindows(WINDOW_MS);

  isBlocked(client: string, now = Date.now()): boolean {
    return this.failures.count(client, now) > MAX_FAILURES;
  }

  recordFailure(client: string, now = Date.now()): void {
    this.failures.add(client, now);
  }

  /**
   * True for the first 429 of a blocked client's window, false for every later one: the audit log
   * gets one entry per address and window, not one per refused request.
   */
  firstRefusal(client: string, now = Date.now()): boolean {
    return this.failures.firstRefusal(client, now);
  }

  /** Seconds until the client's window ends. */
  retryAfter(client: string, now = Date.now()): number {
    return this.failures.retryAfter(client, now);
  }
}
