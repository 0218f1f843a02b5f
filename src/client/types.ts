/** Public types of the Bifrost service client. */

/** The `fetch` the client calls; Node 20's global `fetch` by default. */
export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

/**
 * One event for the optional {@link BifrostClientOptions.logger} hook. It never carries
 * a body, a value, a header or the token: only what was called and how it went.
 */
export interface ClientLogEvent {
  method: string;
  /** Path under the server root, e.g. `/api/sdk/configs/stripe_api_key`. */
  path: string;
  /** 1 for the first try, 2 for the first retry, ... */
  attempt: number;
  /** HTTP status, or 0 when no answer arrived. */
  status: number;
  /** Milliseconds this attempt took. */
  durationMs: number;
  /** The error code when the attempt failed (`TIMEOUT`, `CONNECTION_FAILED`, `CONFIG_NOT_FOUND`, ...). */
  errorCode?: string;
  /** Milliseconds until the next attempt, when the client is going to retry. */
  retryInMs?: number;
}

export interface BifrostClientOptions {
  /** The server root without `/api`, e.g. `http://127.0.0.1:3000`. */
  baseUrl: string;
  /** A bearer token (`bft_...`), normally a `service` token. */
  token: string;
  /** Org id or name, sent as `X-Bifrost-Org` (for an org-less service token). */
  org?: string;
  /** A running execution's id, sent as `X-Bifrost-Execution` on SDK calls, and used by `execution.*`. */
  executionId?: string;
  /** Timeout of one attempt, in ms (default 10 000). */
  timeoutMs?: number;
  /** Retries of an idempotent call (GET, PUT, DELETE) after a connection error, a timeout or a 502/503/504 (default 3). */
  retries?: number;
  /** Backoff base in ms (default 100): the n-th retry waits a random time in [0, min(cap, base·2ⁿ⁻¹)]. */
  retryBaseMs?: number;
  /** Backoff cap in ms (default 2 000). */
  retryMaxMs?: number;
  /** A `fetch` to use instead of the global one. */
  fetch?: FetchLike;
  /** Receives one event per attempt. Never receives bodies, values or the token. Off by default. */
  logger?: (event: ClientLogEvent) => void;
  /** Log lines sent in one batch at most (default 100). */
  logBatchSize?: number;
  /** Approximate JSON size of one log batch at most, in bytes (default 256 KiB); a single longer line goes alone. */
  logBatchMaxBytes?: number;
  /** Buffered log lines are sent at the latest this many ms after the first of them (default 1 000). */
  logFlushIntervalMs?: number;
}

/** What `GET /api/sdk/configs/{key}` answers. */
export interface SdkConfig<T = unknown> {
  key: string;
  type: 'string' | 'int' | 'bool' | 'json' | 'secret';
  value: T;
  source: 'org' | 'global';
}

export interface GetOptions<T> {
  /** Returned instead of raising `ConfigNotFoundError` when the key does not exist (even `undefined`). */
  default?: T;
}

export interface SetOptions {
  /** Store the value as an encrypted secret. */
  isSecret?: boolean;
  /** Keep a plain value that looks like a credential plain (else the server answers 400 LOOKS_LIKE_A_SECRET). */
  allowSecretLikeValue?: boolean;
}

export type ExecutionStatus = 'running' | 'success' | 'failed' | (string & {});

/** What `POST /api/executions` answers. */
export interface Execution {
  id: string;
  orgId: string;
  workflow: string;
  status: ExecutionStatus;
  /** When the run's execution token expires (the token itself stays inside the client). */
  tokenExpiresAt?: string;
}

export interface ExecutionLogLine {
  level: string;
  message: string;
  [extra: string]: unknown;
}

/** What `GET /api/executions/{id}` answers (and, by the contract's silence, what `finish` answers). */
export interface ExecutionRecord extends Execution {
  logs?: ExecutionLogLine[];
  result?: unknown;
  error?: unknown;
  startedAt?: string;
  finishedAt?: string | null;
  [extra: string]: unknown;
}

/** Common log levels; any string is accepted. */
export type LogLevel = 'debug' | 'info' | 'warning' | 'warn' | 'error' | 'critical' | (string & {});

/** The `error` of a failed execution. */
export interface ExecutionErrorInfo {
  name: string;
  message: string;
}

/** An explicit outcome for `execution.finishWith`. */
export interface ExecutionOutcome {
  status: 'success' | 'failed';
  result?: unknown;
  error?: ExecutionErrorInfo | Error | string;
}
