import type { FastifyInstance } from 'fastify';
import { AllExceptionsFilter, toErrorBody } from './all-exceptions.filter';
import { invalidToken } from './errors';
import { RequestWithContext } from './request-context';

/**
 * Nothing leaves a request whose token check is still pending (@TokenCheckedByHandler, when the
 * handler did not settle it): the token's row is read now, and a revoked, unknown or changed token
 * replaces the response with 401 INVALID_TOKEN (audited as a denial). Errors were settled by the
 * exception filter already; this catches a handler that answered without confirming.
 */
export function registerTokenCheckBackstop(fastify: FastifyInstance): void {
  fastify.addHook('onSend', async (req, reply, payload) => {
    const check = (req as RequestWithContext).context?.tokenCheck;
    if (!check || check.state === 'confirmed') return payload;
    // Refused earlier: the exception filter answered (and audited) the 401 already.
    if (check.state === 'refused' && reply.statusCode === 401) return payload;
    let refusal: unknown;
    try {
      if (!(await check.confirm())) refusal = invalidToken();
    } catch (err) {
      refusal = err;
    }
    // confirm() moved the state (TypeScript cannot see it through the await).
    if (!refusal && (check as { state: string }).state !== 'confirmed') refusal = invalidToken();
    if (!refusal) return payload;
    const body = toErrorBody(refusal);
    if (body.statusCode === 401) await AllExceptionsFilter.recordDenial(req as RequestWithContext, 401, body.code).catch(() => undefined);
    void reply.code(body.statusCode).header('Content-Type', 'application/json; charset=utf-8');
    return JSON.stringify(body);
  });
}
