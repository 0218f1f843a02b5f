import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiBadRequestResponse, ApiCreatedResponse, ApiForbiddenResponse, ApiNoContentResponse, ApiNotFoundResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { badRequest } from '../common/errors';
import { CurrentPrincipal, Roles } from './auth.decorators';
import type { Principal } from './roles';
import { CreatedTokenDto, CreateTokenDto, PrincipalDto, TokenListDto } from './tokens.dto';
import { TokensService } from './tokens.service';

const uuidPipe = new ParseUUIDPipe({ exceptionFactory: () => badRequest('INVALID_ID', 'id must be a UUID') });

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
  @ApiForbiddenResponse({ description: '`ROLE_NOT_ALLOWED` (an org_admin asking for a role other than member), `ORG_FORBIDDEN` (another org)' })
  @ApiBadRequestResponse({ description: '`EXPIRY_IN_PAST`, `EXPIRY_TOO_LONG`, `EXPIRY_REQUIRED` (BIFROST_TOKEN_MAX_TTL is set), `EXPIRY_AMBIGUOUS`, `INVALID_EXPIRY`, `VALIDATION_FAILED`' })
  create(@CurrentPrincipal() principal: Principal, @Body() body: CreateTokenDto): Promise<CreatedTokenDto> {
    return this.tokens.create(principal, body);
  }

  @Get('tokens')
  @Roles('admin', 'org_admin')
  @ApiOperation({ summary: 'List tokens (never the token itself): all for admin, its org for org_admin', description: 'Execution tokens (one per run) are not listed.' })
  @ApiOkResponse({ type: TokenListDto })
  async list(@CurrentPrincipal() principal: Principal): Promise<TokenListDto> {
    return { items: await this.tokens.list(principal), nextCursor: null };
  }

  @Delete('tokens/:id')
  @HttpCode(204)
  @Roles('admin', 'org_admin')
  @ApiOperation({ summary: 'Revoke a token; it stops working at once', description: 'admin revokes any token; org_admin the member tokens of its own org (`ROLE_NOT_ALLOWED` for its org’s other tokens).' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: '`TOKEN_NOT_FOUND`' })
  async revoke(@CurrentPrincipal() principal: Principal, @Param('id', uuidPipe) id: string): Promise<void> {
    await this.tokens.revoke(principal, id);
  }

  @Get('me')
  @Roles('admin', 'org_admin', 'member', 'service')
  @ApiOperation({ summary: 'The principal of the presented token' })
  @ApiOkResponse({ type: PrincipalDto })
  me(@CurrentPrincipal() principal: Principal): PrincipalDto {
    return { id: principal.id, name: principal.name, role: principal.role, orgId: principal.orgId };
  }
}
