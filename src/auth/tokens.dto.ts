import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsInt, IsOptional, IsString, IsUUID, Matches, MaxLength, MinLength } from 'class-validator';
import { CREATABLE_ROLES, ROLES, Role } from './roles';

export class CreateTokenDto {
  @ApiProperty({ example: 'ops-token', maxLength: 100 })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(/^[\p{L}\p{N}_.\-@: ]+$/u, { message: 'name may hold letters, digits, space, _ . - @ : only' })
  name: string;

  @ApiProperty({ enum: CREATABLE_ROLES, example: 'service', description: '`execution` tokens are issued by `POST /api/executions` only' })
  @IsIn(CREATABLE_ROLES as unknown as string[])
  role: Role;

  @ApiPropertyOptional({ format: 'uuid', description: 'Required for org_admin and member; optional for service (an org-less service token acts for the org in X-Bifrost-Org); absent for admin' })
  @IsOptional()
  @IsUUID()
  orgId?: string;

  @ApiPropertyOptional({
    type: String,
    format: 'date-time',
    example: '2027-01-31T00:00:00Z',
    description: 'When the token stops working (ISO 8601 with its zone). Give this or `ttlSeconds`, not both (`EXPIRY_AMBIGUOUS`); neither: never expires, unless BIFROST_TOKEN_MAX_TTL is set (`EXPIRY_REQUIRED`). In the past: `EXPIRY_IN_PAST`; over the maximum: `EXPIRY_TOO_LONG`; unreadable: `INVALID_EXPIRY`',
  })
  @IsOptional()
  @IsString()
  @MaxLength(64)
  expiresAt?: string;

  @ApiPropertyOptional({ type: Number, example: 2592000, description: 'The token stops working this many seconds after its creation (instead of `expiresAt`)' })
  @IsOptional()
  @IsInt()
  ttlSeconds?: number;
}

export class TokenDto {
  @ApiProperty({ format: 'uuid' })
  id: string;
  @ApiProperty({ example: 'ops-token' })
  name: string;
  @ApiProperty({ enum: ROLES })
  role: Role;
  @ApiProperty({ type: String, format: 'uuid', nullable: true })
  orgId: string | null;
  @ApiProperty({ type: String, format: 'date-time' })
  createdAt: Date;
  @ApiProperty({ type: String, format: 'date-time', nullable: true })
  revokedAt: Date | null;
  @ApiProperty({ type: String, nullable: true, description: 'Name of the principal that created it' })
  createdBy: string | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it stops working (401 `TOKEN_EXPIRED` after); null: never' })
  expiresAt: Date | null;
  @ApiProperty({ type: String, format: 'date-time', nullable: true, description: 'When it was last used, to within about a minute; null: never used' })
  lastUsedAt: Date | null;
}

export class CreatedTokenDto extends TokenDto {
  @ApiProperty({ example: 'bft_0nV3r-sh0wn-4ga1n-xxxxxxxxxxxxxxxxxxxxxxxxxx', description: 'The token itself: shown only in this response, stored only as a SHA-256 hash' })
  token: string;
}

export class TokenListDto {
  @ApiProperty({ type: [TokenDto] })
  items: TokenDto[];
  @ApiProperty({ type: String, nullable: true, example: null, description: 'Pass as `cursor` for the next page' })
  nextCursor: string | null;
}

export class PrincipalDto {
  @ApiProperty()
  id: string;
  @ApiProperty()
  name: string;
  @ApiProperty({ enum: ROLES })
  role: Role;
  @ApiProperty({ type: String, nullable: true })
  orgId: string | null;
}
