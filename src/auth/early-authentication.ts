import type { FastifyInstance, FastifyRequest } from 'fastify';
import { pathOf, RequestWithContext } from '../common/request-context';
import { GlobalAuthGuard } from './auth.guard';

/** Does the request bring a body (a Content-Length over 0, or a chunked one)? */
export function bringsBody(req: Pick<FastifyRequest, 'headers'>): boolean {
  const length = req.headers['content-length'];
  if (length !== undefined) return length !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/**
 * A request with a body to the API is identified before its body is read: without a valid token
 * it gets its 401 (or the throttle's 429) at once, and the connection is closed rather than the
 * body read to its end. So an unauthenticated client cannot make the service read, hold or parse a
 * body (up to 512 MiB for an import) or keep a connection for the body's whole trickle.
 *
 * Every route under /api needs a token (the public routes, /health and /docs, take no body). The
 * guard then uses the principal found here; it checks the route's roles as for any request.
 */
export function registerEarlyAuthentication(fastify: FastifyInstance, guard: GlobalAuthGuard): void {
  fastify.addHook('preParsing', async (req, reply, payload) => {
    if (!bringsBody(req) || !pathOf(req).startsWith('/api/')) return payload;
    try {
      await guard.identify(req as RequestWithContext);
    } catch (err) {
      void reply.header('Connection', 'close');
      throw err;
    }
    return payload;
  });
}
