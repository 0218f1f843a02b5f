import { secretForms } from '../scrubber/secret-forms';
import { scrubJsonValue, SecretMatcher, TextScrubber } from '../scrubber/secret-matcher';
import { Scrubber } from '../scrubber/scrubber';

/**
 * Scrubs exactly as `inner` does and keeps each text it changed. Where nothing is redacted (the hot
 * path) the cost is one comparison per text: the scrubber returns the very same string.
 */
export class RecordingScrubber implements TextScrubber {
  /** The texts as they were before a redaction: held for attribution only, never stored or logged. */
  readonly changed: string[] = [];

  constructor(readonly inner: Scrubber) {}

  get matchesNumbers(): boolean {
    return this.inner.matchesNumbers;
  }

  scrub(text: string): string {
    const out = this.inner.scrub(text);
    if (out !== text) this.changed.push(text);
    return out;
  }

  containsSecret(text: string): boolean {
    const hit = this.inner.containsSecret(text);
    if (hit) this.changed.push(text);
    return hit;
  }

  scrubDeep<T>(value: T): T {
    return this.inner.isEmpty ? value : (scrubJsonValue(value, this) as T);
  }
}

/** A config secret as the registry holds it. */
export interface ConfigSecret {
  scope: string;
  key: string;
  ciphertext: string;
  plain: string;
}

/** A secret found in redacted texts: a config's, or (scope and key empty, no ciphertext) the execution's dynamic ones together. */
export interface Redaction {
  scope: string;
  key: string;
  ciphertext: string | null;
  /** Regions its own matcher redacts in the texts. */
  count: number;
}

const literally = (texts: readonly string[], forms: readonly string[]) => texts.some((t) => forms.some((f) => t.includes(f)));

/**
 * Which secrets account for the redactions in `texts` (texts the scrubber changed), each tested
 * alone. First only the secrets one of whose forms occurs in a text as it is (the usual case, so a
 * matcher is built for those few); if some text is still unexplained, every other secret is tested
 * too. A dynamic secret equal to a config's value counts as the config's (the SDK read registers
 * what it returns).
 */
export async function attributeRedactions(texts: readonly string[], configs: readonly ConfigSecret[], dynamic: readonly string[]): Promise<Redaction[]> {
  if (texts.length === 0) return [];
  const out: Redaction[] = [];
  const explained = new Array<boolean>(texts.length).fill(false);
  const count = (matcher: SecretMatcher): number => {
    let n = 0;
    texts.forEach((t, i) => {
      const r = matcher.regions(t);
      if (r !== null) {
        n += r.length / 2;
        explained[i] = true;
      }
    });
    return n;
  };
  const tested = new Set<number>();
  const test = (i: number) => {
    tested.add(i);
    const c = configs[i];
    const n = count(new SecretMatcher([c.plain]));
    if (n > 0) out.push({ scope: c.scope, key: c.key, ciphertext: c.ciphertext, count: n });
  };
  configs.forEach((c, i) => {
    if (literally(texts, secretForms(c.plain))) test(i);
  });
  const configValues = new Set(configs.map((c) => c.plain));
  const own = [...new Set(dynamic)].filter((d) => !configValues.has(d));
  const seen = own.filter((d) => literally(texts, secretForms(d)));
  let dynamicCount = seen.length > 0 ? count(await SecretMatcher.build(seen)) : 0;
  if (explained.some((e) => !e)) {
    configs.forEach((_, i) => {
      if (!tested.has(i)) test(i);
    });
    const rest = own.filter((d) => !seen.includes(d));
    // Counted apart from `seen`'s: a region both match is one redaction, so the larger count stands.
    if (explained.some((e) => !e) && rest.length > 0) dynamicCount = Math.max(dynamicCount, count(await SecretMatcher.build([...seen, ...rest])));
  }
  if (dynamicCount > 0) out.push({ scope: '', key: '', ciphertext: null, count: dynamicCount });
  return out;
}
