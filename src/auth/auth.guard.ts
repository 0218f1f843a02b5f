import { ExecutionContext, HttpStatus, Injectable } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { AuthGuard } from '@nestjs/passport';
import { AppError, forbidden, unauthorized } from '../common/errors';
import { RequestWithContext } from '../common/request-context';
import { PUBLIC_KEY, ROLES_KEY } from './auth.decorators';
import { AuthThrottle } from './auth-throttle';
import { Principal, Role } from './roles';

const BEARER = /^Bearer ([A-Za-z0-9._~+/=-]{1,512})$/;

/**
 * The one global guard: the passport bearer strategy authenticates the token, this counts failures
 * for the throttle and checks the route's @Roles(). Routes without @Roles() or @Public() are
 * refused, so a forgotten decorator fails closed.
 */
@Injectable()
export class GlobalAuthGuard extends AuthGuard('bearer') {
  constructor(
    private readonly reflector: Reflector,
    private readonly throttle: AuthThrottle,
  ) {
    super();
  }

  /** Passport's outcome: the principal, or our 401 (passport's own would carry a WWW-Authenticate echo). */
  handleRequest<T>(err: unknown, user: T): T {
    if (err) throw err; // the database failing is not a failed authentication
    if (!user) throw unauthorized('Unknown or revoked token', 'INVALID_TOKEN');
    return user;
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = context.switchToHttp().getRequest<RequestWithContext>();
    const client = req.socket.remoteAddress ?? 'unknown';
    if (this.throttle.isBlocked(client)) {
      const err = new AppError(HttpStatus.TOO_MANY_REQUESTS, 'TOO_MANY_FAILED_AUTHENTICATIONS', 'Too many failed authentications from this address; wait a minute');
      throw Object.assign(err, { retryAfter: this.throttle.retryAfter(client) });
    }
    const header = req.headers.authorization;
    if (!header) {
      this.throttle.recordFailure(client);
      throw unauthorized('Missing Authorization header (expected: Bearer <token>)', 'MISSING_TOKEN');
    }
    const match = BEARER.exec(header);
    if (!match) {
      this.throttle.recordFailure(client);
      throw unauthorized('Malformed Authorization header (expected: Bearer <token>)', 'MALFORMED_TOKEN');
    }
    try {
      await super.canActivate(context);
    } catch (err) {
      if (err instanceof AppError && err.code === 'INVALID_TOKEN') this.throttle.recordFailure(client);
      throw err;
    }
    const principal = req.user as Principal;
    if (req.context) {
      req.context.principal = principal;
      req.context.orgId = principal.orgId;
    }
    const roles = this.reflector.getAllAndOverride<Role[] | undefined>(ROLES_KEY, targets);
    if (!roles || !roles.includes(principal.role)) throw forbidden(`This route is not open to the ${principal.role} role`, 'ROLE_NOT_ALLOWED');
    return true;
  }
}
