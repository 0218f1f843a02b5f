import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Put } from '@nestjs/common';
import { ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles, TokenCheckedByHandler } from '../auth/auth.decorators';
import { DeferredTokenCheck, PendingTokenCheck } from '../auth/deferred-token-check';
import { actingExecution } from '../auth/execution-scope';
import { anyJson, ApiErrors, ORG_HEADER_ERRORS } from '../common/openapi';
import { ScrubExempt } from '../scrubber/scrub-exempt.decorator';
import type { Principal } from '../auth/roles';
import { configKeyParam } from './config-values';
import { SdkConfigDto, SdkPutConfigDto } from './dto/config.dto';
import { ActingOrg } from '../scopes/acting-org';
import { SdkService } from './sdk.service';
import { LOOKS_LIKE_A_SECRET_DOC } from '../leaks/openapi';

const ORG_HEADER = { name: 'X-Bifrost-Org', required: false, description: 'For an org-less service token: the org (id or name) to act for' };
const EXECUTION_HEADER = {
  name: 'X-Bifrost-Execution',
  required: false,
  description: 'The running execution; a secret read is registered with its scrubber. Not needed with an execution token (its execution is used; another one here: 403 `EXECUTION_TOKEN_MISMATCH`)',
};

@ApiTags('SDK')
@ApiHeader(ORG_HEADER)
@Controller('api/sdk/configs')
export class SdkController {
  constructor(
    private readonly sdk: SdkService,
    private readonly actingOrg: ActingOrg,
  ) {}

  @Get(':key')
  @Roles('service', 'execution')
  // The hot path reads the token's row in its own statement (SdkReadRepository): one round trip, not two.
  @TokenCheckedByHandler()
  // The one plaintext API.md allows out: the value, to a service token; the rest is still scrubbed.
  @ScrubExempt('value')
  @ApiOperation({
    summary: 'Read one config, decrypted and typed, with the cascade (service tokens only)',
    description: 'The only endpoint that returns a secret in plaintext. Missing: `CONFIG_NOT_FOUND`. A secret without a value: `SECRET_VALUE_MISSING`.',
  })
  @ApiHeader(EXECUTION_HEADER)
  @ApiOkResponse({ type: SdkConfigDto })
  @ApiErrors({
    ...ORG_HEADER_ERRORS,
    400: `${ORG_HEADER_ERRORS[400]}; \`INVALID_KEY\``,
    404: `\`CONFIG_NOT_FOUND\`; \`EXECUTION_NOT_FOUND\` (a secret read naming an execution this org does not have); ${ORG_HEADER_ERRORS[404]}`,
    409: '`SECRET_VALUE_MISSING`: the secret has no value yet',
    413: '`TOO_MANY_EXECUTION_SECRETS`, `EXECUTION_SECRETS_TOO_LARGE`: a secret read naming an execution whose scrubber is full',
    500:
      '`DECRYPTION_FAILED`: no configured key decrypts the value; check BIFROST_SECRET_KEY. `SECRET_BINDING_MISMATCH`: the stored ciphertext was written for another scope or key (a copied row); it is never used here',
  })
  async read(
    @CurrentPrincipal() principal: Principal,
    @PendingTokenCheck() check: DeferredTokenCheck | null,
    @Param('key', configKeyParam) key: string,
    @Headers('x-bifrost-org') org?: string,
    @Headers('x-bifrost-execution') executionId?: string,
  ): Promise<SdkConfigDto> {
    const orgId = await this.actingOrg.resolve(principal, org);
    return this.sdk.read(orgId, key, actingExecution(principal, executionId), check);
  }

  @Get()
  @Roles('service', 'execution')
  @ApiOperation({
    summary: 'Every key of the cascade as `{key: value}`, secrets as "••••••"',
    description: 'Every global key overlaid by the org’s own; the org is the token’s, or `X-Bifrost-Org` for an org-less service token. Not paged: the one list that is an object.',
  })
  @ApiOkResponse({ schema: { type: 'object', additionalProperties: anyJson(), example: { stripe_api_key: '••••••', max_retries: 3 } } })
  @ApiErrors(ORG_HEADER_ERRORS)
  async readAll(@CurrentPrincipal() principal: Principal, @Headers('x-bifrost-org') org?: string): Promise<Record<string, unknown>> {
    return this.sdk.readAll(await this.actingOrg.resolve(principal, org));
  }

  @Put(':key')
  @HttpCode(204)
  @Roles('service')
  @ApiOperation({
    summary: 'Set a config in the org’s scope; the type is inferred (`isSecret: true` → secret)',
    description:
      'Never downgrades a secret: a value written over an existing secret without `isSecret` stays a secret (it must be a string); `isSecret: false` over one is refused (409 `SECRET_TYPE_CHANGE`). ' +
      'The mask "••••••" is refused as a secret’s value (400 `MASK_AS_VALUE`).',
  })
  @ApiNoContentResponse()
  @ApiErrors(
    {
      ...ORG_HEADER_ERRORS,
      400: `${ORG_HEADER_ERRORS[400]}; \`INVALID_KEY\`, \`INVALID_VALUE\`, \`MASK_AS_VALUE\`, \`VALUE_TOO_LARGE\`; ${LOOKS_LIKE_A_SECRET_DOC}`,
      409: '`SECRET_TYPE_CHANGE`: `isSecret: false` over an existing secret',
    },
    { body: true },
  )
  async write(
    @CurrentPrincipal() principal: Principal,
    @Param('key', configKeyParam) key: string,
    @Body() body: SdkPutConfigDto,
    @Headers('x-bifrost-org') org?: string,
  ): Promise<void> {
    await this.sdk.write(principal, await this.actingOrg.resolve(principal, org), key, body.value, body.isSecret, body.allowSecretLikeValue);
  }

  @Delete(':key')
  @HttpCode(204)
  @Roles('service')
  @ApiOperation({ summary: 'Delete the org’s own row (never the global one)', description: 'After it, a read falls back to the global row, if any. Missing in the org: 404 `CONFIG_NOT_FOUND`.' })
  @ApiNoContentResponse()
  @ApiErrors({ ...ORG_HEADER_ERRORS, 400: `${ORG_HEADER_ERRORS[400]}; \`INVALID_KEY\``, 404: `\`CONFIG_NOT_FOUND\`; ${ORG_HEADER_ERRORS[404]}` })
  async delete(@CurrentPrincipal() principal: Principal, @Param('key', configKeyParam) key: string, @Headers('x-bifrost-org') org?: string): Promise<void> {
    await this.sdk.delete(principal, await this.actingOrg.resolve(principal, org), key);
  }
}
