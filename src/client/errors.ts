/**
 * Typed errors of the Bifrost service client.
 *
 * Every error the client raises for a failed call is a {@link BifrostError}; the
 * subclass tells what went wrong. Server errors are mapped by their `code`
 * first, then by their HTTP status. Messages never carry a submitted value or
 * the token: the client removes them from what the server answers, too.
 */

/** What every {@link BifrostError} may carry besides its message. */
export interface BifrostErrorInit {
  /** HTTP status of the answer; `0` when no answer arrived (timeout, connection, client-side). */
  status?: number;
  /** Stable upper-snake code, from the server's body when it had one. */
  code?: string;
  /** The server's `details`, with submitted values removed. */
  details?: unknown;
  /** The `x-request-id` response header, when the server sent one. */
  requestId?: string;
  /** HTTP method of the failed call. */
  method?: string;
  /** Path of the failed call (under the server root, e.g. `/api/sdk/configs/foo`). */
  path?: string;
  /** How many attempts were made before giving up. */
  attempts?: number;
  /** A `Retry-After` header, in milliseconds, when the server sent one. */
  retryAfterMs?: number;
  /** The underlying error (for timeouts and connection failures). */
  cause?: unknown;
}

/** Base class of every error raised by the client. */
export class BifrostError extends Error {
  /** HTTP status, or `0` when no HTTP answer was received. */
  readonly status: number;
  /** Stable upper-snake code, e.g. `CONFIG_NOT_FOUND`, `TIMEOUT`, `CONNECTION_FAILED`. */
  readonly code: string;
  /** Extra information from the server's error body (values removed). */
  readonly details?: unknown;
  /** The server's request id (`x-request-id`), to quote when asking for help. */
  readonly requestId?: string;
  readonly method?: string;
  readonly path?: string;
  /** Attempts made, retries included. */
  attempts?: number;
  /** Milliseconds the server asked to wait (`Retry-After`), if it said. */
  readonly retryAfterMs?: number;

  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, init.cause === undefined ? undefined : { cause: init.cause });
    this.name = 'BifrostError';
    this.status = init.status ?? 0;
    this.code = init.code ?? 'BIFROST_ERROR';
    if (init.details !== undefined) this.details = init.details;
    if (init.requestId !== undefined) this.requestId = init.requestId;
    if (init.method !== undefined) this.method = init.method;
    if (init.path !== undefined) this.path = init.path;
    if (init.attempts !== undefined) this.attempts = init.attempts;
    if (init.retryAfterMs !== undefined) this.retryAfterMs = init.retryAfterMs;
  }

  toJSON(): Record<string, unknown> {
    return {
      name: this.name,
      message: this.message,
      status: this.status,
      code: this.code,
      details: this.details,
      requestId: this.requestId,
      method: this.method,
      path: this.path,
      attempts: this.attempts,
    };
  }
}

/** 400: the request was malformed (`VALIDATION_FAILED` and other 400s, 422). */
export class ValidationError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 400, code: 'VALIDATION_FAILED', ...init });
    this.name = 'ValidationError';
  }
}

/** 400 `INVALID_VALUE`: a value that does not fit its type; 400 `VALUE_TOO_LARGE`: serialized, over 64 KiB. */
export class InvalidValueError extends ValidationError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 400, code: 'INVALID_VALUE', ...init });
    this.name = 'InvalidValueError';
  }
}

/** 401: the token is missing, unknown or revoked. */
export class UnauthorizedError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 401, code: 'UNAUTHORIZED', ...init });
    this.name = 'UnauthorizedError';
  }
}

/** 403: the token may not act in this role or org. */
export class ForbiddenError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 403, code: 'FORBIDDEN', ...init });
    this.name = 'ForbiddenError';
  }
}

/** 404 other than a missing config, e.g. `EXECUTION_NOT_FOUND`. */
export class NotFoundError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 404, code: 'NOT_FOUND', ...init });
    this.name = 'NotFoundError';
  }
}

/**
 * 404 `CONFIG_NOT_FOUND`: the workflow asked for a key that does not exist.
 *
 * The client's counterpart of Python's `KeyError`: its message is the key in
 * quotes, exactly as `str(KeyError('stripe_api_key'))` prints (`'stripe_api_key'`).
 */
export class ConfigNotFoundError extends NotFoundError {
  /** The missing key. */
  readonly key: string;

  constructor(key: string, init: BifrostErrorInit = {}) {
    super(pythonRepr(key), { status: 404, ...init, code: 'CONFIG_NOT_FOUND' });
    this.name = 'ConfigNotFoundError';
    this.key = key;
  }
}

/** 409: a conflict (e.g. `ORG_EXISTS`, an execution already finished). */
export class ConflictError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 409, code: 'CONFLICT', ...init });
    this.name = 'ConflictError';
  }
}

/** 409 `SECRET_VALUE_MISSING`: the secret exists but has no value (e.g. after a portable import). */
export class SecretValueMissingError extends ConflictError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 409, ...init, code: 'SECRET_VALUE_MISSING' });
    this.name = 'SecretValueMissingError';
  }
}

/** 413: the request body is too large. */
export class PayloadTooLargeError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 413, code: 'PAYLOAD_TOO_LARGE', ...init });
    this.name = 'PayloadTooLargeError';
  }
}

/** 429: throttled; see `retryAfterMs`. */
export class RateLimitedError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 429, code: 'RATE_LIMITED', ...init });
    this.name = 'RateLimitedError';
  }
}

/** Any 5xx not covered by a more precise class. */
export class ServerError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 500, code: 'INTERNAL_ERROR', ...init });
    this.name = 'ServerError';
  }
}

/** 500 `DECRYPTION_FAILED`: no configured key decrypts the stored value (check `BIFROST_SECRET_KEY`). */
export class DecryptionFailedError extends ServerError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 500, ...init, code: 'DECRYPTION_FAILED' });
    this.name = 'DecryptionFailedError';
  }
}

/** 503: the service cannot answer now (`AUDIT_UNAVAILABLE`, `DATABASE_UNAVAILABLE`, ...). */
export class ServiceUnavailableError extends ServerError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { status: 503, code: 'SERVICE_UNAVAILABLE', ...init });
    this.name = 'ServiceUnavailableError';
  }
}

/** No answer within the client's `timeoutMs`. `status` is 0. */
export class TimeoutError extends BifrostError {
  constructor(message: string, init: BifrostErrorInit = {}) {
    super(message, { ...init, status: 0, code: 'TIMEOUT' });
    this.name = 'TimeoutError';
  }
}

/** The connection failed (refused, reset, dropped, DNS). `status` is 0. */
export class ConnectionError extends BifrostError {
  /** The system error code, e.g. `ECONNREFUSED`, when known. */
  readonly causeCode?: string;

  constructor(message: string, init: BifrostErrorInit & { causeCode?: string } = {}) {
    super(message, { ...init, status: 0, code: 'CONNECTION_FAILED' });
    this.name = 'ConnectionError';
    if (init.causeCode !== undefined) this.causeCode = init.causeCode;
  }
}

/** `execution.log/registerSecret/finish` was called before `execution.start` and with no `executionId`. */
export class ExecutionNotStartedError extends BifrostError {
  constructor(message = 'no execution: call execution.start(workflow) first, or pass executionId to BifrostClient') {
    super(message, { status: 0, code: 'EXECUTION_NOT_STARTED' });
    this.name = 'ExecutionNotStartedError';
  }
}

/**
 * Python's `repr()` of a string: what `str(KeyError(key))` prints.
 * Single quotes unless the text holds a single quote and no double quote.
 */
export function pythonRepr(text: string): string {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = quote;
  for (const ch of text) {
    const cp = ch.codePointAt(0) as number;
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += '\\' + quote;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) out += '\\x' + cp.toString(16).padStart(2, '0');
    else out += ch;
  }
  return out + quote;
}

type ErrorClass = new (message: string, init?: BifrostErrorInit) => BifrostError;

/** Codes whose class does not follow from the status alone (or that a proxy might send with another status). */
const BY_CODE: Record<string, ErrorClass> = {
  SECRET_VALUE_MISSING: SecretValueMissingError,
  DECRYPTION_FAILED: DecryptionFailedError,
  INVALID_VALUE: InvalidValueError,
  VALUE_TOO_LARGE: InvalidValueError,
  VALIDATION_FAILED: ValidationError,
  UNAUTHORIZED: UnauthorizedError,
  FORBIDDEN: ForbiddenError,
  EXECUTION_NOT_FOUND: NotFoundError,
  ORG_NOT_FOUND: NotFoundError,
  TOKEN_NOT_FOUND: NotFoundError,
  ORG_EXISTS: ConflictError,
  PAYLOAD_TOO_LARGE: PayloadTooLargeError,
  RATE_LIMITED: RateLimitedError,
  TOO_MANY_REQUESTS: RateLimitedError,
  AUDIT_UNAVAILABLE: ServiceUnavailableError,
  DATABASE_UNAVAILABLE: ServiceUnavailableError,
  SERVICE_UNAVAILABLE: ServiceUnavailableError,
};

function classForStatus(status: number): ErrorClass {
  if (status === 400 || status === 422) return ValidationError;
  if (status === 401) return UnauthorizedError;
  if (status === 403) return ForbiddenError;
  if (status === 404) return NotFoundError;
  if (status === 409) return ConflictError;
  if (status === 413) return PayloadTooLargeError;
  if (status === 429) return RateLimitedError;
  if (status === 503) return ServiceUnavailableError;
  if (status >= 500) return ServerError;
  return BifrostError;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  422: 'Unprocessable Entity',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** What {@link errorFromResponse} needs to know about the call. */
export interface ErrorContext {
  method: string;
  path: string;
  /** The config key of the call, for `ConfigNotFoundError`. */
  key?: string;
  requestId?: string;
  retryAfterMs?: number;
  /** Strings that must not appear in the error (the token, submitted values). */
  redact: (text: string) => string;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Applies `redact` to every string inside `value` (keys too). */
export function redactDeep(value: unknown, redact: (text: string) => string, depth = 0): unknown {
  if (typeof value === 'string') return redact(value);
  if (depth > 20) return undefined;
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redact, depth + 1));
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[redact(k)] = redactDeep(v, redact, depth + 1);
    return out;
  }
  return value;
}

/** Builds the typed error for a non-2xx answer. `body` is the parsed JSON body, if any. */
export function errorFromResponse(status: number, body: unknown, ctx: ErrorContext): BifrostError {
  const b = isRecord(body) ? body : {};
  const code = typeof b.code === 'string' && b.code !== '' ? b.code : undefined;
  let message: string;
  if (typeof b.message === 'string' && b.message !== '') message = b.message;
  else if (Array.isArray(b.message)) message = b.message.filter((m) => typeof m === 'string').join('; ');
  else message = '';
  if (message === '') {
    const text = typeof b.error === 'string' && b.error !== '' ? b.error : STATUS_TEXT[status] ?? 'Error';
    message = `${ctx.method} ${ctx.path} failed: HTTP ${status} ${text}`;
  }
  const init: BifrostErrorInit = {
    status,
    method: ctx.method,
    path: ctx.path,
    requestId: ctx.requestId,
    retryAfterMs: ctx.retryAfterMs,
    details: b.details === undefined ? undefined : redactDeep(b.details, ctx.redact),
  };
  if (code !== undefined) init.code = code;
  if (code === 'CONFIG_NOT_FOUND') {
    const detailKey = isRecord(b.details) && typeof b.details.key === 'string' ? b.details.key : undefined;
    return new ConfigNotFoundError(ctx.key ?? detailKey ?? '', init);
  }
  const Cls = (code !== undefined ? BY_CODE[code] : undefined) ?? classForStatus(status);
  if (code === undefined) init.code = defaultCodeFor(status);
  return new Cls(ctx.redact(message), init);
}

function defaultCodeFor(status: number): string {
  switch (status) {
    case 400:
    case 422:
      return 'VALIDATION_FAILED';
    case 401:
      return 'UNAUTHORIZED';
    case 403:
      return 'FORBIDDEN';
    case 404:
      return 'NOT_FOUND';
    case 409:
      return 'CONFLICT';
    case 413:
      return 'PAYLOAD_TOO_LARGE';
    case 429:
      return 'RATE_LIMITED';
    case 502:
      return 'BAD_GATEWAY';
    case 503:
      return 'SERVICE_UNAVAILABLE';
    case 504:
      return 'GATEWAY_TIMEOUT';
    default:
      return status >= 500 ? 'INTERNAL_ERROR' : `HTTP_${status}`;
  }
}
