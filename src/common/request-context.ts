import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Principal } from '../auth/roles';

/** Who the request is and acts for, for every layer (audit, scrubbing, logs) without threading it through. */
export interface RequestContext {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
  method: string;
  path: string;
  /** The W3C trace id of a valid `traceparent`, for the request's log lines. */
  traceId?: string;
  principal?: Principal;
  /** The org the request acts for, when it names one (X-Bifrost-Org, the path, an execution): set by scopes' actFor only. */
  orgId?: string | null;
  executionId?: string | null;
}

export type RequestWithContext = FastifyRequest & { context?: RequestContext; user?: Principal };

const storage = new AsyncLocalStorage<RequestContext>();

export const currentContext = (): RequestContext | undefined => storage.getStore();

export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/**
 * The caller's X-Request-Id when it is well-formed, else a new one. The id is stored in the audit
 * log, which never holds a token: one that looks like a credential (our `bft_` prefix, or the very
 * bearer token presented) is replaced, not kept.
 */
function adoptRequestId(incoming: unknown, authorization: unknown): string {
  if (typeof incoming !== 'string' || !SAFE_REQUEST_ID.test(incoming)) return randomUUID();
  const bearer = typeof authorization === 'string' ? authorization.replace(/^Bearer\s+/i, '') : '';
  if (incoming.startsWith('bft_') || incoming === bearer) return randomUUID();
  return incoming;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;

/**
 * The trace id of a W3C `traceparent` (Trace Context, level 1), or undefined when it is absent or
 * malformed: lowercase hex only, version `ff` and all-zero ids invalid, nothing after the flags in
 * version 00 (a later version may append fields), one header only. Ignored, never refused: tracing
 * is the caller's business and must not break its request.
 */
export function traceIdOf(header: unknown): string | undefined {
  if (typeof header !== 'string' || header.length > 512) return undefined;
  const m = TRACEPARENT.exec(header);
  if (!m) return undefined;
  const [, version, traceId, parentId, , rest] = m;
  if (version === 'ff' || (version === '00' && rest !== undefined)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(parentId)) return undefined;
  return traceId;
}

/** The path without the query string (Fastify's `url` has both). */
export const pathOf = (req: FastifyRequest): string => req.url.split('?', 1)[0];

/**
 * A request id for every request (taken from a well-formed `X-Request-Id`, else new) echoed in the
 * response, and the request context. The context is entered again before the handler: body parsing
 * runs in the socket's async context, not the request's.
 */
export function registerRequestContext(fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (req, reply, done) => {
    const requestId = adoptRequestId(req.headers['x-request-id'], req.headers.authorization);
    reply.header('X-Request-Id', requestId);
    const ua = req.headers['user-agent'];
    const ctx: RequestContext = {
      requestId,
      // request.ip: the socket's address, or the client address the TRUST_PROXY proxies report.
      ip: req.ip || null,
      userAgent: typeof ua === 'string' ? ua.slice(0, 255) : null,
      method: req.method,
      path: pathOf(req),
    };
    const traceId = traceIdOf(req.headers.traceparent);
    if (traceId) ctx.traceId = traceId;
    (req as RequestWithContext).context = ctx;
    storage.run(ctx, done);
  });
  fastify.addHook('preHandler', (req, _reply, done) => {
    const ctx = (req as RequestWithContext).context;
    if (ctx) storage.run(ctx, done);
    else done();
  });
}
