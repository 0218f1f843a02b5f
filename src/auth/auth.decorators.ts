import { applyDecorators, createParamDecorator, ExecutionContext, InternalServerErrorException, SetMetadata } from '@nestjs/common';
import { ApiBearerAuth, ApiForbiddenResponse, ApiUnauthorizedResponse } from '@nestjs/swagger';
import type { Principal, Role } from './roles';

export const ROLES_KEY = 'bifrost:roles';
export const PUBLIC_KEY = 'bifrost:public';

/** Routes are closed by default; this lists the roles a route admits, and documents the bearer auth. */
export const Roles = (...roles: Role[]) =>
  applyDecorators(
    SetMetadata(ROLES_KEY, roles),
    ApiBearerAuth(),
    ApiUnauthorizedResponse({ description: 'Missing, unknown or revoked token (`UNAUTHORIZED`)' }),
    ApiForbiddenResponse({ description: 'Role or org not allowed (`FORBIDDEN`)' }),
  );

/** No authentication (health, docs). */
export const Public = () => SetMetadata(PUBLIC_KEY, true);

/** The authenticated principal; throws if no guard ran, so a route can't silently run unauthenticated. */
export const CurrentPrincipal = createParamDecorator((_: unknown, ctx: ExecutionContext): Principal => {
  const principal = ctx.switchToHttp().getRequest().user as Principal | undefined;
  if (!principal) throw new InternalServerErrorException('No principal: route is missing @Roles()');
  return principal;
});
