import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Inject, Logger, Optional } from '@nestjs/common';
import { HttpAdapterHost } from '@nestjs/core';
import type { FastifyError, FastifyReply } from 'fastify';
import { STATUS_CODES } from 'node:http';
import { allowedMethods } from './allowed-methods';
import { AppError } from './errors';
import { isConnectionError, isDatabaseBusy } from './database';
import { BodyError } from './json-body';
import { currentContext, pathOf, RequestWithContext } from './request-context';

export interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  details?: unknown;
}

/** Called for every 401/403 on /api so the denial is audited (provided by the AuditModule). */
export type DenialRecorder = (req: RequestWithContext, status: number, reason: string) => Promise<void>;
export const DENIAL_RECORDER = Symbol('DenialRecorder');

/**
 * Settles a token check the request deferred (provided by the AuthModule), whichever guard, pipe or
 * handler failed: a revoked token is told its 401, never another error about the route. Resolves to
 * the refusal that replaces the error, or null.
 */
export type DeferredCheckSettler = (req: RequestWithContext) => Promise<unknown>;
export const DEFERRED_CHECK_SETTLER = Symbol('DeferredCheckSettler');

/** Replaces registered secrets in an error body before it is sent (provided by the ScrubberModule). */
export type ErrorBodyScrubber = (req: RequestWithContext, body: ErrorBody) => Promise<ErrorBody>;
export const ERROR_BODY_SCRUBBER = Symbol('ErrorBodyScrubber');

/** What is sent when an error body cannot be scrubbed: nothing of the original error. */
const WITHHELD: ErrorBody = {
  statusCode: 500,
  error: 'Internal Server Error',
  code: 'SCRUBBING_FAILED',
  message: 'The response could not be checked for secrets, so it was withheld',
};

const DEFAULT_CODES: Record<number, string> = {
  400: 'BAD_REQUEST',
  401: 'UNAUTHORIZED',
  403: 'FORBIDDEN',
  404: 'NOT_FOUND',
  405: 'METHOD_NOT_ALLOWED',
  409: 'CONFLICT',
  413: 'PAYLOAD_TOO_LARGE',
  415: 'UNSUPPORTED_MEDIA_TYPE',
  429: 'TOO_MANY_REQUESTS',
  500: 'INTERNAL_ERROR',
  503: 'SERVICE_UNAVAILABLE',
};

/** Fastify's own request errors, by code; their messages may quote the request, so never use them. */
const FASTIFY_ERRORS: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'UNSUPPORTED_MEDIA_TYPE', 'Send the body as application/json'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'PAYLOAD_TOO_LARGE', 'The request body is too large'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'INVALID_JSON', 'The request body is empty'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'INVALID_CONTENT_LENGTH', 'Content-Length does not match the body'],
  FST_ERR_CTP_INVALID_TYPE: [400, 'INVALID_CONTENT_TYPE', 'The Content-Type header is not valid'],
  FST_ERR_CTP_EMPTY_TYPE: [400, 'INVALID_CONTENT_TYPE', 'The Content-Type header is empty'],
  FST_ERR_BAD_URL: [400, 'INVALID_PATH', 'The path is not validly percent-encoded'],
  FST_ERR_MAX_PARAM_LENGTH: [414, 'URI_TOO_LONG', 'A path parameter is too long'],
  FST_ERR_ASYNC_CONSTRAINT: [400, 'BAD_REQUEST', 'The request could not be routed'],
};

/**
 * The one error shape (API.md). HttpExceptions keep their status; anything else is logged with the
 * request id and answered with a safe 500. Nothing from the request body is echoed.
 */
export function toErrorBody(exception: unknown): ErrorBody {
  if (exception instanceof AppError) {
    const status = exception.getStatus();
    const body: ErrorBody = { statusCode: status, error: STATUS_CODES[status] ?? 'Error', code: exception.code, message: exception.message };
    if (exception.details !== undefined) body.details = exception.details;
    return body;
  }
  // Nest wraps Fastify's request errors in HttpExceptions whose messages can quote the request.
  const cause = (exception as { cause?: unknown })?.cause ?? exception;
  if (cause instanceof BodyError) {
    return { statusCode: cause.statusCode, error: STATUS_CODES[cause.statusCode]!, code: cause.code, message: cause.message };
  }
  const fastifyCode = (cause as { code?: unknown })?.code;
  if (typeof fastifyCode === 'string' && FASTIFY_ERRORS[fastifyCode]) {
    const [status, code, message] = FASTIFY_ERRORS[fastifyCode];
    return { statusCode: status, error: STATUS_CODES[status]!, code, message };
  }
  if (cause instanceof SyntaxError || cause instanceof URIError) {
    return { statusCode: 400, error: STATUS_CODES[400]!, code: 'BAD_REQUEST', message: 'The request could not be read' };
  }
  if (exception instanceof HttpException) {
    const status = exception.getStatus();
    const response = exception.getResponse();
    let message = exception.message;
    let code = DEFAULT_CODES[status] ?? `HTTP_${status}`;
    if (typeof response === 'object' && response !== null) {
      const r = response as { message?: unknown; code?: unknown };
      if (typeof r.code === 'string') code = r.code;
      if (typeof r.message === 'string') message = r.message;
      else if (Array.isArray(r.message)) message = r.message.join('; ');
    }
    // Nest's 404 for an unknown route quotes the path: keep it generic.
    if (status === 404 && code === 'NOT_FOUND') message = 'No such route';
    return { statusCode: status, error: STATUS_CODES[status] ?? 'Error', code, message };
  }
  if (isDatabaseBusy(exception)) {
    return { statusCode: 503, error: STATUS_CODES[503]!, code: 'DATABASE_BUSY', message: 'The database is busy with another process’s write; nothing was done, try again shortly' };
  }
  if (isConnectionError(exception)) {
    return { statusCode: 503, error: STATUS_CODES[503]!, code: 'DATABASE_UNAVAILABLE', message: 'The database is unavailable; try again shortly' };
  }
  return { statusCode: 500, error: STATUS_CODES[500]!, code: 'INTERNAL_ERROR', message: 'Internal server error' };
}

/**
 * Fastify's `frameworkErrors`: a bad URL or an over-long path parameter is answered by the router
 * before Nest sees the request, and Fastify's own answer quotes the path. This gives it the one
 * error shape instead, with nothing of the path.
 */
export function replyToFrameworkError(error: FastifyError, _req: unknown, reply: FastifyReply): void {
  const body = toErrorBody(error);
  void reply.code(body.statusCode).header('Content-Type', 'application/json; charset=utf-8').send(JSON.stringify(body));
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private readonly logger = new Logger('Exceptions');

  constructor(
    private readonly adapterHost: HttpAdapterHost,
    @Optional() @Inject(DENIAL_RECORDER) private readonly recorder?: DenialRecorder,
    @Optional() @Inject(ERROR_BODY_SCRUBBER) private readonly scrubber?: ErrorBodyScrubber,
    @Optional() @Inject(DEFERRED_CHECK_SETTLER) private readonly settle?: DeferredCheckSettler,
  ) {}

  /** Every error body passes the scrubber (guards' errors never reach an interceptor); failing closed. */
  private async scrub(req: RequestWithContext, body: ErrorBody): Promise<ErrorBody> {
    try {
      return this.scrubber ? await this.scrubber(req, body) : body;
    } catch {
      return { ...WITHHELD };
    }
  }

  async catch(exception: unknown, host: ArgumentsHost): Promise<void> {
    const http = host.switchToHttp();
    const res = http.getResponse<FastifyReply>();
    const req = http.getRequest<RequestWithContext>();
    exception = (this.settle && (await this.settle(req))) || exception;
    let body = await this.scrub(req, toErrorBody(exception));
    // No route for this method: when the path is served with other methods, 405 with Allow.
    let allow: string[] = [];
    if (body.statusCode === 404 && body.code === 'NOT_FOUND') {
      allow = allowedMethods(req.server, pathOf(req));
      if (allow.length > 0 && !allow.includes(req.method)) {
        body = { statusCode: 405, error: STATUS_CODES[405]!, code: 'METHOD_NOT_ALLOWED', message: 'This path does not serve the method; the Allow header lists the methods it serves' };
      }
    }
    if (body.statusCode >= 500 && body.code === 'INTERNAL_ERROR') {
      // Only the class and stack: driver messages can quote parameters.
      const err = exception as Error;
      this.logger.error({ msg: 'unhandled error', errorName: err?.name, stack: err?.stack?.split('\n').slice(1, 6).join('\n') });
    } else if (body.statusCode >= 500) {
      this.logger.warn({ msg: 'request failed', code: body.code });
    }
    if ((body.statusCode === 401 || body.statusCode === 403) && pathOf(req).startsWith('/api') && this.recorder) {
      try {
        await this.recorder(req, body.statusCode, body.code);
      } catch (err) {
        this.logger.error({ msg: 'audit of a denied request failed', errorName: (err as Error)?.name });
      }
    }
    if (res.sent) return;
    const requestId = currentContext()?.requestId ?? req.context?.requestId;
    if (requestId && !res.getHeader('X-Request-Id')) res.header('X-Request-Id', requestId);
    if (body.statusCode === 405) res.header('Allow', allow.join(', '));
    // An error that says how long to wait (the throttle, import and export slots) gets its Retry-After.
    const retryAfter = (exception as { retryAfter?: unknown }).retryAfter;
    if (typeof retryAfter === 'number') res.header('Retry-After', String(retryAfter));
    else if (body.statusCode === HttpStatus.TOO_MANY_REQUESTS) res.header('Retry-After', '60');
    else if (body.code === 'DATABASE_BUSY') res.header('Retry-After', '1');
    this.adapterHost.httpAdapter.reply(res, body, body.statusCode);
  }
}
