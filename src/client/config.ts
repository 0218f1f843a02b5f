/** `client.config`: the SDK endpoints (`/api/sdk/configs`). */
import { ConfigNotFoundError, ServerError, ValidationError } from './errors';
import type { HttpTransport } from './http';
import type { GetOptions, SetOptions } from './types';

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * The path of one key. Rejects what could never be a key and would change the
 * URL's meaning (empty, `.`, `..`): `GET /api/sdk/configs/` is the list.
 */
function configPath(key: string): string {
  if (typeof key !== 'string' || key === '' || key === '.' || key === '..') {
    throw new ValidationError('config key must be a non-empty string other than "." and ".."', {
      status: 0,
      code: 'INVALID_KEY',
    });
  }
  return `/api/sdk/configs/${encodeURIComponent(key)}`;
}

/**
 * Reads and writes the configs of the client's org. Its methods are bound, so
 * `const { config } = client; const { get } = config;` both work.
 */
export class ConfigClient {
  constructor(private readonly http: HttpTransport) {
    this.get = this.get.bind(this);
    this.set = this.set.bind(this);
    this.list = this.list.bind(this);
    this.delete = this.delete.bind(this);
  }

  /**
   * The typed value of `key` (decrypted when it is a secret); the org's own
   * value shadows the global one. `GET /api/sdk/configs/{key}`.
   *
   * @throws ConfigNotFoundError when the key does not exist and no `default` is given
   *         (`{ default: undefined }` counts as given).
   * @throws SecretValueMissingError when the secret exists without a value.
   * @throws DecryptionFailedError when no configured key decrypts it.
   */
  async get<T = unknown>(key: string, options?: GetOptions<T>): Promise<T> {
    const path = configPath(key);
    let body: unknown;
    try {
      body = (await this.http.request({ method: 'GET', path, withExecution: true, key, asExecution: true })).body;
    } catch (err) {
      if (err instanceof ConfigNotFoundError && options !== undefined && 'default' in options) {
        return options.default as T;
      }
      throw err;
    }
    if (!isRecord(body) || !('value' in body)) {
      throw new ServerError(`GET ${path}: the answer has no value`, { code: 'INVALID_RESPONSE', method: 'GET', path });
    }
    return body.value as T;
  }

  /**
   * Creates or replaces `key` in the org's scope. The type is inferred by the server
   * (object/array → json, boolean → bool, integer → int, else string); `isSecret: true`
   * stores an encrypted secret. `PUT /api/sdk/configs/{key}`.
   */
  async set(key: string, value: unknown, options: SetOptions = {}): Promise<void> {
    const path = configPath(key);
    const body: { value: unknown; isSecret?: boolean; allowSecretLikeValue?: boolean } = { value };
    if (options.isSecret !== undefined) body.isSecret = options.isSecret;
    if (options.allowSecretLikeValue !== undefined) body.allowSecretLikeValue = options.allowSecretLikeValue;
    await this.http.request({ method: 'PUT', path, body, sensitive: [value], withExecution: true, key });
  }

  /** Every key of the cascade with its value, secrets as `"••••••"`. `GET /api/sdk/configs`. */
  async list(): Promise<Record<string, unknown>> {
    const path = '/api/sdk/configs';
    const { body } = await this.http.request({ method: 'GET', path, withExecution: true, asExecution: true });
    if (!isRecord(body)) {
      throw new ServerError(`GET ${path}: the answer is not an object`, { code: 'INVALID_RESPONSE', method: 'GET', path });
    }
    return body;
  }

  /**
   * Deletes the org's own `key` (a global one stays). `DELETE /api/sdk/configs/{key}`.
   * @throws ConfigNotFoundError when the org has no such key.
   */
  async delete(key: string): Promise<void> {
    await this.http.request({ method: 'DELETE', path: configPath(key), withExecution: true, key });
  }
}
