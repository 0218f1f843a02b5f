import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsIn, IsOptional, IsString, ValidateBy } from 'class-validator';
import { badRequest } from '../common/errors';
import { PageCursor, PageLimit } from '../common/paging';
import { withCode } from '../common/validation';
import { AUDIT_ACTIONS, AUDIT_OUTCOMES } from './audit-entry.entity';

const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;
/** An ISO 8601 date or date-time that names a real instant (`2024-13-01` does not). */
export const isIsoDate = (raw: unknown): raw is string => typeof raw === 'string' && ISO_8601.test(raw) && !Number.isNaN(new Date(raw).getTime());
export const invalidDate = (name: 'since' | 'until') => badRequest('INVALID_DATE', `${name} must be an ISO 8601 date or date-time`);
const IsIsoDate = (name: 'since' | 'until') => ValidateBy({ name: 'isIsoDate', validator: { validate: isIsoDate } }, withCode('INVALID_DATE', invalidDate(name).message));

/** Each bad filter has its own code; the first bad one (in this order) answers. */
export class AuditQueryDto {
  @ApiPropertyOptional({ description: '`global` or an org id' }) @IsOptional() @IsString() scope?: string;
  @ApiPropertyOptional() @IsOptional() @IsString() key?: string;
  @ApiPropertyOptional({ enum: AUDIT_ACTIONS })
  @IsOptional()
  @IsString()
  @IsIn(AUDIT_ACTIONS as unknown as string[], withCode('INVALID_ACTION', `action must be one of ${AUDIT_ACTIONS.join(', ')}`))
  action?: string;
  @ApiPropertyOptional({ description: 'Actor id or name' }) @IsOptional() @IsString() actor?: string;
  @ApiPropertyOptional({ enum: AUDIT_OUTCOMES })
  @IsOptional()
  @IsString()
  @IsIn(AUDIT_OUTCOMES as unknown as string[], withCode('INVALID_OUTCOME', `outcome must be one of ${AUDIT_OUTCOMES.join(', ')}`))
  outcome?: string;
  @ApiPropertyOptional({ description: 'ISO 8601', example: '2026-11-01T00:00:00Z' }) @IsOptional() @IsString() @IsIsoDate('since') since?: string;
  @ApiPropertyOptional({ description: 'ISO 8601', example: '2026-12-01T00:00:00Z' }) @IsOptional() @IsString() @IsIsoDate('until') until?: string;
  @PageLimit() limit?: string;
  @PageCursor() cursor?: string;
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
