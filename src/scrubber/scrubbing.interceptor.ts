import { CallHandler, ExecutionContext, HttpStatus, Injectable, Logger, NestInterceptor } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { mergeMap, Observable } from 'rxjs';
import { isConnectionError } from '../common/database';
import { AppError } from '../common/errors';
import { SCRUB_EXEMPT_KEY } from './scrub-exempt.decorator';
import { ScrubbableRequest, SECRETS_UNREADABLE, SecretRegistry } from './secret-registry';

export const SCRUBBING_FAILED = 'SCRUBBING_FAILED';

export const scrubbingFailed = () =>
  new AppError(HttpStatus.INTERNAL_SERVER_ERROR, SCRUBBING_FAILED, 'The response could not be checked for secrets, so it was withheld');

/**
 * The backstop behind every handler: its response body leaves only after every secret registered
 * for the request (its org's, the global ones, the named execution's) is replaced. The fields named
 * by @ScrubExempt() on the handler pass unchanged. If scrubbing fails in any way, the handler's
 * output is dropped and the client gets a 500 (fail closed).
 */
@Injectable()
export class ScrubbingInterceptor implements NestInterceptor {
  private readonly logger = new Logger('Scrubber');

  constructor(
    private readonly reflector: Reflector,
    private readonly registry: SecretRegistry,
  ) {}

  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    if (context.getType() !== 'http') return next.handle();
    const req = context.switchToHttp().getRequest<ScrubbableRequest>();
    const exempt = this.reflector.get<string[] | undefined>(SCRUB_EXEMPT_KEY, context.getHandler()) ?? [];
    // The target is read after the handler ran: it may have named the org (X-Bifrost-Org) or the execution.
    return next.handle().pipe(mergeMap((body: unknown) => this.scrub(req, body, exempt)));
  }

  private async scrub(req: ScrubbableRequest, body: unknown, exempt: readonly string[]): Promise<unknown> {
    if (body === undefined || body === null) return body;
    try {
      const scrubber = await this.registry.forRequest(req);
      return scrubber.scrubBody(body, exempt);
    } catch (err) {
      // The body is withheld either way; a database that cannot be reached is said as such (503), and
      // so is a scope holding a secret no configured key opens (503 SECRETS_UNREADABLE).
      if (isConnectionError(err)) throw err;
      if (err instanceof AppError && err.code === SECRETS_UNREADABLE) throw err;
      this.logger.error({ msg: 'scrubbing a response failed; the response was withheld', errorName: (err as Error)?.name });
      throw scrubbingFailed();
    }
  }
}
