import { ApiExtraModels, ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Allow, IsBoolean, IsIn, IsOptional, IsString, MaxLength, ValidateBy, ValidateIf } from 'class-validator';
import { CONFIG_TYPES, ConfigType } from '../config.entity';
import { MASK, MAX_VALUE_BYTES } from '../config-values';
import { anyJson } from '../../common/openapi';
import { ALLOW_FLAG_DOC } from '../../leaks/openapi';
import { PageCursor, PageLimit, PageQueryDto } from '../../common/paging';
import { withCode } from '../../common/validation';

export class PutConfigDto {
  @ApiProperty({ enum: CONFIG_TYPES, example: 'secret' })
  @IsIn(CONFIG_TYPES as unknown as string[], { message: `type must be one of ${CONFIG_TYPES.join(', ')}` })
  type: ConfigType;

  @ApiProperty({
    description:
      'The typed value: a string; an integer (a string of digits is accepted); true/false ("true"/"false" accepted); any JSON value; ' +
      'or, for a secret, the full new non-empty string. At most 64 KiB serialized. It is never echoed back: a secret reads as "••••••". ' +
      'The mask itself (only "•" and whitespace) is refused as a secret\'s value: 400 `MASK_AS_VALUE`.',
    example: 'sk_live_51H...',
    ...anyJson(),
  })
  @Allow()
  value: unknown;

  @ApiPropertyOptional({ type: String, nullable: true, maxLength: 1000, example: 'Stripe live key for charges' })
  @IsOptional()
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @MaxLength(1000)
  description?: string | null;

  @ApiPropertyOptional({
    type: Boolean,
    // No `default` here: generated clients (openapi-typescript) make a property with a default required.
    description:
      'Default false. Must be true to replace a secret with a value of another type (the secret is discarded); without it such a PUT is refused with 409 `SECRET_TYPE_CHANGE` and nothing changes. Not needed for any other write.',
  })
  @IsOptional()
  @IsBoolean()
  allowTypeChange?: boolean;

  @ApiPropertyOptional({ type: Boolean, description: ALLOW_FLAG_DOC })
  @IsOptional()
  @IsBoolean()
  allowSecretLikeValue?: boolean;
}

export class PatchConfigDto {
  @ApiProperty({ type: String, nullable: true, maxLength: 1000, example: 'Rotated quarterly' })
  @ValidateIf((_, v) => v !== null)
  @IsString()
  @MaxLength(1000)
  description: string | null;
}

export class ConfigDto {
  @ApiProperty({ example: 'global', description: '`global` or an org id' }) scope: string;
  @ApiProperty({ example: 'stripe_api_key' }) key: string;
  @ApiProperty({ enum: CONFIG_TYPES, example: 'secret' }) type: ConfigType;
  @ApiProperty({
    example: MASK,
    description:
      `The typed value: a string (\`string\`), an integer (\`int\`), true/false (\`bool\`), any JSON value (\`json\`); for a secret always "${MASK}" ` +
      '(or null when it has no value yet). Scrubbed like every answer: a number whose digits hold a secret reads as the string "[REDACTED]".',
    ...anyJson(),
  })
  value: unknown;
  @ApiProperty({ example: true }) masked: boolean;
  @ApiProperty({ example: true, description: 'False only for a secret imported without a value' }) hasValue: boolean;
  @ApiProperty({ type: String, nullable: true, example: 'Stripe live key for charges' }) description: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
  @ApiProperty({ example: 'ops-token' }) updatedBy: string;
  @ApiProperty({
    type: String,
    format: 'date-time',
    nullable: true,
    description: 'A secret’s: when the scrubber first redacted its value from what an execution stored (its logs, result or error), so it reached workflow output; null again once a new value is set (or the config is deleted and created again). Always null for other types.',
  })
  exposedAt: Date | null;
  @ApiProperty({
    type: String,
    nullable: true,
    pattern: '^[0-9a-f]{12}$',
    example: '3f9c0a17be42',
    description:
      'A secret’s: the first 12 hex characters of HMAC-SHA256 of its value under a key derived from BIFROST_SECRET_KEY. Equal values (in any scope, or another deployment with the same key) have equal fingerprints; it reveals nothing else about the value to anyone without the key. Shown only to those who may write the scope (admin; an org_admin in its own org): null for them otherwise, for other types, a secret without a value, or one no configured key opens. Never exported.',
  })
  fingerprint: string | null;
}

export class EffectiveConfigDto extends ConfigDto {
  @ApiProperty({ enum: ['org', 'global'], description: 'Whether the org’s own row shadows the global one' }) source: 'org' | 'global';
}

export class ConfigListDto {
  @ApiProperty({ type: [ConfigDto] }) items: ConfigDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page' }) nextCursor: string | null;
}

export class EffectiveConfigListDto {
  @ApiProperty({ type: [EffectiveConfigDto] }) items: EffectiveConfigDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor: string | null;
}

/** Each bad filter has its own code; the first bad one (in this order) answers. */
export class ListConfigsQueryDto {
  @ApiPropertyOptional({ enum: CONFIG_TYPES })
  @IsOptional()
  @IsString()
  @IsIn(CONFIG_TYPES as unknown as string[], withCode('INVALID_TYPE', `type must be one of ${CONFIG_TYPES.join(', ')}`))
  type?: string;

  @ApiPropertyOptional({ description: 'Only keys starting with this (case-sensitive)' })
  @IsOptional()
  @IsString()
  // In UTF-16 code units, as a key's length is (class-validator's MaxLength counts a surrogate pair as one).
  @ValidateBy({ name: 'prefixLength', validator: { validate: (v: unknown) => typeof v === 'string' && v.length <= 255 } }, withCode('INVALID_PREFIX', 'prefix may be at most 255 characters'))
  prefix?: string;

  @PageLimit() limit?: string;
  @PageCursor() cursor?: string;
}

export class SdkPutConfigDto {
  @ApiProperty({
    description: 'The value; its type is inferred: object/array → json, boolean → bool, integer → int, other numbers and null → json, string → string; `isSecret: true` → secret',
    example: 'sk_live_51H...',
    ...anyJson(),
  })
  @Allow()
  value: unknown;

  @ApiPropertyOptional({ example: true })
  @IsOptional()
  @IsBoolean()
  isSecret?: boolean;

  @ApiPropertyOptional({ type: Boolean, description: ALLOW_FLAG_DOC })
  @IsOptional()
  @IsBoolean()
  allowSecretLikeValue?: boolean;
}

export class SdkConfigDto {
  @ApiProperty({ example: 'stripe_api_key' }) key: string;
  @ApiProperty({ enum: CONFIG_TYPES }) type: ConfigType;
  @ApiProperty({ description: 'The decrypted, typed value (the only place a secret is ever returned, and only to a service token)', example: 'sk_live_51H...', ...anyJson() })
  value: unknown;
  @ApiProperty({ enum: ['org', 'global'] }) source: 'org' | 'global';
}

@ApiExtraModels(ConfigDto)
export class SdkConfigMapDto {
  [key: string]: unknown;
}

export class VerifySecretDto {
  @ApiProperty({ description: 'The value to compare with the stored secret; never stored, logged or echoed', example: 'sk_live_51H...' })
  @IsString()
  @MaxLength(MAX_VALUE_BYTES)
  value: string;
}

export class VerifySecretResultDto {
  @ApiProperty({ description: 'Whether the value equals the stored secret (compared in constant time)' }) matches: boolean;
}

export class ExposedSecretDto {
  @ApiProperty({ example: 'global' }) scope: string;
  @ApiProperty({ example: 'stripe_api_key' }) key: string;
  @ApiProperty({ type: String, format: 'date-time' }) exposedAt: Date;
  @ApiProperty({ type: String, nullable: true, example: '3f9c0a17be42' }) fingerprint: string | null;
  @ApiProperty({ type: String, format: 'date-time' }) updatedAt: Date;
  @ApiProperty({ example: 'ops-token' }) updatedBy: string;
}

export class ExposedSecretListDto {
  @ApiProperty({ type: [ExposedSecretDto] }) items: ExposedSecretDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page' }) nextCursor: string | null;
}

export class ListExposedQueryDto extends PageQueryDto {}
