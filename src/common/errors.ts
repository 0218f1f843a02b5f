import { HttpException, HttpStatus } from '@nestjs/common';

/**
 * The one error type handlers throw: a status, a stable upper-snake `code` and a message that never
 * carries a submitted value.
 */
export class AppError extends HttpException {
  constructor(
    status: HttpStatus,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super({ code, message, details }, status);
  }
}

export const badRequest = (code: string, message: string, details?: unknown) =>
  new AppError(HttpStatus.BAD_REQUEST, code, message, details);
export const notFound = (code: string, message: string) => new AppError(HttpStatus.NOT_FOUND, code, message);
export const forbidden = (message = 'You may not act in this scope', code = 'FORBIDDEN') =>
  new AppError(HttpStatus.FORBIDDEN, code, message);
export const conflict = (code: string, message: string) => new AppError(HttpStatus.CONFLICT, code, message);
export const unauthorized = (message = 'A valid bearer token is required', code = 'UNAUTHORIZED') =>
  new AppError(HttpStatus.UNAUTHORIZED, code, message);
export const serviceUnavailable = (code: string, message: string) =>
  new AppError(HttpStatus.SERVICE_UNAVAILABLE, code, message);

/** A token that is not (or no longer) valid: the guard's answer, and a handler's that checked the token itself. */
export const invalidToken = () => unauthorized('Unknown or revoked token', 'INVALID_TOKEN');
