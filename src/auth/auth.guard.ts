import { CanActivate, ExecutionContext, HttpStatus, Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import passport from 'passport';
import { DENIAL_RECORDER, DenialRecorder } from '../common/all-exceptions.filter';
import { AppError, forbidden, invalidToken, unauthorized } from '../common/errors';
import { RequestWithContext } from '../common/request-context';
import { PUBLIC_KEY, ROLES_KEY, TOKEN_CHECKED_BY_HANDLER_KEY } from './auth.decorators';
import { AuthThrottle } from './auth-throttle';
import { BearerStrategy, MAY_DEFER_TOKEN_CHECK } from './bearer.strategy';
import { TokenRefusedError } from './token-refusals';
import { Principal, Role } from './roles';

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/;

/**
 * The one global guard: the passport bearer strategy authenticates the token, this counts failures
 * for the throttle and checks the route's @Roles(). Routes without @Roles() or @Public() are
 * refused, so a forgotten decorator fails closed.
 *
 * Passport is handed this application's strategy instance rather than the name 'bearer': names live
 * in passport's process-wide registry, where a second application in the same process (a test, a
 * CLI) would replace the first one's strategy and its database.
 */
@Injectable()
export class GlobalAuthGuard implements CanActivate {
  private readonly logger = new Logger('Auth');

  constructor(
    private readonly reflector: Reflector,
    private readonly throttle: AuthThrottle,
    private readonly strategy: BearerStrategy,
    @Optional() @Inject(DENIAL_RECORDER) private readonly recordDenial?: DenialRecorder,
  ) {}

  /**
   * The principal, false for an unknown or revoked token; a database failure rejects.
   *
   * Passport sets its per-request callbacks (success, fail, error) on the strategy object it is
   * given, and uses an instance it is handed as is. So each request gets its own object inheriting
   * from the application's strategy (what passport does itself for a strategy named by string):
   * shared, concurrent requests overwrote each other's callbacks, and one request was answered with
   * another's principal while the other hung.
   */
  private authenticate(req: RequestWithContext): Promise<Principal | false> {
    return new Promise((resolve, reject) => {
      const perRequest = Object.create(this.strategy) as passport.Strategy;
      const middleware = passport.authenticate(perRequest, { session: false }, (err: unknown, user: Principal | false) =>
        err ? reject(err) : resolve(user || false),
      );
      middleware(req, {}, (err: unknown) => (err ? reject(err) : resolve(false)));
    });
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = context.switchToHttp().getRequest<RequestWithContext>();
    // A request with a body was identified before its body was read (registerEarlyAuthentication).
    const principal = req.user ?? (await this.identify(req, this.reflector.get<boolean>(TOKEN_CHECKED_BY_HANDLER_KEY, context.getHandler()) === true));
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!roles || !roles.includes(principal.role)) {
      // (A principal trusted from memory is checked by the exception filter before this is answered.)
      // An execution token reads configs through the SDK and reports its own execution, nothing else.
      if (principal.role === 'execution') throw forbidden('An execution token may only read configs through the SDK and report its own execution', 'EXECUTION_TOKEN_NOT_ALLOWED');
      throw forbidden(`This route is not open to the ${principal.role} role`, 'ROLE_NOT_ALLOWED');
    }
    return true;
  }

  /**
   * Who the request's token belongs to (set on the request and its context), or the 401 or 429 to
   * answer. With `checkedByHandler` (routes marked @TokenCheckedByHandler) a recently seen token is
   * trusted from memory and its row checked by the handler's own statement (DeferredTokenCheck).
   */
  async identify(req: RequestWithContext, checkedByHandler = false): Promise<Principal> {
    // request.ip: the socket's address, or the client's as the TRUST_PROXY proxies report it.
    const client = req.ip || 'unknown';
    // A blocked address is still served when it brings a valid token; anything else is a 429.
    const blocked = this.throttle.isBlocked(client);
    const header = req.headers.authorization;
    if (!header) {
      if (blocked) throw await this.tooMany(req, client);
      this.throttle.recordFailure(client);
      throw unauthorized('Missing Authorization header (expected: Bearer <token>)', 'MISSING_TOKEN');
    }
    const match = BEARER.exec(header);
    if (!match) {
      if (blocked) throw await this.tooMany(req, client);
      this.throttle.recordFailure(client);
      throw unauthorized('Malformed Authorization header (expected: Bearer <token>)', 'MALFORMED_TOKEN');
    }
    // While blocked, the token's row is read here rather than trusted from memory, so a revoked
    // token gets its 429 like any other bad one.
    if (!blocked && checkedByHandler) (req as { [MAY_DEFER_TOKEN_CHECK]?: boolean })[MAY_DEFER_TOKEN_CHECK] = true;
    let principal: Principal | false;
    try {
      principal = await this.authenticate(req);
    } catch (err) {
      if (!(err instanceof TokenRefusedError)) throw err;
      // Expired, or its execution finished: a failed authentication, whose denial names the token's principal.
      this.throttle.recordFailure(client);
      if (blocked) throw await this.tooMany(req, client);
      if (req.context) {
        req.context.principal = err.principal;
        req.context.executionId = err.principal.executionId ?? req.context.executionId;
      }
      throw err;
    }
    if (!principal) {
      this.throttle.recordFailure(client);
      if (blocked) throw await this.tooMany(req, client);
      throw invalidToken();
    }
    req.user = principal;
    if (req.context) {
      req.context.principal = principal;
      // Every audit entry an execution token causes carries its execution.
      if (principal.executionId) req.context.executionId = principal.executionId;
    }
    return principal;
  }

  /**
   * The 429 for a blocked address. Its first one in a window is audited (`auth.denied`, reason
   * `429 TOO_MANY_FAILED_AUTHENTICATIONS <route>`); the rest are not, so a guesser cannot fill the
   * audit log one entry per request.
   */
  private async tooMany(req: RequestWithContext, client: string): Promise<AppError> {
    const code = 'TOO_MANY_FAILED_AUTHENTICATIONS';
    if (this.throttle.firstRefusal(client)) {
      try {
        await this.recordDenial?.(req, HttpStatus.TOO_MANY_REQUESTS, code);
      } catch (err) {
        this.logger.error({ msg: 'audit of a throttled request failed', errorName: (err as Error)?.name });
      }
    }
    const err = new AppError(HttpStatus.TOO_MANY_REQUESTS, code, 'Too many failed authentications from this address; wait a minute or use a valid token');
    return Object.assign(err, { retryAfter: this.throttle.retryAfter(client) });
  }
}
