import { cleanUserAgent, USER_AGENT_MAX } from './audit.service';

describe('cleanUserAgent: what an entry keeps of a caller-chosen User-Agent', () => {
  it('keeps an ordinary browser or client agent as it is', () => {
    const chrome = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';
    expect(cleanUserAgent(chrome)).toBe(chrome);
    expect(cleanUserAgent('bifrost-client/1.2 node/22')).toBe('bifrost-client/1.2 node/22');
  });

  it('caps the length and keeps printable ASCII only', () => {
    expect(cleanUserAgent('a '.repeat(5000))!.length).toBe(USER_AGENT_MAX);
    expect(cleanUserAgent('x\u00e9\ty\u202e\u0007z')).toBe('x??y??z');
  });

  it('replaces what could be a credential', () => {
    const token = 'bft_' + 'Ab1-_'.repeat(9);
    expect(cleanUserAgent(`curl/8 ${token} end`)).toBe('curl/8 [REDACTED] end');
    expect(cleanUserAgent(`curl/8 ${'k'.repeat(40)}`)).toBe('curl/8 [REDACTED]');
    expect(cleanUserAgent('curl/8 bft_')).toBe('curl/8 [REDACTED]');
  });

  it('stores nothing for an absent or empty agent', () => {
    expect([cleanUserAgent(undefined), cleanUserAgent(null), cleanUserAgent('')]).toEqual([null, null, null]);
  });
});
