/** `client.execution`: the execution helper (`/api/executions`). */
import { types } from 'node:util';

import { ExecutionNotStartedError, ServerError, ValidationError } from './errors';
import type { HttpTransport } from './http';
import type {
  Execution,
  ExecutionErrorInfo,
  ExecutionOutcome,
  ExecutionRecord,
  LogLevel,
} from './types';

export interface LogBatching {
  batchSize: number;
  maxBytes: number;
  intervalMs: number;
}

/** The service accepts log levels of 1 to 16 characters (`POST /api/executions/{id}/logs`). */
export const MAX_LEVEL_LENGTH = 16;

export const LOG_DEFAULTS: LogBatching = { batchSize: 100, maxBytes: 256 * 1024, intervalMs: 1_000 };

interface PendingLine {
  executionId: string;
  line: { level: string; message: string };
  bytes: number;
}

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** `instanceof Error` fails for errors made in another realm (a VM context, Jest): check both ways. */
function isError(x: unknown): x is Error {
  return x instanceof Error || types.isNativeError(x);
}

/** `{name, message}` of anything thrown; never a stack. */
export function toErrorInfo(error: unknown): ExecutionErrorInfo {
  if (isError(error)) return { name: error.name || 'Error', message: String(error.message) };
  if (typeof error === 'string') return { name: 'Error', message: error };
  if (isRecord(error) && 'message' in error) {
    return { name: typeof error.name === 'string' && error.name !== '' ? error.name : 'Error', message: String(error.message) };
  }
  return { name: 'Error', message: String(error) };
}

const enc = encodeURIComponent;

/**
 * Starts an execution, sends its log lines (buffered, in batches), registers
 * dynamic secrets with its scrubber and finishes it. Its methods are bound, so
 * `const { execution } = client` works.
 *
 * Log delivery: `log()` returns at once and never rejects. Lines go out in
 * order, in batches of at most `logBatchSize` lines (and about `logBatchMaxBytes`):
 * a full batch at once, in the background; the rest `logFlushIntervalMs` after
 * the first buffered line. `flush()` sends
 * what is buffered now; `finish()` always flushes first. A batch that fails is
 * not re-sent (log POSTs are not idempotent); a failure of a background send is
 * raised by the next `flush()` (and so by `finish()`, which then does not
 * finish: call it again).
 */
export class ExecutionClient {
  private buffer: PendingLine[] = [];
  private bufferedBytes = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private chain: Promise<void> = Promise.resolve();
  private backgroundError: unknown = undefined;

  constructor(
    private readonly http: HttpTransport,
    private readonly batching: LogBatching = LOG_DEFAULTS,
  ) {
    this.start = this.start.bind(this);
    this.log = this.log.bind(this);
    this.flush = this.flush.bind(this);
    this.registerSecret = this.registerSecret.bind(this);
    this.finish = this.finish.bind(this);
    this.fail = this.fail.bind(this);
    this.finishWith = this.finishWith.bind(this);
    this.get = this.get.bind(this);
  }

  /** The current execution's id (from `start`, or the client's `executionId`), if any. */
  get id(): string | undefined {
    return this.http.executionId;
  }

  /** Number of log lines buffered and not yet sent. */
  get pendingLines(): number {
    return this.buffer.length;
  }

  /**
   * `POST /api/executions {workflow}`: creates a running execution and makes it the
   * current one. The answer's execution token is used from then on for everything the
   * run does that it may do: config reads (`config.get`, `config.all`), logs, secrets
   * and the finish, so the run's requests never carry the client's long-lived token. It
   * is dropped when the run finishes. `config.set`/`config.delete` and `execution.get`
   * are not open to an execution token and still use the client's token. (Against a
   * service that answers no token, the id is sent as `X-Bifrost-Execution` instead.)
   * Never retried (not idempotent).
   */
  async start(workflow: string): Promise<Execution> {
    if (typeof workflow !== 'string' || workflow === '') {
      throw new ValidationError('workflow must be a non-empty string', { status: 0, code: 'INVALID_WORKFLOW' });
    }
    const path = '/api/executions';
    const { body } = await this.http.request({ method: 'POST', path, body: { workflow } });
    if (!isRecord(body) || typeof body.id !== 'string' || body.id === '') {
      throw new ServerError(`POST ${path}: the answer has no execution id`, { code: 'INVALID_RESPONSE', method: 'POST', path });
    }
    this.http.executionId = body.id;
    this.http.useExecutionToken(typeof body.token === 'string' && body.token !== '' ? body.token : undefined);
    const { token: _token, ...execution } = body;
    return execution as unknown as Execution;
  }

  /**
   * Buffers one log line of the current execution; returns at once.
   * @throws ExecutionNotStartedError when there is no current execution.
   * @throws ValidationError (`INVALID_LEVEL`) when `level` is not a string of 1 to 16 characters
   *         (the service would refuse the whole batch).
   */
  log(level: LogLevel, message: string): void {
    const executionId = this.requireId();
    // The service refuses a whole batch for one bad level: refuse the line here, where the mistake is.
    if (typeof level !== 'string' || level.length < 1 || level.length > MAX_LEVEL_LENGTH) {
      throw new ValidationError(`log level must be a string of 1 to ${MAX_LEVEL_LENGTH} characters`, { status: 0, code: 'INVALID_LEVEL' });
    }
    const line = { level, message: typeof message === 'string' ? message : String(message) };
    const bytes = Buffer.byteLength(JSON.stringify(line)) + 1;
    this.buffer.push({ executionId, line, bytes });
    this.bufferedBytes += bytes;
    if (this.batchIsFull()) this.flushInBackground(true);
    else this.armTimer();
  }

  /**
   * Sends every buffered line now (`POST /api/executions/{id}/logs`, in batches).
   * Rejects with the first delivery error, including one of an earlier background send.
   */
  flush(): Promise<void> {
    return this.flushQueued().then(
      () => {
        const earlier = this.backgroundError;
        this.backgroundError = undefined;
        if (earlier !== undefined) throw earlier;
      },
      (err: unknown) => {
        this.backgroundError = undefined;
        throw err;
      },
    );
  }

  /**
   * `POST /api/executions/{id}/secrets {values}`: the execution's scrubber redacts these
   * from now on (OAuth tokens and the like). Never retried.
   */
  async registerSecret(value: string | readonly string[]): Promise<void> {
    const id = this.requireId();
    const values = typeof value === 'string' ? [value] : [...value];
    if (values.length === 0) return;
    if (values.some((v) => typeof v !== 'string')) {
      throw new ValidationError('secrets must be strings', { status: 0, code: 'INVALID_VALUE' });
    }
    await this.http.request({
      method: 'POST',
      path: `/api/executions/${enc(id)}/secrets`,
      body: { values },
      sensitive: values,
      asExecution: true,
    });
  }

  /**
   * Flushes the logs, then finishes the current execution:
   * given an `Error` → `{status: 'failed', error: {name, message}}`;
   * anything else (or nothing) → `{status: 'success', result}`.
   * To fail with something that is not an `Error`, use {@link fail}; to send an explicit
   * outcome, {@link finishWith}. Resolves to the server's answer. Never retried.
   */
  async finish(resultOrError?: unknown): Promise<ExecutionRecord> {
    if (isError(resultOrError)) return this.finishWith({ status: 'failed', error: toErrorInfo(resultOrError) });
    return this.finishWith({ status: 'success', result: resultOrError });
  }

  /** Finishes the current execution as failed; `error` may be an Error, a string or `{name?, message}`. */
  async fail(error: unknown): Promise<ExecutionRecord> {
    return this.finishWith({ status: 'failed', error: toErrorInfo(error) });
  }

  /** Flushes the logs, then `POST /api/executions/{id}/finish` with exactly this outcome. */
  async finishWith(outcome: ExecutionOutcome): Promise<ExecutionRecord> {
    const id = this.requireId();
    if (outcome.status !== 'success' && outcome.status !== 'failed') {
      throw new ValidationError("status must be 'success' or 'failed'", { status: 0, code: 'INVALID_STATUS' });
    }
    const body: Record<string, unknown> = { status: outcome.status };
    if (outcome.result !== undefined) body.result = outcome.result;
    if (outcome.error !== undefined) body.error = toErrorInfo(outcome.error);
    await this.flush();
    const { body: answer } = await this.http.request({
      method: 'POST',
      path: `/api/executions/${enc(id)}/finish`,
      body,
      asExecution: true,
    });
    // The run is over and its token with it: back to the client's own token.
    this.http.useExecutionToken(undefined);
    return answer as ExecutionRecord;
  }

  /** `GET /api/executions/{id}` (the current execution by default), as stored: scrubbed. */
  async get(id?: string): Promise<ExecutionRecord> {
    const target = id ?? this.requireId();
    const { body } = await this.http.request({ method: 'GET', path: `/api/executions/${enc(target)}` });
    return body as ExecutionRecord;
  }

  private requireId(): string {
    const id = this.http.executionId;
    if (id === undefined) throw new ExecutionNotStartedError();
    return id;
  }

  private batchIsFull(): boolean {
    return this.buffer.length >= this.batching.batchSize || this.bufferedBytes >= this.batching.maxBytes;
  }

  private armTimer(): void {
    if (this.timer !== undefined || this.buffer.length === 0) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.flushInBackground(false);
    }, this.batching.intervalMs);
  }

  private clearTimer(): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
  }

  /**
   * Queues a drain after the ones in progress, so batches leave in order.
   * `fullOnly`: send full batches only and leave the rest to the timer.
   */
  private flushQueued(fullOnly = false): Promise<void> {
    if (!fullOnly) this.clearTimer();
    const run = this.chain.then(() => this.drain(fullOnly)).finally(() => this.armTimer());
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  private flushInBackground(fullOnly: boolean): void {
    this.flushQueued(fullOnly).catch((err: unknown) => {
      if (this.backgroundError === undefined) this.backgroundError = err;
    });
  }

  private async drain(fullOnly: boolean): Promise<void> {
    const { batchSize, maxBytes } = this.batching;
    while (this.buffer.length > 0 && (!fullOnly || this.batchIsFull())) {
      const executionId = this.buffer[0].executionId;
      let n = 0;
      let bytes = 0;
      while (
        n < this.buffer.length &&
        n < batchSize &&
        this.buffer[n].executionId === executionId &&
        (n === 0 || bytes + this.buffer[n].bytes <= maxBytes)
      ) {
        bytes += this.buffer[n].bytes;
        n++;
      }
      const batch = this.buffer.splice(0, n);
      this.bufferedBytes -= bytes;
      const lines = batch.map((p) => p.line);
      await this.http.request({
        method: 'POST',
        path: `/api/executions/${enc(executionId)}/logs`,
        body: { lines },
        sensitive: lines.map((l) => l.message),
        asExecution: executionId === this.http.executionId,
      });
    }
  }
}
