import { ApiProperty } from '@nestjs/swagger';
import { IsString, Matches, MaxLength, MinLength } from 'class-validator';
import { ORG_NAME_PATTERN } from './org-names';

export class CreateOrgDto {
  @ApiProperty({ example: 'acme', description: 'Unique org name: 1-100 characters, letters (with combining marks), digits, inner spaces, `_ . -`; stored in Unicode NFC; refused (409 `ORG_NAME_CONFUSABLE`) when it looks like an existing org\'s name (Unicode TR39 skeleton). In X-Bifrost-Org, percent-encode names that are not Latin-1', maxLength: 100 })
  @IsString()
  @MinLength(1)
  @MaxLength(100)
  // No leading or trailing space: HTTP strips it from the X-Bifrost-Org header that names the org.
  // Stored in NFC; a name that looks like an existing org's (TR39 skeleton) is refused: org-names.ts.
  @Matches(ORG_NAME_PATTERN, { message: 'name may hold letters (with their marks), digits, inner spaces, _ . - only' })
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
  @ApiProperty({ type: String, nullable: true, example: null, description: 'Pass as `cursor` for the next page' })
  nextCursor: string | null;
}
