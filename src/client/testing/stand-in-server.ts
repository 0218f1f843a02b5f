/**
 * Test support only (not exported by the client's index): real HTTP stand-in
 * servers on 127.0.0.1, port 0, built on `node:http`.
 */
import { createServer, STATUS_CODES, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BifrostClient } from '../client';
import type { BifrostError } from '../errors';
import type { BifrostClientOptions } from '../types';

export interface RecordedRequest {
  method: string;
  /** Path and query as received, e.g. `/api/sdk/configs/foo`. */
  url: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body, the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
}

export type Handler = (req: RecordedRequest, res: ServerResponse, raw: IncomingMessage) => unknown;

export interface StandIn {
  url: string;
  port: number;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  if (body === undefined) {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** An error in the service's shape. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  sendJson(res, status, { statusCode: status, error: STATUS_CODES[status] ?? 'Error', code, message, ...extra }, headers);
}

export async function startStandIn(handler: Handler): Promise<StandIn> {
  const requests: RecordedRequest[] = [];
  const server: Server = createServer((raw, res) => {
    const chunks: Buffer[] = [];
    raw.on('data', (c: Buffer) => chunks.push(c));
    raw.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = undefined;
      if (text !== '') {
        try {
          body = JSON.parse(text);
        } catch {
          body = text;
        }
      }
      const req: RecordedRequest = { method: raw.method ?? '', url: raw.url ?? '', headers: raw.headers, body };
      requests.push(req);
      Promise.resolve(handler(req, res, raw)).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, 500, 'STAND_IN_FAILED', String(err));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port with nothing listening on it (a server opened and closed). */
export async function closedPort(): Promise<number> {
  const s = await startStandIn((_req, res) => sendJson(res, 200, {}));
  await s.close();
  return s.port;
}

export interface FakeConfig {
  type: 'string' | 'int' | 'bool' | 'json' | 'secret';
  value: unknown;
  source?: 'org' | 'global';
}

export interface FakeExecution {
  id: string;
  orgId: string;
  workflow: string;
  status: string;
  logs: { level: string; message: string }[];
  secrets: string[];
  result?: unknown;
  error?: unknown;
}

/**
 * An in-memory Bifrost speaking the SDK and executions part of the contract
 * (no scrubbing: it shows what the client sends).
 */
/**
 * With `executionTokens`, POST /api/executions answers an execution token as the service does, which
 * is accepted for SDK reads and its own execution's logs, secrets and finish only (403 elsewhere)
 * until that execution finishes (401 then).
 */
export function fakeBifrost(opts: { token: string; orgId?: string; configs?: Record<string, FakeConfig>; executionTokens?: boolean }): {
  handler: Handler;
  configs: Map<string, FakeConfig>;
  executions: Map<string, FakeExecution>;
} {
  const configs = new Map(Object.entries(opts.configs ?? {}));
  const executions = new Map<string, FakeExecution>();
  const orgId = opts.orgId ?? 'org-1';
  let next = 1;
  /** Execution token → its execution id. */
  const executionTokens = new Map<string, string>();
  const handler: Handler = (req, res) => {
    const path = req.url.split('?')[0];
    const presented = String(req.headers.authorization ?? '').replace(/^Bearer /, '');
    const boundTo = executionTokens.get(presented);
    if (boundTo !== undefined) {
      if (executions.get(boundTo)?.status !== 'running') return sendError(res, 401, 'EXECUTION_TOKEN_FINISHED', 'The execution has finished');
      const own = path.match(/^\/api\/executions\/([^/]+)\/(logs|secrets|finish)$/);
      const sdkRead = req.method === 'GET' && /^\/api\/sdk\/configs(\/[^/]+)?$/.test(path);
      if (!sdkRead && !(own && req.method === 'POST')) return sendError(res, 403, 'EXECUTION_TOKEN_NOT_ALLOWED', 'Not open to an execution token');
      if (own && decodeURIComponent(own[1]) !== boundTo) return sendError(res, 403, 'EXECUTION_TOKEN_MISMATCH', 'Another execution');
    } else if (presented !== opts.token) return sendError(res, 401, 'UNAUTHORIZED', 'Missing or unknown token');
    const body = (req.body ?? {}) as Record<string, unknown>;
    let m: RegExpMatchArray | null;
    if (path === '/api/sdk/configs' && req.method === 'GET') {
      const out: Record<string, unknown> = {};
      for (const [k, c] of configs) out[k] = c.type === 'secret' ? '••••••' : c.value;
      return sendJson(res, 200, out);
    }
    if ((m = path.match(/^\/api\/sdk\/configs\/([^/]+)$/))) {
      const key = decodeURIComponent(m[1]);
      const c = configs.get(key);
      if (req.method === 'GET') {
        if (!c) return sendError(res, 404, 'CONFIG_NOT_FOUND', `Config ${key} not found`);
        return sendJson(res, 200, { key, type: c.type, value: c.value, source: c.source ?? 'org' });
      }
      if (req.method === 'PUT') {
        const v = body.value;
        const type = body.isSecret === true ? 'secret' : typeof v === 'boolean' ? 'bool' : Number.isInteger(v) ? 'int' : typeof v === 'object' ? 'json' : 'string';
        configs.set(key, { type, value: v });
        return sendJson(res, 204);
      }
      if (req.method === 'DELETE') {
        if (!c) return sendError(res, 404, 'CONFIG_NOT_FOUND', `Config ${key} not found`);
        configs.delete(key);
        return sendJson(res, 204);
      }
    }
    if (path === '/api/executions' && req.method === 'POST') {
      const e: FakeExecution = { id: `exec-${next++}`, orgId, workflow: String(body.workflow), status: 'running', logs: [], secrets: [] };
      executions.set(e.id, e);
      if (!opts.executionTokens) return sendJson(res, 201, { id: e.id, orgId, workflow: e.workflow, status: e.status });
      const token = `bft_fake_execution_token_${e.id}_0123456789abcdef`;
      executionTokens.set(token, e.id);
      return sendJson(res, 201, { id: e.id, orgId, workflow: e.workflow, status: e.status, token, tokenExpiresAt: new Date(Date.now() + 3600_000).toISOString() });
    }
    if ((m = path.match(/^\/api\/executions\/([^/]+)(?:\/(logs|secrets|finish))?$/))) {
      const e = executions.get(decodeURIComponent(m[1]));
      if (!e) return sendError(res, 404, 'EXECUTION_NOT_FOUND', 'Execution not found');
      const action = m[2];
      if (action === undefined && req.method === 'GET') return sendJson(res, 200, e);
      if (action === 'logs' && req.method === 'POST') {
        e.logs.push(...(body.lines as FakeExecution['logs']));
        return sendJson(res, 204);
      }
      if (action === 'secrets' && req.method === 'POST') {
        e.secrets.push(...(body.values as string[]));
        return sendJson(res, 204);
      }
      if (action === 'finish' && req.method === 'POST') {
        if (e.status !== 'running') return sendError(res, 409, 'EXECUTION_FINISHED', 'Execution already finished');
        e.status = String(body.status);
        e.result = body.result ?? null;
        e.error = body.error ?? null;
        return sendJson(res, 200, e);
      }
    }
    return sendError(res, 404, 'NOT_FOUND', `Cannot ${req.method} ${path}`);
  };
  return { handler, configs, executions };
}

/**
 * For a spec file: `const serve = standInsPerTest()` starts stand-ins on demand and closes every one
 * after each test; `specClient` builds a client with near-zero retry delays.
 */
export function standInsPerTest(): (handler: Handler) => Promise<StandIn> {
  const servers: StandIn[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => s.close()));
  });
  return async (handler) => {
    const s = await startStandIn(handler);
    servers.push(s);
    return s;
  };
}

export function specClient(token: string, url: string, extra: Partial<BifrostClientOptions> = {}): BifrostClient {
  return new BifrostClient({ baseUrl: url, token, retryBaseMs: 1, retryMaxMs: 5, ...extra });
}

/** The rejection of `p`; fails the test if it resolves. */
export async function rejection(p: Promise<unknown>): Promise<BifrostError> {
  try {
    await p;
  } catch (err) {
    return err as BifrostError;
  }
  throw new Error('expected a rejection');
}
