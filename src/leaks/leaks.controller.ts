import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProperty, ApiPropertyOptional, ApiTags } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/roles';
import { CONFIG_TYPES, ConfigType } from '../configs/config.entity';
import { ApiErrors } from '../common/openapi';
import { DETECTOR_NAMES } from './detectors';
import { MAX_LISTED, ScanService } from './scan.service';

export class ScanQueryDto {
  @ApiPropertyOptional({ description: '`global` or an org id: only this scope (default: every scope)' }) @IsOptional() @IsString() scope?: string;
}

export class ScanFindingDto {
  @ApiProperty({ example: 'global', description: '`global` or an org id' }) scope: string;
  @ApiProperty({ example: 'stripe_key' }) key: string;
  @ApiProperty({ enum: CONFIG_TYPES.filter((t) => t !== 'secret'), example: 'string' }) type: ConfigType;
  @ApiProperty({ enum: DETECTOR_NAMES, example: 'stripe-live-key', description: 'The detector that matched; never the value' }) detector: string;
}

export class ScanResultDto {
  @ApiProperty({ example: 120, description: 'Plain (non-secret) configs looked at' }) scanned: number;
  @ApiProperty({ example: 1, description: 'Plain configs that look like credentials, listed or not' }) found: number;
  @ApiProperty({ type: [ScanFindingDto], description: `The first ${MAX_LISTED} findings by scope and key` }) items: ScanFindingDto[];
  @ApiProperty({ description: 'True when more were found than are listed' }) truncated: boolean;
}

@ApiTags('Configs')
@Controller('api/scan')
export class LeaksController {
  constructor(private readonly scans: ScanService) {}

  @Get()
  @Roles('admin')
  @ApiOperation({
    summary: 'Plain configs that look like credentials, by scope, key and detector (admin)',
    description:
      'Every non-secret config is checked with the detectors the write rule uses (docs/API.md, "Credentials stored as plain configs"); none of its values is ever in the answer. ' +
      'Store each finding as a secret (PUT with type `secret`), or leave it. `bifrost scan` gives the same list. Audited as one `config.list` entry.',
  })
  @ApiOkResponse({ type: ScanResultDto })
  @ApiErrors({ 400: '`INVALID_SCOPE`: not `global` nor an org id' })
  scan(@CurrentPrincipal() principal: Principal, @Query() query: ScanQueryDto): Promise<ScanResultDto> {
    return this.scans.scan(principal, query.scope);
  }
}
