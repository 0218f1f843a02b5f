import { Body, Controller, Delete, Get, Headers, HttpCode, Param, Put } from '@nestjs/common';
import {
  ApiBadRequestResponse,
  ApiConflictResponse,
  ApiHeader,
  ApiInternalServerErrorResponse,
  ApiNoContentResponse,
  ApiNotFoundResponse,
  ApiOkResponse,
  ApiOperation,
  ApiTags,
} from '@nestjs/swagger';
import { CurrentPrincipal, Roles, TokenCheckedByHandler } from '../auth/auth.decorators';
import { ScrubExempt } from '../scrubber/scrub-exempt.decorator';
import type { Principal } from '../auth/roles';
import { SdkConfigDto, SdkPutConfigDto } from './dto/config.dto';
import { SdkService } from './sdk.service';

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
  constructor(private readonly sdk: SdkService) {}

  @Get(':key')
  @Roles('service', 'execution')
  // The hot path reads the token's row in its own statement (SdkService.read): one round trip, not two.
  @TokenCheckedByHandler()
  // The one plaintext API.md allows out: the value, to a service token; the rest is still scrubbed.
  @ScrubExempt('value')
  @ApiOperation({
    summary: 'Read one config, decrypted and typed, with the cascade (service tokens only)',
    description: 'The only endpoint that returns a secret in plaintext. Missing: `CONFIG_NOT_FOUND`. A secret without a value: `SECRET_VALUE_MISSING`.',
  })
  @ApiHeader(EXECUTION_HEADER)
  @ApiOkResponse({ type: SdkConfigDto })
  @ApiNotFoundResponse({ description: '`CONFIG_NOT_FOUND`' })
  @ApiConflictResponse({ description: '`SECRET_VALUE_MISSING`' })
  @ApiInternalServerErrorResponse({
    description: '`DECRYPTION_FAILED`: no configured key decrypts the value; check BIFROST_SECRET_KEY. `SECRET_BINDING_MISMATCH`: the stored ciphertext was written for another scope or key (a copied row); it is never used here',
  })
  async read(
    @CurrentPrincipal() principal: Principal,
    @Param('key') key: string,
    @Headers('x-bifrost-org') org?: string,
    @Headers('x-bifrost-execution') executionId?: string,
  ): Promise<SdkConfigDto> {
    const orgId = await this.sdk.resolveOrg(principal, org);
    return this.sdk.read(orgId, key, this.sdk.executionOf(principal, executionId));
  }

  @Get()
  @Roles('service', 'execution')
  @ApiOperation({ summary: 'Every key of the cascade as `{key: value}`, secrets as "••••••"' })
  @ApiOkResponse({ schema: { type: 'object', additionalProperties: true, example: { stripe_api_key: '••••••', max_retries: 3 } } })
  async readAll(@CurrentPrincipal() principal: Principal, @Headers('x-bifrost-org') org?: string): Promise<Record<string, unknown>> {
    this.sdk.executionOf(principal, undefined);
    return this.sdk.readAll(await this.sdk.resolveOrg(principal, org));
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
  @ApiBadRequestResponse({ description: '`INVALID_VALUE`, `MASK_AS_VALUE`, `VALUE_TOO_LARGE`, `INVALID_KEY`, `VALIDATION_FAILED`' })
  @ApiConflictResponse({ description: '`SECRET_TYPE_CHANGE`: `isSecret: false` over an existing secret' })
  async write(
    @CurrentPrincipal() principal: Principal,
    @Param('key') key: string,
    @Body() body: SdkPutConfigDto,
    @Headers('x-bifrost-org') org?: string,
  ): Promise<void> {
    await this.sdk.write(principal, await this.sdk.resolveOrg(principal, org), key, body.value, body.isSecret);
  }

  @Delete(':key')
  @HttpCode(204)
  @Roles('service')
  @ApiOperation({ summary: 'Delete the org’s own row (never the global one)' })
  @ApiNoContentResponse()
  @ApiNotFoundResponse({ description: '`CONFIG_NOT_FOUND`' })
  async delete(@CurrentPrincipal() principal: Principal, @Param('key') key: string, @Headers('x-bifrost-org') org?: string): Promise<void> {
    await this.sdk.delete(principal, await this.sdk.resolveOrg(principal, org), key);
  }
}
