import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import type { Request, Response } from 'express';
import { STATUS_CODES } from 'node:http';
import { AppError } from './errors';
import { isConnectionError } from './database';
import { currentContext } from './request-context';

export interface ErrorBody {
  statusCode: number;
  error: string;
  code: string;
  message: string;
  details?: unknown;
}

/** Called for every 401/403 on /api so the denial is audited (set by the AuditModule). */
export type DenialRecorder = (req: Request, status: number, reason: string) => Promise<void>;

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

/** body-parser and raw-body errors carry a `type`; their messages may quote the body, so never use them. */
const BODY_PARSER_ERRORS: Record<string, [number, string, string]> = {
  'entity.parse.failed': [400, 'INVALID_JSON', 'The request body is not valid JSON'],
  'entity.too.large': [413, 'PAYLOAD_TOO_LARGE', 'The request body is too large'],
  'encoding.unsupported': [415, 'UNSUPPORTED_ENCODING', 'The request body encoding is not supported'],
  'charset.unsupported': [415, 'UNSUPPORTED_CHARSET', 'The request body charset is not supported'],
  'request.aborted': [400, 'REQUEST_ABORTED', 'The request was aborted'],
  'entity.verify.failed': [400, 'INVALID_BODY', 'The request body was rejected'],
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
  // Nest wraps body-parser and URI errors in HttpExceptions whose messages can quote the request.
  const cause = (exception as { cause?: { type?: string } })?.cause;
  const parserError = (exception as { type?: string })?.type ?? cause?.type;
  if (typeof parserError === 'string' && BODY_PARSER_ERRORS[parserError]) {
    const [status, code, message] = BODY_PARSER_ERRORS[parserError];
    return { statusCode: status, error: STATUS_CODES[status]!, code, message };
  }
  if (cause instanceof URIError) {
    return { statusCode: 400, error: STATUS_CODES[400]!, code: 'INVALID_PATH', message: 'The path is not validly percent-encoded' };
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
  if (isConnectionError(exception)) {
    return { statusCode: 503, error: STATUS_CODES[503]!, code: 'DATABASE_UNAVAILABLE', message: 'The database is unavailable; try again shortly' };
  }
  return { statusCode: 500, error: STATUS_CODES[500]!, code: 'INTERNAL_ERROR', message: 'Internal server error' };
}

@Catch()
export class AllExceptionsFilter implements ExceptionFilter {
  private static recorder?: DenialRecorder;
  private readonly logger = new Logger('Exceptions');

  static setDenialRecorder(recorder: DenialRecorder | undefined): void {
    AllExceptionsFilter.recorder = recorder;
  }

  async catch(exception: unknown, host: ArgumentsHost): Promise<void> {
    const http = host.switchToHttp();
    const res = http.getResponse<Response>();
    const req = http.getRequest<Request>();
    const body = toErrorBody(exception);
    if (body.statusCode >= 500 && body.code === 'INTERNAL_ERROR') {
      // Only the class and stack: driver messages can quote parameters.
      const err = exception as Error;
      this.logger.error({ msg: 'unhandled error', errorName: err?.name, stack: err?.stack?.split('\n').slice(1, 6).join('\n') });
    } else if (body.statusCode >= 500) {
      this.logger.warn({ msg: 'request failed', code: body.code });
    }
    if ((body.statusCode === 401 || body.statusCode === 403) && req.path?.startsWith('/api') && AllExceptionsFilter.recorder) {
      try {
        await AllExceptionsFilter.recorder(req, body.statusCode, body.code);
      } catch (err) {
        this.logger.error({ msg: 'audit of a denied request failed', errorName: (err as Error)?.name });
      }
    }
    if (res.headersSent) return;
    const requestId = currentContext()?.requestId;
    if (requestId && !res.getHeader('X-Request-Id')) res.setHeader('X-Request-Id', requestId);
    if (body.statusCode === HttpStatus.TOO_MANY_REQUESTS && !res.getHeader('Retry-After')) res.setHeader('Retry-After', '60');
    res.status(body.statusCode).json(body);
  }
}
