import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import type { NextFunction, Request, Response } from 'express';
import type { Principal } from '../auth/roles';

/** What every layer may need to know about the request it serves, without threading it through. */
export interface RequestContext {
  requestId: string;
  ip: string | null;
  userAgent: string | null;
  method: string;
  path: string;
  principal?: Principal;
  /** The org the request acts for (the principal's, or X-Bifrost-Org / the path for org-less ones). */
  orgId?: string | null;
  executionId?: string | null;
}

const storage = new AsyncLocalStorage<RequestContext>();

export const currentContext = (): RequestContext | undefined => storage.getStore();

export function runWithContext<T>(ctx: RequestContext, fn: () => T): T {
  return storage.run(ctx, fn);
}

const SAFE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Express middleware: a request id for every request (echoed in `X-Request-Id`), and the context. */
export function requestContextMiddleware(req: Request, res: Response, next: NextFunction): void {
  const incoming = req.header('x-request-id');
  const requestId = incoming && SAFE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
  res.setHeader('X-Request-Id', requestId);
  const ctx: RequestContext = {
    requestId,
    ip: req.socket.remoteAddress ?? null,
    userAgent: req.header('user-agent')?.slice(0, 255) ?? null,
    method: req.method,
    path: req.path,
  };
  (req as Request & { context?: RequestContext }).context = ctx;
  storage.run(ctx, next);
}
