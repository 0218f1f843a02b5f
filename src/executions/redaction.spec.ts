import { Scrubber } from '../scrubber/scrubber';
import { attributeRedactions, ConfigSecret, RecordingScrubber } from './redaction';

const config = (scope: string, key: string, plain: string): ConfigSecret => ({ scope, key, ciphertext: `ct-${key}`, plain });
const STRIPE = config('org-1', 'stripe_key', 'sk_live_Abc123+/=xyz');
const GITHUB = config('global', 'gh_token', 'ghp_0123456789abcdefABCDEF');
const UNUSED = config('org-1', 'unused', 'never-logged-value-42');

/** A naive reference: occurrences of the raw value and of its base64 and URL forms. */
const naiveCount = (texts: string[], secret: string) =>
  texts.reduce((n, t) => n + [secret, Buffer.from(secret).toString('base64'), encodeURIComponent(secret)].reduce((m, f) => m + t.split(f).length - 1, 0), 0);

describe('RecordingScrubber', () => {
  const inner = Scrubber.of([STRIPE.plain, GITHUB.plain]);

  it('scrubs exactly as its scrubber does, and keeps only the texts it changed', () => {
    const rec = new RecordingScrubber(inner);
    const texts = ['nothing here', `key ${STRIPE.plain} used`, 'still nothing'];
    expect(texts.map((t) => rec.scrub(t))).toEqual(texts.map((t) => inner.scrub(t)));
    expect(rec.changed).toEqual([texts[1]]);
  });

  it('scrubs JSON values as scrubDeep does, numbers and keys included', () => {
    const rec = new RecordingScrubber(Scrubber.of(['12345678', STRIPE.plain]));
    const value = { a: [1, 'plain', `x${STRIPE.plain}`], [STRIPE.plain]: 12345678, n: 5 };
    expect(rec.scrubDeep(value)).toEqual(Scrubber.of(['12345678', STRIPE.plain]).scrubDeep(value));
    expect(rec.changed).toEqual(expect.arrayContaining([`x${STRIPE.plain}`, STRIPE.plain, '12345678']));
  });

  it('records nothing where nothing is redacted (and an empty scrubber passes values through)', () => {
    const rec = new RecordingScrubber(inner);
    rec.scrub('a log line');
    rec.scrubDeep({ ok: true, text: 'fine', n: 3 });
    expect(rec.changed).toEqual([]);
    const empty = new RecordingScrubber(Scrubber.EMPTY);
    const v = { a: 1 };
    expect(empty.scrubDeep(v)).toBe(v);
  });
});

describe('attributeRedactions', () => {
  it('finds each secret alone, counting its redactions like a naive reference', async () => {
    const texts = [`charge with ${STRIPE.plain} and ${STRIPE.plain}`, `b64 ${Buffer.from(STRIPE.plain).toString('base64')}`, `url ?k=${encodeURIComponent(GITHUB.plain)}`];
    const found = await attributeRedactions(texts, [STRIPE, GITHUB, UNUSED], []);
    expect(found).toEqual([
      { scope: 'org-1', key: 'stripe_key', ciphertext: 'ct-stripe_key', count: naiveCount(texts, STRIPE.plain) },
      { scope: 'global', key: 'gh_token', ciphertext: 'ct-gh_token', count: 1 },
    ]);
    expect(found[0].count).toBe(3);
  });

  it('counts dynamic secrets together, and a dynamic secret equal to a config value as the config', async () => {
    const dynamic = 'ya29.dynamic-oauth-token';
    const texts = [`token ${dynamic}`, `read ${STRIPE.plain}`];
    expect(await attributeRedactions(texts, [STRIPE], [dynamic, STRIPE.plain])).toEqual([
      { scope: 'org-1', key: 'stripe_key', ciphertext: 'ct-stripe_key', count: 1 },
      { scope: '', key: '', ciphertext: null, count: 1 },
    ]);
  });

  it('finds nothing in texts that hold none of the secrets, and nothing in no texts', async () => {
    expect(await attributeRedactions(['a [REDACTED] line'], [STRIPE, UNUSED], ['dyn-secret-1'])).toEqual([]);
    expect(await attributeRedactions([], [STRIPE], [])).toEqual([]);
  });

  it('tells apart two secrets where one contains the other', async () => {
    const short = config('org-1', 'short', 'abcdef12');
    const long = config('org-1', 'long', 'xx-abcdef12-yy');
    expect(await attributeRedactions(['only abcdef12 here'], [short, long], [])).toEqual([{ scope: 'org-1', key: 'short', ciphertext: 'ct-short', count: 1 }]);
    const both = await attributeRedactions(['then xx-abcdef12-yy'], [short, long], []);
    expect(both.map((f) => f.key).sort()).toEqual(['long', 'short']);
  });
});
