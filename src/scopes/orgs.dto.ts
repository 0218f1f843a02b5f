import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';

export class CreateOrgDto {
  @ApiProperty({ example: 'acme', description: 'Unique org name: 1-100 characters, letters, digits, inner spaces, `_ . -`. In X-Bifrost-Org, percent-encode names that are not Latin-1', maxLength: 100 })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  // No leading or trailing space: HTTP strips it from the X-Bifrost-Org header that names the org.
  @Matches(/^[\p{L}\p{N}_.\-](?:[\p{L}\p{N}_.\- ]*[\p{L}\p{N}_.\-])?$/u, { message: 'name may hold letters, digits, inner spaces, _ . - only' })
  name: string;
}

export class OrgDto {
  @ApiProperty({ format: 'uuid', example: '3f0e9a2c-1b7d-4c55-9a8e-0d2f6b1c7e41' })
  id: string;
  @ApiProperty({ example: 'acme' })
  name: string;
  @ApiProperty({ type: String, format: 'date-time' })
  createdAt: Date;
}

export class OrgListDto {
  @ApiProperty({ type: [OrgDto] })
  items: OrgDto[];
  @ApiProperty({ type: String, nullable: true, example: null })
  nextCursor: string | null;
}
