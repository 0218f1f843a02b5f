import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from './audit-entry.entity';

/** Checked in AuditService.list so each bad filter gets its own code. */
export class AuditQueryDto {
  @ApiPropertyOptional({ description: '`global` or an org id' }) @IsOptional() @IsString() scope?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() key?: string;
  @ApiPropertyOptional({ enum: AUDIT_ACTIONS }) @IsOptional() @IsString() action?: string;
  @ApiPropertyOptional({ description: 'Actor id or name' }) @IsOptional() @IsString() actor?: string;
  @ApiPropertyOptional({ enum: AUDIT_OUTCOMES }) @IsOptional() @IsString() outcome?: string;
  @ApiPropertyOptional({ description: 'ISO 8601', example: '2026-11-01T00:00:00Z' }) @IsOptional() @IsString() since?: string;
  @ApiPropertyOptional({ description: 'ISO 8601', example: '2026-12-01T00:00:00Z' }) @IsOptional() @IsString() until?: string;
  @ApiPropertyOptional({ description: '1-500, default 100' }) @IsOptional() @IsString() limit?: string;
  @ApiPropertyOptional({ description: 'nextCursor of the previous page' }) @IsOptional() @IsString() cursor?: string;
}

class AuditActorDto {
  @ApiProperty({ type: String, nullable: true }) id: string | null;
  @ApiProperty({ type: String, nullable: true }) name: string | null;
  @ApiProperty({ type: String, nullable: true }) role: string | null;
}

export class AuditItemDto {
  @ApiProperty({ example: '1042' }) id: string;
  @ApiProperty({ type: String, format: 'date-time' }) at: Date;
  @ApiProperty({ type: AuditActorDto }) actor: AuditActorDto;
  @ApiProperty({ enum: AUDIT_ACTIONS }) action: string;
  @ApiProperty({ type: String, nullable: true, example: 'global' }) scope: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'stripe_api_key' }) key: string | null;
  @ApiProperty({ type: String, nullable: true, example: 'secret' }) configType: string | null;
  @ApiProperty({ enum: AUDIT_OUTCOMES }) outcome: string;
  @ApiProperty({ type: String, nullable: true }) reason: string | null;
  @ApiProperty({ type: String, nullable: true }) executionId: string | null;
  @ApiProperty({ type: String, nullable: true }) requestId: string | null;
  @ApiProperty({ type: String, nullable: true }) ip: string | null;
  @ApiProperty({ type: String, nullable: true }) userAgent: string | null;
}

export class AuditListDto {
  @ApiProperty({ type: [AuditItemDto] }) items: AuditItemDto[];
  @ApiProperty({ type: String, nullable: true }) nextCursor: string | null;
}
