import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, IsUUID, Matches, MaxLength, MinLength } from 'class-validator';
import { ROLES, Role } from './roles';

export class CreateTokenDto {
  @ApiProperty({ example: 'ops-token', maxLength: 100 })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  @Matches(/^[\p{L}\p{N}_.\-@: ]+$/u, { message: 'name may hold letters, digits, space, _ . - @ : only' })
  name: string;

  @ApiProperty({ enum: ROLES, example: 'service' })
  @IsIn(ROLES as unknown as string[])
  role: Role;

  @ApiPropertyOptional({ format: 'uuid', description: 'Required for org_admin and member; optional for service (an org-less service token acts for the org in X-Bifrost-Org); absent for admin' })
  @IsOptional()
  @IsUUID()
  orgId?: string;
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
