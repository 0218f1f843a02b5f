import { applyDecorators, createParamDecorator, ExecutionContext, InternalServerErrorException, SetMetadata, UseInterceptors } from '@nestjs/common';
import { ApiBearerAuth } from '@nestjs/swagger';
import { ApiErrors } from '../common/openapi';
import { TokenCheckInterceptor } from './deferred-token-check';
import type { Principal, Role } from './roles';

export const ROLES_KEY = 'bifrost:roles';
export const PUBLIC_KEY = 'bifrost:public';

/** Routes are closed by default; this lists the roles a route admits, and documents the bearer auth and the errors every /api route can answer. */
export const Roles = (...roles: Role[]) =>
  applyDecorators(
    SetMetadata(ROLES_KEY, roles),
    ApiBearerAuth(),
    // 400, 401, 403, 429, 500, 503 with the error schema; an operation's own codes are added beside.
    ApiErrors(),
  );

export const TOKEN_CHECKED_BY_HANDLER_KEY = 'bifrost:token-checked-by-handler';

/**
 * The handler reads the presented token's row in its own statement: the guard trusts a recently
 * authenticated token's principal and hands the handler a DeferredTokenCheck (@PendingTokenCheck)
 * to settle with that row, one round trip instead of two. TokenCheckInterceptor settles it
 * whenever the handler did not, before anything is answered.
 */
export const TokenCheckedByHandler = () => applyDecorators(SetMetadata(TOKEN_CHECKED_BY_HANDLER_KEY, true), UseInterceptors(TokenCheckInterceptor));

/** No authentication (health, docs). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/** The authenticated principal; throws if no guard ran, so a route can't silently run unauthenticated. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest().user as Principal | undefined;
  if (!principal) throw new InternalServerErrorException('No principal: route is missing @Roles()');
  return principal;
});
