import fc from 'fast-check';
import { LayeredMatcher } from './layered-matcher';
import { mergeRegions, Scrubber } from './scrubber';
import { SecretMatcher } from './secret-matcher';

describe('Scrubber over several matchers (issue 12, item 5)', () => {
  it('scrubs exactly as one matcher of all their secrets, overlapping and adjacent secrets included', () => {
    const secret = fc.string({ unit: fc.constantFrom('a', 'b', 'c', '/', '%', 'é', ' '), minLength: 4, maxLength: 10 });
    fc.assert(
      fc.property(fc.array(secret, { maxLength: 6 }), fc.array(secret, { maxLength: 6 }), fc.array(fc.oneof(secret, fc.string({ maxLength: 6 })), { maxLength: 12 }), (left, right, pieces) => {
        const text = pieces.join('');
        const one = Scrubber.of([...left, ...right]);
        const two = Scrubber.combine([Scrubber.of(left), Scrubber.of(right)]);
        expect(two.scrub(text)).toBe(one.scrub(text));
        expect(two.scrubDeep({ [text]: [text, 42] })).toEqual(one.scrubDeep({ [text]: [text, 42] }));
        expect(two.containsSecret(text)).toBe(one.containsSecret(text));
      }),
      { numRuns: 300 },
    );
  });

  it('merges overlapping and touching regions from different lists', () => {
    expect(mergeRegions([[0, 3, 10, 12], [2, 5, 12, 14], [20, 21]])).toEqual([0, 5, 10, 14, 20, 21]);
    // abcdef (left) and defghi (right) overlap: one redaction, no tail of either left over.
    const two = Scrubber.combine([Scrubber.of(['abcdef']), Scrubber.of(['defghi'])]);
    expect(two.scrub('xx abcdefghi yy')).toBe('xx [REDACTED] yy');
  });
});

describe('SecretMatcher.build: the same matcher, in slices', () => {
  it('matches what the synchronous build matches and hands the event loop back meanwhile', async () => {
    const secrets = Array.from({ length: 3000 }, (_, i) => `secret-${i}-${'x'.repeat(i % 50)}-${i * 7919}`);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    try {
      const built = await SecretMatcher.build(secrets);
      const sync = new SecretMatcher(secrets);
      const text = secrets.filter((_, i) => i % 97 === 0).join(' | ') + ' nothing else';
      expect(built.scrub(text)).toBe(sync.scrub(text));
      expect(built.stateCount).toBe(sync.stateCount);
      expect(built.longest).toBe(sync.longest);
    } finally {
      clearInterval(timer);
    }
    // The timer ran while the build was in progress: it gave the event loop back.
    expect(ticks).toBeGreaterThan(0);
  });
});

describe('LayeredMatcher', () => {
  it('covers every current secret as soon as update resolves, and drops removed ones at the next rebuild', async () => {
    let changes = 0;
    const layers = new LayeredMatcher(() => changes++);
    const base = Array.from({ length: 50 }, (_, i) => `base-secret-${i}`);
    await layers.update(base);
    expect(layers.scrubber.scrub('base-secret-7')).toBe('[REDACTED]');
    const gen = layers.generation;
    await layers.update([...base, 'added-secret-1']);
    expect(layers.generation).toBeGreaterThan(gen);
    expect(layers.scrubber.scrub('base-secret-7 added-secret-1')).toBe('[REDACTED] [REDACTED]');
    // The base is not rebuilt for an addition: the small layer holds it.
    expect(layers.scrubber.matchers.length).toBe(2);
    // A removal: still redacted (errs towards redacting) until the rebuild, then not.
    await layers.update(base.slice(1));
    expect(layers.scrubber.scrub('base-secret-0')).toBe('[REDACTED]');
    await layers.flush();
    expect(layers.scrubber.scrub('base-secret-0 base-secret-1')).toBe('base-secret-0 [REDACTED]');
    expect(layers.scrubber.scrub('added-secret-1')).toBe('added-secret-1');
    expect(layers.scrubber.matchers.length).toBe(1);
    expect(changes).toBeGreaterThanOrEqual(4);
  });

  it('folds a large addition into the base, and never loses a secret added during a rebuild', async () => {
    const layers = new LayeredMatcher();
    await layers.update(['first-secret']);
    const many = Array.from({ length: 400 }, (_, i) => `many-secret-${i}`);
    await layers.update(['first-secret', ...many]); // over the delta limit: a rebuild starts
    const during = layers.update(['first-secret', ...many, 'late-secret']);
    await during;
    expect(layers.scrubber.scrub('late-secret many-secret-399 first-secret')).toBe('[REDACTED] [REDACTED] [REDACTED]');
    await layers.flush();
    expect(layers.scrubber.scrub('late-secret many-secret-399 first-secret')).toBe('[REDACTED] [REDACTED] [REDACTED]');
  });
});
