import { confusableWith, normalizeOrgName, ORG_NAME_PATTERN, orgNameSkeleton } from './org-names';

describe('org names', () => {
  it('looks alike: Cyrillic, fullwidth, ligatures, digits for letters, invisible characters', () => {
    for (const lookalike of ['\u0430cme', '\uff41\uff43\uff4d\uff45', 'ac\u200bme', 'acm\u0435']) expect(confusableWith(lookalike, ['acme'])).toBe('acme');
    expect(confusableWith('\ufb01nance', ['finance'])).toBe('finance');
    expect(confusableWith('paypa1', ['paypal'])).toBe('paypal');
  });

  it('does not look alike: different letters, the same name, another accent', () => {
    expect(confusableWith('acme', ['acme'])).toBeNull();
    expect(confusableWith('acne', ['acme'])).toBeNull();
    expect(confusableWith('café', ['cafe'])).toBeNull();
    expect(confusableWith('globex', ['acme', 'initech'])).toBeNull();
  });

  it('NFC: a combining accent and a precomposed one are one name', () => {
    expect(normalizeOrgName('cafe\u0301')).toBe('caf\u00e9');
    expect(confusableWith('cafe\u0301', ['caf\u00e9'])).toBeNull(); // the same org, not a look-alike
    expect(orgNameSkeleton('cafe\u0301')).toBe(orgNameSkeleton('caf\u00e9'));
  });

  it('accepts names with combining marks (Devanagari, NFD accents), never a mark first', () => {
    for (const ok of ['हिन्दी', 'cafe\u0301', 'São Paulo', 'acme-eu_1.0']) expect(ORG_NAME_PATTERN.test(ok)).toBe(true);
    for (const bad of ['\u0301acme', ' acme', 'acme ', 'a/b', '']) expect(ORG_NAME_PATTERN.test(bad)).toBe(false);
  });
});
