import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import { Allow, ArrayMaxSize, IsArray, IsIn, IsInt, IsOptional, IsString, Length, MaxLength, ValidateNested } from 'class-validator';
import { anyJson } from '../../common/openapi';
import { PageCursor, PageLimit } from '../../common/paging';
import { EXECUTION_STATUSES, ExecutionStatus, FINISHED_STATUSES, FinishedStatus } from '../execution.entity';

/** At most this many lines per `POST /logs` batch, and this many UTF-8 bytes of messages (413 beyond). */
export const MAX_LOG_LINES = 1000;
export const MAX_LOG_BATCH_BYTES = 1024 * 1024;
/** Dynamic secrets per request, and per execution in all. */
export const MAX_SECRETS_PER_REQUEST = 100;
export const MAX_SECRETS_PER_EXECUTION = 1000;
export const MAX_SECRET_LENGTH = 64 * 1024;
/**
 * The total size of one execution's dynamic secrets, in UTF-8 bytes (413 EXECUTION_SECRETS_TOO_LARGE
 * beyond). A matcher's size, the time to build it and the memory it takes grow with the size of the
 * forms it holds, about 16 code units per byte of secret (base64 runs, URL and JSON escapes): 256 KiB
 * make ~1.3 million automaton states, built in ~0.15-0.3 s of CPU (sliced, off the event loop's
 * critical path), where 60 × 64 KiB made 15 s and 1.5 GB. 256 KiB hold a hundred JWTs of 2 KiB or
 * OAuth tokens by the thousand, and four secrets of the largest size a value may have.
 */
export const MAX_EXECUTION_SECRET_BYTES = 256 * 1024;

const JSON_VALUE = anyJson();

export class CreateExecutionDto {
  @ApiProperty({ example: 'charge_card', minLength: 1, maxLength: 255, description: 'The workflow being run' })
  @IsString()
  @Length(1, 255)
  workflow: string;

  @ApiPropertyOptional({ type: Number, example: 3600, description: 'How long the execution token lives, in seconds (default BIFROST_EXECUTION_TOKEN_TTL, 1 h; at most BIFROST_EXECUTION_TOKEN_MAX_TTL, 24 h: `EXPIRY_TOO_LONG`)' })
  @IsOptional()
  @IsInt()
  tokenTtlSeconds?: number;
}

export class IssueExecutionTokenDto {
  @ApiPropertyOptional({ type: Number, example: 3600, description: 'As `tokenTtlSeconds` of `POST /api/executions`' })
  @IsOptional()
  @IsInt()
  tokenTtlSeconds?: number;
}

export class ExecutionTokenDto {
  @ApiProperty({ example: 'bft_0nV3r-sh0wn-4ga1n-xxxxxxxxxxxxxxxxxxxxxxxxxx', description: 'The execution token, shown only here: it reads configs through the SDK and reports this execution, nothing else, until the execution finishes or `tokenExpiresAt`' })
  token: string;
  @ApiProperty({ type: String, format: 'date-time' }) tokenExpiresAt: Date;
}

export class LogLineDto {
  @ApiProperty({ example: 'info', minLength: 1, maxLength: 16, description: 'Any level name (debug, info, warning, error, ...)' })
  @IsString()
  @Length(1, 16)
  level: string;

  @ApiProperty({ example: 'charged customer 42', description: 'Scrubbed of every registered secret before it is stored' })
  @IsString()
  message: string;
}

export class AppendLogsDto {
  @ApiProperty({
    type: [LogLineDto],
    description: `At most ${MAX_LOG_LINES} lines and ${MAX_LOG_BATCH_BYTES} bytes of messages per batch (413 \`LOG_BATCH_TOO_LARGE\` beyond; nothing is stored)`,
  })
  @IsArray()
  @ValidateNested({ each: true })
  @Type(() => LogLineDto)
  lines: LogLineDto[];
}

export class RegisterSecretsDto {
  @ApiProperty({
    type: [String],
    example: ['ya29.a0AfH6SMB...'],
    description:
      `Dynamic secrets (OAuth tokens and the like), at most ${MAX_SECRETS_PER_REQUEST} per request, each at most ${MAX_SECRET_LENGTH} characters; ` +
      `an execution holds at most ${MAX_SECRETS_PER_EXECUTION} of them and ${MAX_EXECUTION_SECRET_BYTES} UTF-8 bytes in all (413 \`EXECUTION_SECRETS_TOO_LARGE\` beyond; nothing is stored). Values of fewer than 4 characters are not scrubbed, by rule.`,
  })
  @IsArray()
  @ArrayMaxSize(MAX_SECRETS_PER_REQUEST)
  @IsString({ each: true })
  @MaxLength(MAX_SECRET_LENGTH, { each: true })
  values: string[];
}

export class FinishExecutionDto {
  @ApiProperty({ enum: FINISHED_STATUSES, example: 'success' })
  @IsIn(FINISHED_STATUSES as unknown as string[], { message: `status must be one of ${FINISHED_STATUSES.join(', ')}` })
  status: FinishedStatus;

  @ApiPropertyOptional({ ...JSON_VALUE, description: 'Any JSON value the workflow returned; scrubbed before it is stored', example: { charged: true } })
  @Allow()
  result?: unknown;

  @ApiPropertyOptional({ ...JSON_VALUE, description: 'What the workflow failed with (the client sends `{name, message}`); scrubbed before it is stored', example: { name: 'CardDeclined', message: 'card declined' } })
  @Allow()
  error?: unknown;
}

export class CreatedExecutionDto {
  @ApiProperty({ format: 'uuid' }) id: string;
  @ApiProperty({ format: 'uuid' }) orgId: string;
  @ApiProperty({ example: 'charge_card' }) workflow: string;
  @ApiProperty({ enum: EXECUTION_STATUSES, example: 'running' }) status: ExecutionStatus;
  @ApiProperty({ type: String, format: 'date-time' }) startedAt: Date;
}

/** The answer of POST /api/executions: the execution and its token. */
export class StartedExecutionDto extends CreatedExecutionDto {
  @ApiProperty({ example: 'bft_0nV3r-sh0wn-4ga1n-xxxxxxxxxxxxxxxxxxxxxxxxxx', description: 'The execution token, shown only here (see ExecutionTokenDto)' })
  token: string;
  @ApiProperty({ type: String, format: 'date-time' }) tokenExpiresAt: Date;
}

export class ExecutionLogDto {
  @ApiProperty({ example: 'info' }) level: string;
  @ApiProperty({ example: 'charged customer 42' }) message: string;
  @ApiProperty({ type: String, format: 'date-time' }) at: Date;
}

export class ExecutionSummaryDto extends CreatedExecutionDto {
  @ApiProperty({ ...JSON_VALUE, description: 'As stored (scrubbed); null when none' }) result: unknown;
  @ApiProperty({ ...JSON_VALUE, description: 'As stored (scrubbed); null when none' }) error: unknown;
  @ApiProperty({ type: String, format: 'date-time', nullable: true }) finishedAt: Date | null;
}

export class ExecutionRecordDto extends ExecutionSummaryDto {
  @ApiProperty({ type: [ExecutionLogDto], description: 'In the order they were sent; scrubbed' }) logs: ExecutionLogDto[];
}

export class ExecutionListDto {
  @ApiProperty({ type: [ExecutionSummaryDto] }) items: ExecutionSummaryDto[];
  @ApiProperty({ type: String, nullable: true, description: 'Pass as `cursor` for the next page' }) nextCursor: string | null;
}

export class ListExecutionsQueryDto {
  @ApiPropertyOptional({ format: 'uuid', description: 'Admin: only this org’s executions (others always see their own org’s)' })
  @IsOptional()
  @IsString()
  orgId?: string;

  @ApiPropertyOptional({ enum: EXECUTION_STATUSES }) @IsOptional() @IsIn(EXECUTION_STATUSES as unknown as string[]) status?: string;
  @PageLimit() limit?: string;
  @PageCursor() cursor?: string;
}
