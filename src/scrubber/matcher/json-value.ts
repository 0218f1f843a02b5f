/** What every secret form is replaced with. */
export const redactionMarker = '[REDACTED]';

/** What scrubJsonValue needs of a matcher (or of several together). */
export interface TextScrubber {
  scrub(text: string): string;
  containsSecret(text: string): boolean;
  readonly matchesNumbers: boolean;
}

/**
 * A scrubbed copy of a JSON-like value: strings (object keys too) are scrubbed; a number (or
 * bigint) whose decimal text contains a secret becomes the string `[REDACTED]`; booleans, null and
 * undefined are unchanged. An object with `toJSON` is scrubbed as what JSON.stringify would write for
 * it. Never mutates its argument; throws on a cycle.
 */
export function scrubJsonValue(value: unknown, m: TextScrubber): unknown {
  return walk(value, m, new Set<object>(), '');
}

function walk(value: unknown, m: TextScrubber, ancestors: Set<object>, key: string): unknown {
  switch (typeof value) {
    case 'string':
      return m.scrub(value);
    case 'number':
    case 'bigint':
      return m.matchesNumbers && m.containsSecret(String(value)) ? redactionMarker : value;
    case 'object':
      break;
    default:
      return value;
  }
  if (value === null) return null;
  const maybeToJson = (value as { toJSON?: unknown }).toJSON;
  if (typeof maybeToJson === 'function') {
    const json: unknown = maybeToJson.call(value, key);
    if (json !== value) return walk(json, m, ancestors, key);
  }
  if (ancestors.has(value)) throw new TypeError('scrubDeep: cannot scrub a value with a cycle');
  ancestors.add(value);
  try {
    if (Array.isArray(value)) {
      const out: unknown[] = new Array(value.length);
      for (let i = 0; i < value.length; i++) out[i] = walk(value[i], m, ancestors, String(i));
      return out;
    }
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value)) {
      const v = (value as Record<string, unknown>)[k];
      const scrubbedKey = m.scrub(k);
      const scrubbedValue = walk(v, m, ancestors, k);
      if (scrubbedKey === '__proto__') {
        // An own property, as JSON.parse makes it, not the prototype setter.
        Object.defineProperty(out, scrubbedKey, { value: scrubbedValue, enumerable: true, writable: true, configurable: true });
      } else {
        out[scrubbedKey] = scrubbedValue;
      }
    }
    return out;
  } finally {
    ancestors.delete(value);
  }
}
