import { VERIFY_LIMIT, VERIFY_WINDOW_MS, VerifyThrottle } from './secret-checks.service';

describe('VerifyThrottle', () => {
  it(`allows ${VERIFY_LIMIT} attempts a window per principal, then refuses until the window ends`, () => {
    const th = new VerifyThrottle();
    const t0 = 1_000_000;
    for (let i = 0; i < VERIFY_LIMIT; i++) expect(th.take('a', t0 + i).retryAfter).toBe(0);
    const refused = th.take('a', t0 + 30_000);
    expect(refused).toEqual({ retryAfter: 30, firstRefusal: true });
    expect(th.take('a', t0 + 30_001).firstRefusal).toBe(false);
    // Another principal is not affected.
    expect(th.take('b', t0 + 30_002).retryAfter).toBe(0);
    // A new window starts afresh.
    expect(th.take('a', t0 + VERIFY_WINDOW_MS).retryAfter).toBe(0);
  });
});
