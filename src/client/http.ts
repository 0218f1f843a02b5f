/**
 * The client's HTTP transport: one call = up to `retries + 1` attempts, each with
 * its own timeout. Only idempotent methods are retried, and only after a
 * connection error, a timeout or a 502/503/504. Nothing here logs anything
 * unless a `logger` hook is given, and that hook never sees bodies or the token.
 */
import { randomInt } from 'node:crypto';

import {
  BifrostError,
  ConnectionError,
  errorFromResponse,
  ServerError,
  TimeoutError,
} from './errors';
import type { BifrostClientOptions, ClientLogEvent, FetchLike } from './types';

export type HttpMethod = 'GET' | 'PUT' | 'DELETE' | 'POST';

export interface RequestSpec {
  method: HttpMethod;
  /** Path under the server root, starting with `/api/`. */
  path: string;
  /** JSON body. */
  body?: unknown;
  /** Strings that must never appear in an error raised for this call (submitted values). */
  sensitive?: readonly unknown[];
  /** Send `X-Bifrost-Execution` when an execution is known. */
  withExecution?: boolean;
  /** Config key of the call, for `ConfigNotFoundError`. */
  key?: string;
  /**
   * A call the execution token may make (SDK reads, the run's logs, secrets and finish): sent with
   * it while a run started by `execution.start` holds one, else with the client's token.
   */
  asExecution?: boolean;
}

export interface HttpResponse {
  status: number;
  body: unknown;
  requestId?: string;
}

export const DEFAULTS = {
  timeoutMs: 10_000,
  retries: 3,
  retryBaseMs: 100,
  retryMaxMs: 2_000,
} as const;

const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'PUT', 'DELETE']);
const RETRYABLE_STATUS: ReadonlySet<number> = new Set([502, 503, 504]);
const CONNECTION_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
]);
const CONNECTION_MESSAGES = /fetch failed|socket hang up|other side closed|terminated|ECONNREFUSED|ECONNRESET/i;

/** Shortest submitted string that is removed from error messages (as the server's scrubber does). */
const MIN_REDACT_LENGTH = 4;
const REDACTED = '[REDACTED]';

/**
 * What an HTTP header value carries unchanged: Latin-1 only (`fetch` throws beyond), no control
 * characters, no leading or trailing whitespace (HTTP drops it in transit).
 */
const HEADER_SAFE = /^[\x21-\x7e\x80-\xff](?:[\x20-\x7e\x80-\xff]*[\x21-\x7e\x80-\xff])?$/;

function positiveInt(value: number | undefined, fallback: number, name: string, min = 0): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) throw new TypeError(`BifrostClient: ${name} must be a number >= ${min}`);
  return Math.floor(value);
}

/** Every string inside `value` (object keys included), for redaction. */
function collectStrings(value: unknown, out: string[], depth = 0): void {
  if (typeof value === 'string') {
    out.push(value);
    return;
  }
  if (depth > 20 || typeof value !== 'object' || value === null) {
    if (typeof value === 'number' || typeof value === 'bigint') out.push(String(value));
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectStrings(v, out, depth + 1);
    return;
  }
  for (const [k, v] of Object.entries(value)) {
    out.push(k);
    collectStrings(v, out, depth + 1);
  }
}

/** Builds a function that replaces every sensitive string (and its JSON- and URL-encoded forms). */
export function makeRedactor(sensitive: readonly unknown[]): (text: string) => string {
  const strings: string[] = [];
  for (const s of sensitive) {
    collectStrings(s, strings);
    if (typeof s === 'object' && s !== null) {
      try {
        strings.push(JSON.stringify(s));
      } catch {
        // not serializable: nothing more to hide
      }
    }
  }
  const forms = new Set<string>();
  for (const s of strings) {
    if (s.length < MIN_REDACT_LENGTH) continue;
    forms.add(s);
    forms.add(JSON.stringify(s).slice(1, -1));
    try {
      forms.add(encodeURIComponent(s));
    } catch {
      // lone surrogate: no URL form
    }
    for (const line of s.split(/\r?\n/)) if (line.length >= MIN_REDACT_LENGTH) forms.add(line);
  }
  const sorted = [...forms].sort((a, b) => b.length - a.length);
  return (text: string): string => {
    let out = text;
    for (const f of sorted) if (out.includes(f)) out = out.split(f).join(REDACTED);
    return out;
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let i = 0; i < 5 && typeof e === 'object' && e !== null; i++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function isConnectionFailure(err: unknown): boolean {
  const code = errorCode(err);
  if (code !== undefined && CONNECTION_CODES.has(code)) return true;
  let e: unknown = err;
  for (let i = 0; i < 5 && typeof e === 'object' && e !== null; i++) {
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && CONNECTION_MESSAGES.test(message)) return true;
    e = (e as { cause?: unknown }).cause;
  }
  return false;
}

function parseRetryAfter(header: string | null): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds) && seconds >= 0) return Math.round(seconds * 1000);
  const date = Date.parse(header);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - Date.now());
}

export class HttpTransport {
  readonly baseUrl: string;
  readonly timeoutMs: number;
  readonly retries: number;
  readonly retryBaseMs: number;
  readonly retryMaxMs: number;
  /** A true private field: `util.inspect` and `JSON.stringify` never see it. */
  readonly #token: string;
  private readonly org?: string;
  private readonly fetchImpl: FetchLike;
  private readonly logger?: (event: ClientLogEvent) => void;
  /** The execution named in `X-Bifrost-Execution`. */
  executionId?: string;
  /** The current run's execution token (from `POST /api/executions`), private like the token. */
  #executionToken: string | undefined;

  /** Uses `token` for the execution token's calls from now on (undefined: the client's own token again). */
  useExecutionToken(token: string | undefined): void {
    this.#executionToken = token !== undefined && HEADER_SAFE.test(token) ? token : undefined;
  }

  /** Whether a run's execution token is in use. */
  get hasExecutionToken(): boolean {
    return this.#executionToken !== undefined;
  }

  constructor(options: BifrostClientOptions) {
    if (typeof options.baseUrl !== 'string' || options.baseUrl === '') {
      throw new TypeError('BifrostClient: baseUrl is required (the server root, e.g. http://127.0.0.1:3000)');
    }
    const url = new URL(options.baseUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new TypeError('BifrostClient: baseUrl must be an http(s) URL');
    }
    if (typeof options.token !== 'string' || options.token === '') {
      throw new TypeError('BifrostClient: token is required');
    }
    if (!HEADER_SAFE.test(options.token)) {
      throw new TypeError('BifrostClient: the token holds characters an HTTP header cannot carry (spaces, line breaks, non-Latin-1)');
    }
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    if (options.org !== undefined && options.org !== '') {
      if (typeof options.org !== 'string' || !HEADER_SAFE.test(options.org)) {
        throw new TypeError(
          `BifrostClient: org ${JSON.stringify(options.org)} cannot be sent as X-Bifrost-Org (characters beyond Latin-1, ` +
            'control characters, or leading/trailing spaces, which HTTP drops): pass the org id instead',
        );
      }
      this.org = options.org;
    }
    if (options.executionId !== undefined && options.executionId !== '') {
      if (typeof options.executionId !== 'string' || !HEADER_SAFE.test(options.executionId)) {
        throw new TypeError('BifrostClient: executionId cannot be sent as X-Bifrost-Execution (use the id execution.start answered)');
      }
      this.executionId = options.executionId;
    }
    this.timeoutMs = positiveInt(options.timeoutMs, DEFAULTS.timeoutMs, 'timeoutMs', 1);
    this.retries = positiveInt(options.retries, DEFAULTS.retries, 'retries');
    this.retryBaseMs = positiveInt(options.retryBaseMs, DEFAULTS.retryBaseMs, 'retryBaseMs');
    this.retryMaxMs = positiveInt(options.retryMaxMs, DEFAULTS.retryMaxMs, 'retryMaxMs');
    const f = options.fetch ?? (globalThis.fetch as FetchLike | undefined);
    if (typeof f !== 'function') throw new TypeError('BifrostClient: no fetch available (Node 20+ required)');
    this.fetchImpl = f;
    if (options.logger !== undefined) this.logger = options.logger;
  }

  /** Full jitter: a random delay in [0, min(cap, base·2^retry)]. */
  backoffMs(retry: number): number {
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** Math.min(retry, 30));
    return randomInt(0, Math.floor(ceiling) + 1);
  }

  /** Performs a call; resolves to a 2xx answer or rejects with a {@link BifrostError}. */
  async request(spec: RequestSpec): Promise<HttpResponse> {
    let redactor: ((text: string) => string) | undefined;
    const redact = (text: string): string =>
      (redactor ??= makeRedactor([this.#token, ...(this.#executionToken !== undefined ? [this.#executionToken] : []), ...(spec.sensitive ?? [])]))(text);
    const maxAttempts = IDEMPOTENT.has(spec.method) ? this.retries + 1 : 1;
    const body = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    for (let attempt = 1; ; attempt++) {
      const started = Date.now();
      let outcome: HttpResponse | BifrostError;
      try {
        outcome = await this.attempt(spec, body, redact);
      } catch (err) {
        // Not a transport failure we understand (a bug or a misconfiguration): do not retry, do not wrap.
        this.emit({ method: spec.method, path: spec.path, attempt, status: 0, durationMs: Date.now() - started, errorCode: 'CLIENT_ERROR' });
        throw err;
      }
      const failed = outcome instanceof BifrostError;
      const status = outcome.status;
      const retryable =
        failed &&
        attempt < maxAttempts &&
        (outcome instanceof TimeoutError || outcome instanceof ConnectionError || RETRYABLE_STATUS.has(status));
      let delay: number | undefined;
      if (retryable) {
        delay = this.backoffMs(attempt - 1);
        const after = (outcome as BifrostError).retryAfterMs;
        if (after !== undefined) delay = Math.max(delay, Math.min(after, this.retryMaxMs));
      }
      this.emit({
        method: spec.method,
        path: spec.path,
        attempt,
        status,
        durationMs: Date.now() - started,
        ...(failed ? { errorCode: (outcome as BifrostError).code } : {}),
        ...(delay !== undefined ? { retryInMs: delay } : {}),
      });
      if (!failed) return outcome as HttpResponse;
      if (delay === undefined) {
        (outcome as BifrostError).attempts = attempt;
        throw outcome;
      }
      await sleep(delay);
    }
  }

  private emit(event: ClientLogEvent): void {
    if (this.logger === undefined) return;
    try {
      this.logger(event);
    } catch {
      // a failing logger never breaks a call
    }
  }

  private headers(spec: RequestSpec, hasBody: boolean): Record<string, string> {
    // The execution token is bound to its org and execution: it needs neither header.
    const asExecution = spec.asExecution === true && this.#executionToken !== undefined;
    const headers: Record<string, string> = {
      authorization: `Bearer ${asExecution ? this.#executionToken : this.#token}`,
      accept: 'application/json',
    };
    if (hasBody) headers['content-type'] = 'application/json';
    if (asExecution) return headers;
    if (this.org !== undefined) headers['x-bifrost-org'] = this.org;
    if (spec.withExecution && this.executionId !== undefined) headers['x-bifrost-execution'] = this.executionId;
    return headers;
  }

  /** One attempt. Resolves to the answer or to the error to raise; rejects only on an unexpected failure. */
  private async attempt(
    spec: RequestSpec,
    body: string | undefined,
    redact: (text: string) => string,
  ): Promise<HttpResponse | BifrostError> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.timeoutMs);
    let status: number;
    let text: string;
    let headers: Headers;
    try {
      const res = await this.fetchImpl(this.baseUrl + spec.path, {
        method: spec.method,
        headers: this.headers(spec, body !== undefined),
        body,
        signal: controller.signal,
      });
      status = res.status;
      headers = res.headers;
      text = await res.text();
    } catch (err) {
      if (timedOut) {
        return new TimeoutError(`${spec.method} ${spec.path} timed out after ${this.timeoutMs} ms`, {
          method: spec.method,
          path: spec.path,
        });
      }
      if (isConnectionFailure(err)) {
        const causeCode = errorCode(err);
        return new ConnectionError(
          `${spec.method} ${spec.path} failed: could not reach ${this.baseUrl}` + (causeCode ? ` (${causeCode})` : ''),
          { method: spec.method, path: spec.path, causeCode, cause: err },
        );
      }
      throw err;
    } finally {
      clearTimeout(timer);
    }

    const requestId = headers.get('x-request-id') ?? undefined;
    let parsed: unknown = undefined;
    let parseFailed = false;
    if (text !== '') {
      try {
        parsed = JSON.parse(text);
      } catch {
        parseFailed = true;
      }
    }
    if (status >= 200 && status < 300) {
      if (parseFailed) {
        return new ServerError(`${spec.method} ${spec.path}: the server answered ${status} with a body that is not JSON`, {
          status,
          code: 'INVALID_RESPONSE',
          method: spec.method,
          path: spec.path,
          requestId,
        });
      }
      return { status, body: parsed, requestId };
    }
    return errorFromResponse(status, parsed, {
      method: spec.method,
      path: spec.path,
      key: spec.key,
      requestId,
      retryAfterMs: parseRetryAfter(headers.get('retry-after')),
      redact,
    });
  }
}
