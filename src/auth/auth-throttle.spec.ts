import { AuthThrottle } from './auth-throttle';

describe('AuthThrottle', () => {
  const T0 = 1_000_000;

  it('blocks an address after more than 10 failures in its window, and only that address', () => {
    const throttle = new AuthThrottle();
    for (let i = 0; i < 10; i++) throttle.recordFailure('203.0.113.5', T0 + i);
    expect(throttle.isBlocked('203.0.113.5', T0 + 10)).toBe(false);
    throttle.recordFailure('203.0.113.5', T0 + 11);
    expect(throttle.isBlocked('203.0.113.5', T0 + 12)).toBe(true);
    expect(throttle.isBlocked('203.0.113.6', T0 + 12)).toBe(false);
    expect(throttle.retryAfter('203.0.113.5', T0 + 12)).toBe(60);
    expect(throttle.isBlocked('203.0.113.5', T0 + 60_000)).toBe(false);
  });

  it('names one refusal per address and window for the audit log', () => {
    const throttle = new AuthThrottle();
    for (let i = 0; i < 11; i++) throttle.recordFailure('a', T0);
    for (let i = 0; i < 11; i++) throttle.recordFailure('b', T0);
    expect([throttle.firstRefusal('a', T0 + 1), throttle.firstRefusal('a', T0 + 2), throttle.firstRefusal('a', T0 + 59_999)]).toEqual([true, false, false]);
    expect([throttle.firstRefusal('b', T0 + 3), throttle.firstRefusal('b', T0 + 4)]).toEqual([true, false]);
    // The next window: blocked again, audited again, once.
    for (let i = 0; i < 11; i++) throttle.recordFailure('a', T0 + 60_000);
    expect(throttle.isBlocked('a', T0 + 60_001)).toBe(true);
    expect([throttle.firstRefusal('a', T0 + 60_001), throttle.firstRefusal('a', T0 + 60_002)]).toEqual([true, false]);
    expect(throttle.firstRefusal('unknown', T0)).toBe(false);
  });
});
