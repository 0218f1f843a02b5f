import { Body, Controller, Delete, Get, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { badRequest } from '../common/errors';
import { ApiErrors } from '../common/openapi';
import { PageQueryDto } from '../common/paging';
import { idParam } from '../common/params';
import { CurrentPrincipal, Roles } from './auth.decorators';
import type { Principal } from './roles';
import { CreatedTokenDto, CreateTokenDto, PrincipalDto, TokenListDto } from './tokens.dto';
import { TokensService } from './tokens.service';

const tokenIdParam = idParam(() => badRequest('INVALID_ID', 'id must be a UUID'));

@ApiTags('Tokens')
@Controller('api')
export class TokensController {
  constructor(private readonly tokens: TokensService) {}

  @Post('tokens')
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'Create a token; the token is shown only in this response',
    description: 'admin creates any token; org_admin creates member tokens of its own org only. Only admin creates service tokens (a service token reads secrets in plaintext).',
  })
  @ApiCreatedResponse({ type: CreatedTokenDto })
  @ApiErrors(
    {
      400: '`ORG_REQUIRED` (an org_admin or member token without `orgId`), `ORG_NOT_ALLOWED` (an admin token with one), `EXPIRY_IN_PAST`, `EXPIRY_TOO_LONG`, `EXPIRY_REQUIRED` (BIFROST_TOKEN_MAX_TTL is set), `EXPIRY_AMBIGUOUS`, `INVALID_EXPIRY`',
      403: '`ROLE_NOT_ALLOWED` (an org_admin asking for a role other than member), `ORG_FORBIDDEN` (another org)',
      404: '`ORG_NOT_FOUND`: no org has this `orgId`',
    },
    { body: true },
  )
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateTokenDto): Promise<CreatedTokenDto> {
    return this.tokens.create(principal, body);
  }

  @Get('tokens')
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'List tokens (never the token itself): all for admin, its org for org_admin',
    description: 'Oldest first, paged (`limit`, `cursor`) as every list. Revoked tokens are listed too, with their `revokedAt`. The token itself is shown only when it is created. Execution tokens (one per run) are not listed.',
  })
  @ApiOkResponse({ type: TokenListDto })
  @ApiErrors({ 400: '`INVALID_LIMIT`, `INVALID_CURSOR`' })
  list(@CurrentPrincipal() principal: Principal, @Query() query: PageQueryDto): Promise<TokenListDto> {
    return this.tokens.list(principal, query);
  }

  @Delete('tokens/:id')
  @HttpCode(204)
  @Roles('admin', 'org_admin')
  @ApiOperation({ summary: 'Revoke a token; it stops working at once', description: 'admin revokes any token; org_admin the member tokens of its own org (`ROLE_NOT_ALLOWED` for its org’s other tokens).' })
  @ApiNoContentResponse()
  @ApiErrors({
    400: '`INVALID_ID`: the id is not a UUID',
    403: '`ROLE_NOT_ALLOWED`: an org_admin revoking a token of its org that is not a member token',
    404: '`TOKEN_NOT_FOUND` (for an org_admin, also another org’s token)',
  })
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id', tokenIdParam) id: string): Promise<void> {
    await this.tokens.revoke(principal, id);
  }

  @Get('me')
  @Roles('admin', 'org_admin', 'member', 'service')
  @ApiOperation({ summary: 'The principal of the presented token', description: 'Any valid token: its id, name, role and org (null for admin and org-less service tokens).' })
  @ApiOkResponse({ type: PrincipalDto })
  me(@CurrentPrincipal() principal: Principal): PrincipalDto {
    return { id: principal.id, name: principal.name, role: principal.role, orgId: principal.orgId };
  }
}
