import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post, Put, Query, Res } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import type { FastifyReply } from 'fastify';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import { ApiErrors } from '../common/openapi';
import { orgIdParam, scopeParam } from '../common/params';
import type { Principal } from '../auth/roles';
import { configKeyParam } from './config-values';
import { ConfigsService } from './configs.service';
import { LOOKS_LIKE_A_SECRET_DOC } from '../leaks/openapi';
import {
  ConfigDto,
  ConfigListDto,
  EffectiveConfigListDto,
  ExposedSecretListDto,
  ListConfigsQueryDto,
  ListExposedQueryDto,
  PatchConfigDto,
  PutConfigDto,
  VerifySecretDto,
  VerifySecretResultDto,
} from './dto/config.dto';
import { SecretChecksService, VERIFY_LIMIT } from './secret-checks.service';

const SCOPE_PARAM = { name: 'scope', description: '`global` or an org id', example: 'global' };
const SCOPE_ERRORS = {
  400: '`INVALID_SCOPE`: not `global` nor an org id, or (admin) no org has this id',
  403: '`ORG_FORBIDDEN`: another org’s scope',
};
const WRITE_ERRORS = {
  400: `${SCOPE_ERRORS[400]}; \`INVALID_KEY\``,
  403: `${SCOPE_ERRORS[403]}; \`GLOBAL_WRITE_FORBIDDEN\`: writes in \`global\` are for admin alone`,
};
const KEY_PARAM = { name: 'key', description: 'Case-sensitive; `^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$`', example: 'stripe_api_key' };

@ApiTags('Configs')
@Controller('api')
export class ConfigsController {
  constructor(
    private readonly configs: ConfigsService,
    private readonly checks: SecretChecksService,
  ) {}

  @Get('scopes/:scope/configs')
  @Roles('admin', 'org_admin', 'member')
  @ApiOperation({ summary: 'List the configs of a scope (secrets masked)', description: 'Ordered by key; cursor pagination that stays stable while others write.' })
  @ApiParam(SCOPE_PARAM)
  @ApiOkResponse({ type: ConfigListDto })
  @ApiErrors({ ...SCOPE_ERRORS, 400: `${SCOPE_ERRORS[400]}; \`INVALID_TYPE\`, \`INVALID_PREFIX\`, \`INVALID_LIMIT\`, \`INVALID_CURSOR\`` })
  list(@CurrentPrincipal() principal: Principal, @Param('scope', scopeParam) scope: string, @Query() query: ListConfigsQueryDto): Promise<ConfigListDto> {
    return this.configs.list(principal, scope, query);
  }

  @Get('scopes/:scope/configs/:key')
  @Roles('admin', 'org_admin', 'member')
  @ApiOperation({ summary: 'One config (a secret reads as "••••••"; there is no way to reveal it)', description: 'Missing: 404 `CONFIG_NOT_FOUND`. Only the SDK read returns a secret, to a service token.' })
  @ApiParam(SCOPE_PARAM)
  @ApiParam(KEY_PARAM)
  @ApiOkResponse({ type: ConfigDto })
  @ApiErrors({ ...SCOPE_ERRORS, 400: `${SCOPE_ERRORS[400]}; \`INVALID_KEY\``, 404: '`CONFIG_NOT_FOUND`' })
  get(@CurrentPrincipal() principal: Principal, @Param('scope', scopeParam) scope: string, @Param('key', configKeyParam) key: string): Promise<ConfigDto> {
    return this.configs.get(principal, scope, key);
  }

  @Put('scopes/:scope/configs/:key')
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'Create or replace a config',
    description: 'A secret is set only by sending its full new value; it is encrypted before it is stored and never returned. Writes in `global` are for admin alone.',
  })
  @ApiParam(SCOPE_PARAM)
  @ApiParam(KEY_PARAM)
  @ApiCreatedResponse({ type: ConfigDto, description: 'Created' })
  @ApiOkResponse({ type: ConfigDto, description: 'Replaced' })
  @ApiErrors(
    {
      ...WRITE_ERRORS,
      400: `${WRITE_ERRORS[400]}; \`INVALID_TYPE\`, \`INVALID_VALUE\` (the value does not fit its type), \`MASK_AS_VALUE\`, \`VALUE_TOO_LARGE\`; ${LOOKS_LIKE_A_SECRET_DOC}`,
      409: '`SECRET_TYPE_CHANGE`: the key holds a secret and the body gives another type without `"allowTypeChange": true`',
    },
    { body: true },
  )
  async put(
    @CurrentPrincipal() principal: Principal,
    @Param('scope', scopeParam) scope: string,
    @Param('key', configKeyParam) key: string,
    @Body() body: PutConfigDto,
    @Res({ passthrough: true }) res: FastifyReply,
  ): Promise<ConfigDto> {
    const { created, config } = await this.configs.put(principal, scope, key, body);
    res.status(created ? 201 : 200);
    return config;
  }

  @Patch('scopes/:scope/configs/:key')
  @Roles('admin', 'org_admin')
  @ApiOperation({ summary: 'Change the description only (never the value)', description: 'A null description removes it. Writes in `global` are for admin alone.' })
  @ApiParam(SCOPE_PARAM)
  @ApiParam(KEY_PARAM)
  @ApiOkResponse({ type: ConfigDto })
  @ApiErrors({ ...WRITE_ERRORS, 404: '`CONFIG_NOT_FOUND`' }, { body: true })
  patch(@CurrentPrincipal() principal: Principal, @Param('scope', scopeParam) scope: string, @Param('key', configKeyParam) key: string, @Body() body: PatchConfigDto): Promise<ConfigDto> {
    return this.configs.patchDescription(principal, scope, key, body.description);
  }

  @Delete('scopes/:scope/configs/:key')
  @HttpCode(204)
  @Roles('admin', 'org_admin')
  @ApiOperation({ summary: 'Delete a config', description: 'Deletes the row of this scope only (an org’s delete never touches the global row). Audited as `config.delete`.' })
  @ApiParam(SCOPE_PARAM)
  @ApiParam(KEY_PARAM)
  @ApiNoContentResponse()
  @ApiErrors({ ...WRITE_ERRORS, 404: '`CONFIG_NOT_FOUND`' })
  async delete(@CurrentPrincipal() principal: Principal, @Param('scope', scopeParam) scope: string, @Param('key', configKeyParam) key: string): Promise<void> {
    await this.configs.delete(principal, scope, key);
  }

  @Post('scopes/:scope/configs/:key/verify')
  @HttpCode(200)
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'Whether a value is the stored secret, without revealing it',
    description:
      `Answers \`{matches}\` from a constant-time comparison. Same roles as writing the config (writes in \`global\` are for admin alone). Audited as \`config.verify\` with the result, never the value. ` +
      `At most ${VERIFY_LIMIT} attempts a minute per token, every attempt counted (429 \`VERIFY_THROTTLED\` with \`Retry-After\`; the first refusal of a window is audited).`,
  })
  @ApiParam(SCOPE_PARAM)
  @ApiParam(KEY_PARAM)
  @ApiOkResponse({ type: VerifySecretResultDto })
  @ApiErrors(
    {
      ...WRITE_ERRORS,
      404: '`CONFIG_NOT_FOUND`',
      409: '`NOT_A_SECRET`: a plain config (its value is readable as it is); `SECRET_VALUE_MISSING`: the secret has no value yet',
      429: `\`VERIFY_THROTTLED\`: more than ${VERIFY_LIMIT} verify requests in a minute by this token (with \`Retry-After\`)`,
      500: '`DECRYPTION_FAILED`, `SECRET_BINDING_MISMATCH`: the stored value cannot be read here',
    },
    { body: true },
  )
  verify(@CurrentPrincipal() principal: Principal, @Param('scope', scopeParam) scope: string, @Param('key', configKeyParam) key: string, @Body() body: VerifySecretDto): Promise<VerifySecretResultDto> {
    return this.checks.verify(principal, scope, key, body.value);
  }

  @Get('scopes/:scope/exposed-secrets')
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'The scope’s secrets whose value reached an execution’s output (rotate these)',
    description:
      'Secrets with `exposedAt` set: the scrubber redacted their value from what an execution stored. Each leaves the list when a new value is set. Admins and org admins (their own org, and `global`, whose masked view shows the same); ordered by key, paged like the config list. Audited as `config.list`.',
  })
  @ApiParam(SCOPE_PARAM)
  @ApiOkResponse({ type: ExposedSecretListDto })
  @ApiErrors({ ...SCOPE_ERRORS, 400: `${SCOPE_ERRORS[400]}; \`INVALID_LIMIT\`, \`INVALID_CURSOR\`` })
  exposed(@CurrentPrincipal() principal: Principal, @Param('scope', scopeParam) scope: string, @Query() query: ListExposedQueryDto): Promise<ExposedSecretListDto> {
    return this.checks.exposed(principal, scope, query);
  }

  @Get('orgs/:orgId/effective-configs')
  @Roles('admin', 'org_admin', 'member')
  @ApiOperation({
    summary: 'The cascade: every global key overlaid by the org’s own, each with its `source`; secrets masked',
    description: 'Ordered by key, paged as the scope list is (`limit`, `cursor`).',
  })
  @ApiParam({ name: 'orgId', description: 'An org id' })
  @ApiOkResponse({ type: EffectiveConfigListDto })
  @ApiErrors({
    400: '`INVALID_ID` (not an org id), `INVALID_TYPE`, `INVALID_PREFIX`, `INVALID_LIMIT`, `INVALID_CURSOR`',
    403: '`ORG_FORBIDDEN`: another org',
    404: '`ORG_NOT_FOUND`',
  })
  effective(@CurrentPrincipal() principal: Principal, @Param('orgId', orgIdParam) orgId: string, @Query() query: ListConfigsQueryDto): Promise<EffectiveConfigListDto> {
    return this.configs.effective(principal, orgId, query);
  }
}
