/**
 * Pure detectors of credentials stored as plain (non-secret) config values. A plain value is shown
 * in clear, exported in clear and never scrubbed, so a credential there is a leak waiting to happen.
 * A finding names its detector only: never the value, nor where in the value it sits.
 *
 * Two kinds (docs/API.md, "Credentials stored as plain configs"):
 * - known formats, matched anywhere in a string: each is a vendor's documented prefix and shape;
 * - the key-name rule: a long, high-entropy, single-token string under a key (the config's key or
 *   a member name of a `json` value) named like a credential (password, secret, token, api key, ...).
 */

export interface LeakFinding {
  /** A stable name, e.g. `stripe-live-key`. */
  detector: string;
}

interface FormatDetector {
  name: string;
  pattern: RegExp;
  /** A second look at a match, for formats whose regex alone is too loose. */
  confirm?: (match: RegExpExecArray) => boolean;
}

/** The shortest string the key-name rule looks at: shorter passwords are not caught (documented). */
export const MIN_SECRET_LENGTH = 16;
/** Shannon entropy, bits per character, from which the key-name rule sees a string as random. */
export const MIN_ENTROPY_BITS = 3.0;

const JWT_HEADER_KEYS = ['alg', 'typ', 'kid', 'enc'];

/** A JWT: its first segment decodes to a JSON object naming an algorithm or a type. */
function jwtHeader(m: RegExpExecArray): boolean {
  try {
    const header = JSON.parse(Buffer.from(m[1], 'base64url').toString('utf8')) as unknown;
    return typeof header === 'object' && header !== null && JWT_HEADER_KEYS.some((k) => k in header);
  } catch {
    return false;
  }
}

/** Placeholder passwords in connection strings (`user:***@`, `user:${DB_PASSWORD}@`, `user:<password>@`). */
const PLACEHOLDER_PASSWORD = /^(?:[*x•]+|\$\{[^}]*\}|\$[A-Z_][A-Z0-9_]*|\{\{[^}]*\}\}|<[^>]*>|%[sd]|\[REDACTED\])$/i;

/** Known formats: a boundary before each prefix, so `task_sk_live_` in an identifier does not count half. */
export const FORMAT_DETECTORS: readonly FormatDetector[] = [
  { name: 'private-key', pattern: /-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----/ },
  { name: 'stripe-live-key', pattern: /(?<![A-Za-z0-9])(?:sk|rk)_live_[0-9A-Za-z]{20,}/ },
  // Test keys read and change a Stripe account's test data and are treated as credentials by Stripe too.
  { name: 'stripe-test-key', pattern: /(?<![A-Za-z0-9])(?:sk|rk)_test_[0-9A-Za-z]{20,}/ },
  { name: 'stripe-webhook-secret', pattern: /(?<![A-Za-z0-9])whsec_[0-9A-Za-z+/=]{24,}/ },
  { name: 'aws-access-key-id', pattern: /(?<![A-Z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![A-Z0-9])/ },
  { name: 'github-token', pattern: /(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9_])/ },
  { name: 'gitlab-token', pattern: /(?<![A-Za-z0-9])glpat-[A-Za-z0-9_-]{20,}/ },
  { name: 'slack-token', pattern: /(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}/ },
  { name: 'slack-webhook-url', pattern: /https:\/\/hooks\.slack\.com\/(?:services|workflows)\/[A-Za-z0-9]+\/[A-Za-z0-9]+\/[A-Za-z0-9]{16,}/ },
  { name: 'google-api-key', pattern: /(?<![A-Za-z0-9])AIza[0-9A-Za-z_-]{35}(?![A-Za-z0-9_-])/ },
  { name: 'openai-api-key', pattern: /(?<![A-Za-z0-9])sk-(?:proj-[A-Za-z0-9_-]{40,}|[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20})/ },
  { name: 'anthropic-api-key', pattern: /(?<![A-Za-z0-9])sk-ant-[a-z]+\d{2}-[A-Za-z0-9_-]{80,}/ },
  { name: 'npm-token', pattern: /(?<![A-Za-z0-9])npm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/ },
  { name: 'sendgrid-api-key', pattern: /(?<![A-Za-z0-9])SG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/ },
  { name: 'bifrost-token', pattern: /(?<![A-Za-z0-9])bft_[A-Za-z0-9_-]{43}(?![A-Za-z0-9_-])/ },
  { name: 'jwt', pattern: /(?<![A-Za-z0-9_-])(eyJ[A-Za-z0-9_-]{8,})\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}/, confirm: jwtHeader },
  {
    name: 'url-with-password',
    pattern: /\b[a-z][a-z0-9+.-]{1,20}:\/\/[^\s/?#@:]+:([^\s/?#@]+)@[^\s/?#@]/i,
    confirm: (m) => !PLACEHOLDER_PASSWORD.test(decodeURIComponentSafe(m[1])),
  },
];

function decodeURIComponentSafe(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The known format a string holds, if any. */
export function detectFormat(value: string): LeakFinding | null {
  for (const d of FORMAT_DETECTORS) {
    const m = d.pattern.exec(value);
    if (m && (!d.confirm || d.confirm(m))) return { detector: d.name };
  }
  return null;
}

/** A name's words: split at separators and lower-to-upper case changes, lower-cased, a plural `s` dropped. */
function wordsOf(name: string): string[] {
  return name
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((w) => w.toLowerCase())
    .map((w) => (w.length > 3 && w.endsWith('s') && !w.endsWith('ss') ? w.slice(0, -1) : w));
}

/** Words that make a name a credential's by themselves. */
const SECRET_WORDS = new Set(['password', 'passwd', 'passphrase', 'pwd', 'pass', 'secret', 'token', 'apikey', 'credential', 'privatekey', 'accesskey']);
/** `<first> key` pairs that name a credential (`api_key`, `private-key`, `signingKey`, ...). */
const KEY_QUALIFIERS = new Set(['api', 'access', 'private', 'secret', 'signing', 'encryption', 'master', 'license', 'client']);
/**
 * Last words that make a credential-named key hold something about the credential instead
 * (`token_url`, `secret_name`, `password_env`, `api_key_header`): the key-name rule skips them.
 */
const METADATA_WORDS = new Set([
  'id', 'url', 'uri', 'endpoint', 'host', 'name', 'path', 'file', 'dir', 'type', 'kind', 'ttl', 'expiry', 'expire', 'expires', 'expiration',
  'lifetime', 'length', 'len', 'count', 'size', 'max', 'min', 'limit', 'enabled', 'disabled', 'enable', 'header', 'prefix', 'suffix',
  'version', 'env', 'var', 'field', 'param', 'mode', 'format', 'policy', 'rotation', 'hint', 'label', 'description', 'algorithm', 'alg',
  'scope', 'ref', 'arn', 'location', 'provider', 'issuer', 'audience', 'timeout', 'second', 'ms', 'at', 'date', 'time', 'user', 'username',
  'email', 'login', 'template', 'pattern', 'regex', 'rule', 'strength', 'required', 'reset',
]);

/** True when a key or member name names a credential (and not something about one). */
export function isSecretName(name: string): boolean {
  const words = wordsOf(name);
  if (words.length === 0 || METADATA_WORDS.has(words[words.length - 1])) return false;
  return words.some((w, i) => SECRET_WORDS.has(w) || (w === 'key' && i > 0 && KEY_QUALIFIERS.has(words[i - 1])));
}

/** Shannon entropy of a string's characters, in bits per character. */
export function entropyBits(s: string): number {
  const counts = new Map<string, number>();
  for (const c of s) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  const n = s.length;
  for (const k of counts.values()) bits -= (k / n) * Math.log2(k / n);
  return bits;
}

const UUID_SHAPE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Things that are no credential whatever they are under: a URL (judged by its own detector), a path, a reference to one. */
/** A file path: `/`, `./`, `../` or `~/`, then segments of word characters, dots and dashes. */
const PATH_SHAPE = /^(?:\/|\.\.?\/|~\/)(?:[\w.-]+\/)*[\w.-]*$/;

const NOT_A_TOKEN = [
  /^[a-z][a-z0-9+.-]*:\/\//i,
  /^\$\{[^}]*\}$|^\{\{[^}]*\}\}$|^<[^>]*>$/,
  /^[A-Z][A-Z0-9_]*$/, // an environment variable's name
  UUID_SHAPE, // an id; a UUID-shaped key is not caught
];

/**
 * The key-name rule's view of a string: one token of printable ASCII, at least MIN_SECRET_LENGTH
 * long, mixing at least two of lower case, upper case and digits, not words joined by separators,
 * with at least MIN_ENTROPY_BITS bits per character, and none of NOT_A_TOKEN.
 */
export function looksRandom(s: string): boolean {
  if (s.length < MIN_SECRET_LENGTH || s.length > 4096 || !/^[\x21-\x7e]+$/.test(s)) return false;
  if (NOT_A_TOKEN.some((re) => re.test(s))) return false;
  // A path of names (`/var/lib/app`, `~/Library/Keys`); base64 may start with a slash too (one token in 64).
  if (PATH_SHAPE.test(s) && s.split('/').every((segment) => /^[A-Z]?[a-z0-9._-]*$/.test(segment))) return false;
  const classes = Number(/[a-z]/.test(s)) + Number(/[A-Z]/.test(s)) + Number(/[0-9]/.test(s));
  if (classes < 2 || wordLike(s)) return false;
  return entropyBits(s) >= MIN_ENTROPY_BITS;
}

/**
 * Words and short numbers joined by separators (`production-eu-west-1`, `v1.2.3-release-2024`):
 * names people type, not generated tokens, whatever their entropy.
 */
function wordLike(s: string): boolean {
  const parts = s.split(/[^A-Za-z0-9]+/).filter(Boolean);
  return parts.length > 1 && parts.every((p) => /^[a-z]+$/.test(p) || /^[A-Z]?[a-z]+$/.test(p) || /^[A-Z]+$/.test(p) || /^\d{1,4}$/.test(p) || p.length <= 3);
}

/**
 * The finding of one string: `nearest` is the name it sits under (a member name, or the config's
 * key), `underSecretName` whether that or any name above it names a credential.
 */
function detectString(value: string, nearest: string, underSecretName: boolean): LeakFinding | null {
  const format = detectFormat(value);
  if (format) return format;
  // The nearest name decides whether it is about a credential (`token_url`); any name may make it one.
  if (METADATA_WORDS.has(wordsOf(nearest).pop() ?? '')) return null;
  if (underSecretName && looksRandom(value)) return { detector: 'high-entropy-under-secret-name' };
  return null;
}

/** The most string leaves of a json value looked at (a 64 KiB value has fewer). */
const MAX_LEAVES = 20_000;

/**
 * The first credential found in a plain config's typed value: a string, or a `json` value's string
 * leaves (member names are structure and are not looked at); numbers and booleans hold none.
 */
export function detectLeak(key: string, value: unknown): LeakFinding | null {
  if (typeof value === 'string') return detectString(value, key, isSecretName(key));
  if (value === null || typeof value !== 'object') return null;
  // Walked with a stack, not recursion: a json value may be nested thousands deep.
  const stack: { v: unknown; nearest: string; secret: boolean }[] = [{ v: value, nearest: key, secret: isSecretName(key) }];
  let leaves = 0;
  while (stack.length > 0) {
    const { v, nearest, secret } = stack.pop()!;
    if (typeof v === 'string') {
      if (++leaves > MAX_LEAVES) return null;
      const found = detectString(v, nearest, secret);
      if (found) return found;
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], nearest, secret });
    } else if (v !== null && typeof v === 'object') {
      const entries = Object.entries(v as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) stack.push({ v: entries[i][1], nearest: entries[i][0], secret: secret || isSecretName(entries[i][0]) });
    }
  }
  return null;
}

/** The names of every detector, for the documentation and the scan's answer. */
export const DETECTOR_NAMES = [...FORMAT_DETECTORS.map((d) => d.name), 'high-entropy-under-secret-name'] as const;
