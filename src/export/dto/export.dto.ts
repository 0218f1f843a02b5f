import { ApiExtraModels, ApiProperty, ApiPropertyOptional, getSchemaPath } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString } from 'class-validator';
import { anyJson } from '../../common/openapi';
import { CONFIG_TYPES, ConfigType } from '../../configs/config.entity';

const BOOL = ['true', 'false'];

export class ExportQueryDto {
  @ApiPropertyOptional({ enum: BOOL, default: 'true', description: 'true (the default): secrets without values. false: a backup for this same deployment, secrets as Fernet tokens (`encryptedValue`).' })
  @IsOptional()
  @IsIn(BOOL, { message: 'portable must be true or false' })
  portable?: string;

  @ApiPropertyOptional({ example: 'all', description: '`all`, `global` or an org id. Default: `all` for admin, its own org for org_admin (which may export nothing else).' })
  @IsOptional()
  @IsString()
  scope?: string;
}

export class ImportQueryDto {
  @ApiPropertyOptional({ enum: BOOL, default: 'false', description: 'Check everything and answer the counts the import would give, writing nothing' })
  @IsOptional()
  @IsIn(BOOL, { message: 'dryRun must be true or false' })
  dryRun?: string;

  @ApiPropertyOptional({ enum: ['skip', 'overwrite'], default: 'skip', description: 'What to do with a (scope, key) that exists already. `skip` (the default) leaves it as it is.' })
  @IsOptional()
  @IsIn(['skip', 'overwrite'], { message: 'onConflict must be overwrite or skip' })
  onConflict?: string;

  @ApiPropertyOptional({ enum: BOOL, default: 'false', description: 'Create the orgs the bundle names that do not exist here (admin only); otherwise each of their rows is a problem' })
  @IsOptional()
  @IsIn(BOOL, { message: 'createOrgs must be true or false' })
  createOrgs?: string;

  @ApiPropertyOptional({
    enum: BOOL,
    default: 'false',
    description:
      'With onConflict=overwrite, a row of another type over an existing secret discards the secret: only with this set; otherwise each such row is a `SECRET_TYPE_CHANGE` problem and nothing is imported',
  })
  @IsOptional()
  @IsIn(BOOL, { message: 'allowTypeChange must be true or false' })
  allowTypeChange?: string;

  @ApiPropertyOptional({
    enum: BOOL,
    default: 'false',
    description:
      'A non-secret row whose value looks like a credential is a `LOOKS_LIKE_A_SECRET` problem (dry run included) unless this is true; each such row is then imported and its audit entry says `looks like a secret (<detector>), kept plain by allowSecretLikeValues`',
  })
  @IsOptional()
  @IsIn(BOOL, { message: 'allowSecretLikeValues must be true or false' })
  allowSecretLikeValues?: string;
}

export class BundleOrgScopeDto {
  @ApiProperty({ example: 'acme', description: 'The org’s name (never its id, so a bundle means the same in any deployment)' }) org: string;
}

export class BundleConfigDto {
  @ApiProperty({ oneOf: [{ type: 'string', enum: ['global'] }, { $ref: getSchemaPath(BundleOrgScopeDto) }], example: { org: 'acme' } })
  scope: 'global' | BundleOrgScopeDto;
  @ApiProperty({ example: 'stripe_api_key' }) key: string;
  @ApiProperty({ enum: CONFIG_TYPES, example: 'secret' }) type: ConfigType;
  @ApiPropertyOptional({ type: String, nullable: true, example: 'Stripe live key', description: 'Always written on export; on import, absent keeps an existing config’s description' })
  description?: string | null;
  @ApiPropertyOptional({ description: 'The typed value (required for every type but secret); always null for a secret. Absent from a backup’s secrets.', example: null, ...anyJson() })
  value?: unknown;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Backups only, secrets only: the Fernet token (a plain token or Bifrost’s base64url-wrapped form is accepted on import); null when the secret has no value' })
  encryptedValue?: string | null;
}

@ApiExtraModels(BundleOrgScopeDto)
export class BundleDto {
  @ApiProperty({ enum: ['bifrost-config-bundle'] }) format: string;
  @ApiProperty({ enum: [1] }) version: number;
  @ApiPropertyOptional({ description: 'true: no secret values; false: a backup with encryptedValue. Always written on export; optional on import' }) portable?: boolean;
  @ApiPropertyOptional({ type: String, format: 'date-time', description: 'Always written on export; optional (and not read) on import' }) exportedAt?: string;
  @ApiProperty({ type: [BundleConfigDto] }) configs: BundleConfigDto[];
}

export class BifrostConfigItemDto {
  @ApiProperty() key: string;
  @ApiProperty({ description: 'The value; for a secret, Bifrost’s stored form (the Fernet token base64url-encoded again), or a plain Fernet token', ...anyJson() }) value: unknown;
  @ApiProperty({ enum: ['string', 'int', 'bool', 'json', 'secret'] }) config_type: string;
  @ApiPropertyOptional({ type: String, nullable: true }) description?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'Used when no organization_name is given and an org with this id exists here' }) organization_id?: string | null;
  @ApiPropertyOptional({ type: String, nullable: true, description: 'The org, by name (preferred, as Bifrost does)' }) organization_name?: string | null;
}

export class BifrostExportDto {
  @ApiProperty({ enum: ['1.0'] }) bifrost_export_version: string;
  @ApiProperty({ enum: ['configs'] }) entity_type: string;
  @ApiPropertyOptional() contains_encrypted_values?: boolean;
  @ApiProperty({ type: [BifrostConfigItemDto] }) items: BifrostConfigItemDto[];
}

@ApiExtraModels(BundleDto, BifrostExportDto)
export class WrappedBundleDto {
  @ApiProperty({ oneOf: [{ $ref: getSchemaPath(BundleDto) }, { $ref: getSchemaPath(BifrostExportDto) }] }) bundle: BundleDto | BifrostExportDto;
  @ApiProperty({ description: 'The BIFROST_SECRET_KEY of the deployment that made the bundle; its secrets are decrypted with it and encrypted again with this deployment’s key. Never stored or logged.' })
  sourceSecretKey: string;
}

export class ScopedKeyDto {
  @ApiProperty({ oneOf: [{ type: 'string', enum: ['global'] }, { $ref: getSchemaPath(BundleOrgScopeDto) }] }) scope: 'global' | BundleOrgScopeDto;
  @ApiProperty() key: string;
}

export class ImportProblemDto {
  @ApiProperty({ type: Number, nullable: true, description: 'Index in the bundle’s configs (items) array; null for the bundle as a whole' }) row: number | null;
  @ApiPropertyOptional({ description: 'The row’s key, when it is a valid key' }) key?: string;
  @ApiProperty({ example: 'INVALID_VALUE', description: 'UNSUPPORTED_FORMAT, MISSING_CONFIGS, INVALID_ROW, INVALID_KEY, INVALID_SCOPE, INVALID_TYPE, INVALID_VALUE, VALUE_TOO_LARGE, MISSING_VALUE, INVALID_DESCRIPTION, SECRET_IN_CLEAR, INVALID_SECRET, SECRET_UNDECRYPTABLE, SECRET_SCOPE_MISMATCH, SECRET_UNBOUND, INVALID_SOURCE_KEY, DUPLICATE_CONFIG, DUPLICATE_MEMBER, ORG_NOT_FOUND, SCOPE_FORBIDDEN, LOOKS_LIKE_A_SECRET' })
  code: string;
  @ApiProperty() message: string;
  @ApiPropertyOptional({ oneOf: [{ type: 'string', enum: ['global'] }, { $ref: getSchemaPath(BundleOrgScopeDto) }], description: '`LOOKS_LIKE_A_SECRET`: the row’s scope' })
  scope?: 'global' | BundleOrgScopeDto;
  @ApiPropertyOptional({ example: 'stripe-live-key', description: '`LOOKS_LIKE_A_SECRET`: the detector that matched (never the value)' }) detector?: string;
}

@ApiExtraModels(ImportProblemDto)
export class ImportResultDto {
  @ApiProperty({ example: 12 }) created: number;
  @ApiProperty({ example: 3 }) updated: number;
  @ApiProperty({ example: 0 }) skipped: number;
  @ApiProperty({ type: [ScopedKeyDto], description: 'Secrets that have no value after the import: set each with PUT' }) secretsNeedingValue: ScopedKeyDto[];
  @ApiProperty({ type: [ImportProblemDto], description: 'Always empty: an import with any problem writes nothing and answers 400 INVALID_BUNDLE with every problem in `details`' })
  errors: ImportProblemDto[];
}
