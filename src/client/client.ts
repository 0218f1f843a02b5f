/** The Bifrost service client: what a workflow uses to read its configs and report its execution. */
import { ConfigClient } from './config';
import { ExecutionClient, LOG_DEFAULTS } from './execution';
import { HttpTransport } from './http';
import type { BifrostClientOptions } from './types';

function limit(value: number | undefined, fallback: number, name: string, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isFinite(value) || value < min) throw new TypeError(`BifrostClient: ${name} must be a number >= ${min}`);
  return Math.floor(value);
}

/**
 * ```ts
 * const { config, execution } = new BifrostClient({ baseUrl: 'http://127.0.0.1:3000', token });
 * await execution.start('charge_card');
 * const apiKey = await config.get<string>('stripe_api_key');
 * ```
 * `config` and `execution` are plain properties whose methods are bound: destructure freely.
 */
export class BifrostClient {
  /** Config reads and writes (`/api/sdk/configs`). */
  readonly config: ConfigClient;
  /** The execution helper (`/api/executions`). */
  readonly execution: ExecutionClient;
  private readonly http: HttpTransport;

  constructor(options: BifrostClientOptions) {
    if (typeof options !== 'object' || options === null) throw new TypeError('BifrostClient: options are required');
    this.http = new HttpTransport(options);
    this.config = new ConfigClient(this.http);
    this.execution = new ExecutionClient(this.http, {
      batchSize: limit(options.logBatchSize, LOG_DEFAULTS.batchSize, 'logBatchSize', 1),
      maxBytes: limit(options.logBatchMaxBytes, LOG_DEFAULTS.maxBytes, 'logBatchMaxBytes', 1),
      intervalMs: limit(options.logFlushIntervalMs, LOG_DEFAULTS.intervalMs, 'logFlushIntervalMs', 0),
    });
  }

  /** The server root the client talks to (without `/api`). */
  get baseUrl(): string {
    return this.http.baseUrl;
  }

  /** The execution sent as `X-Bifrost-Execution`: the `executionId` option, or the last `execution.start`. */
  get executionId(): string | undefined {
    return this.http.executionId;
  }

  /** Keeps the token out of `console.log(client)` and `JSON.stringify(client)`. */
  toJSON(): Record<string, unknown> {
    return { baseUrl: this.http.baseUrl, executionId: this.http.executionId };
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return `BifrostClient { baseUrl: '${this.http.baseUrl}', executionId: ${this.http.executionId === undefined ? 'undefined' : `'${this.http.executionId}'`} }`;
  }
}
