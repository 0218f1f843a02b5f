import { Body, Controller, Get, Headers, HttpCode, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiHeader, ApiNoContentResponse, ApiOkResponse, ApiOperation, ApiParam, ApiTags } from '@nestjs/swagger';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import { actingExecution } from '../auth/execution-scope';
import type { Principal } from '../auth/roles';
import { forbidden } from '../common/errors';
import { ApiErrors, ORG_HEADER_ERRORS } from '../common/openapi';
import { ActingOrg } from '../scopes/acting-org';
import { invalidOrgId, isUuid } from '../common/params';
import {
  AppendLogsDto,
  CreateExecutionDto,
  ExecutionTokenDto,
  ExecutionListDto,
  ExecutionRecordDto,
  FinishExecutionDto,
  IssueExecutionTokenDto,
  ListExecutionsQueryDto,
  MAX_LOG_BATCH_BYTES,
  MAX_LOG_LINES,
  RegisterSecretsDto,
  StartedExecutionDto,
} from './dto/execution.dto';
import { ExecutionsService } from './executions.service';

const ORG_HEADER = { name: 'X-Bifrost-Org', required: false, description: 'For an org-less service token: the org (id or name) to act for' };
const ID_PARAM = { name: 'id', description: 'The execution id', format: 'uuid' };
const NOT_FOUND = `\`EXECUTION_NOT_FOUND\`: no such execution in this org (another org’s reads the same); ${ORG_HEADER_ERRORS[404]}`;
const MISMATCH = '`EXECUTION_TOKEN_MISMATCH`: an execution token of another execution';

/**
 * The workflow engine reports its runs here (service tokens); the org's people read them back.
 * Whatever is stored is scrubbed first, and every answer is scrubbed again on its way out.
 */
@ApiTags('Executions')
@Controller('api/executions')
export class ExecutionsController {
  constructor(
    private readonly executions: ExecutionsService,
    private readonly actingOrg: ActingOrg,
  ) {}

  @Post()
  @Roles('service')
  @ApiOperation({
    summary: 'Start an execution of a workflow (service tokens); answers its execution token, shown once',
    description:
      'The org is the token’s, or `X-Bifrost-Org` for an org-less service token. The execution token reads configs through the SDK (each secret read registered with this execution’s scrubber, no header needed), writes this execution’s logs, registers its secrets and finishes it; anything else is 403 `EXECUTION_TOKEN_NOT_ALLOWED`. It stops working when the execution finishes (401 `EXECUTION_TOKEN_FINISHED`) or at `tokenExpiresAt` (401 `TOKEN_EXPIRED`), which is never later than the service token’s own expiry.',
  })
  @ApiHeader(ORG_HEADER)
  @ApiCreatedResponse({ type: StartedExecutionDto })
  @ApiErrors({ ...ORG_HEADER_ERRORS, 400: '`EXPIRY_TOO_LONG`, `INVALID_EXPIRY` (tokenTtlSeconds); nothing is created' }, { body: true })
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateExecutionDto, @Headers('x-bifrost-org') org?: string): Promise<StartedExecutionDto> {
    return this.executions.create(principal, await this.actingOrg.resolve(principal, org), body.workflow, body.tokenTtlSeconds);
  }

  @Post(':id/token')
  @Roles('service')
  @ApiOperation({ summary: 'Another execution token for a running execution (service tokens), shown once', description: 'For a worker that restarted, or a run longer than the first token’s lifetime. A finished execution: 409 `EXECUTION_FINISHED`, nothing issued.' })
  @ApiHeader(ORG_HEADER)
  @ApiParam(ID_PARAM)
  @ApiCreatedResponse({ type: ExecutionTokenDto })
  @ApiErrors({ ...ORG_HEADER_ERRORS, 400: '`EXPIRY_TOO_LONG`, `INVALID_EXPIRY`', 404: NOT_FOUND, 409: '`EXECUTION_FINISHED`' }, { body: true })
  async issueToken(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: IssueExecutionTokenDto, @Headers('x-bifrost-org') org?: string): Promise<ExecutionTokenDto> {
    return this.executions.issueToken(principal, await this.actingOrg.resolve(principal, org), id, body.tokenTtlSeconds);
  }

  @Post(':id/logs')
  @HttpCode(204)
  @Roles('service', 'execution')
  @ApiOperation({
    summary: 'Append a batch of log lines, scrubbed before they are stored',
    description: `At most ${MAX_LOG_LINES} lines and ${MAX_LOG_BATCH_BYTES} bytes of messages per batch; a larger batch is refused whole (413 \`LOG_BATCH_TOO_LARGE\`, or \`PAYLOAD_TOO_LARGE\` for a body over 1 MiB) and nothing is stored.`,
  })
  @ApiHeader(ORG_HEADER)
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse()
  @ApiErrors({ ...ORG_HEADER_ERRORS, 404: NOT_FOUND, 409: '`EXECUTION_FINISHED`', 413: '`LOG_BATCH_TOO_LARGE`', 403: MISMATCH }, { body: true })
  async appendLogs(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: AppendLogsDto, @Headers('x-bifrost-org') org?: string): Promise<void> {
    actingExecution(principal, id);
    await this.executions.appendLogs(await this.actingOrg.resolve(principal, org), id, body.lines);
  }

  @Post(':id/secrets')
  @HttpCode(204)
  @Roles('service', 'execution')
  @ApiOperation({
    summary: 'Register dynamic secrets (OAuth tokens and the like) with the execution’s scrubber',
    description: 'Stored encrypted; from now on they are scrubbed from everything the execution stores and from every response that names it, and what it stored before is scrubbed again.',
  })
  @ApiHeader(ORG_HEADER)
  @ApiParam(ID_PARAM)
  @ApiNoContentResponse()
  @ApiErrors(
    {
      ...ORG_HEADER_ERRORS,
      403: MISMATCH,
      404: NOT_FOUND,
      413: '`TOO_MANY_EXECUTION_SECRETS` (over 1,000), `EXECUTION_SECRETS_TOO_LARGE` (over 256 KiB of UTF-8 in all); nothing is registered',
    },
    { body: true },
  )
  async registerSecrets(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: RegisterSecretsDto, @Headers('x-bifrost-org') org?: string): Promise<void> {
    actingExecution(principal, id);
    await this.executions.registerSecrets(await this.actingOrg.resolve(principal, org), id, body.values);
  }

  @Post(':id/finish')
  @HttpCode(200)
  @Roles('service', 'execution')
  @ApiOperation({ summary: 'Finish the execution with its result or error (scrubbed before they are stored)', description: 'Answers the execution as `GET` does.' })
  @ApiHeader(ORG_HEADER)
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: ExecutionRecordDto })
  @ApiErrors({ ...ORG_HEADER_ERRORS, 404: NOT_FOUND, 409: '`EXECUTION_FINISHED`: it was finished already', 403: MISMATCH }, { body: true })
  async finish(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: FinishExecutionDto, @Headers('x-bifrost-org') org?: string): Promise<ExecutionRecordDto> {
    actingExecution(principal, id);
    return this.executions.finish(await this.actingOrg.resolve(principal, org), id, body);
  }

  @Get()
  @Roles('admin', 'org_admin', 'member', 'service')
  @ApiOperation({ summary: 'List executions, newest first (admin: every org’s, or `orgId`’s; others: their org’s)', description: 'Without logs; `GET /api/executions/{id}` has them.' })
  @ApiHeader(ORG_HEADER)
  @ApiOkResponse({ type: ExecutionListDto })
  @ApiErrors({
    ...ORG_HEADER_ERRORS,
    400: `\`INVALID_LIMIT\`, \`INVALID_CURSOR\`, \`INVALID_ID\` (\`orgId\` not a UUID); ${ORG_HEADER_ERRORS[400]}`,
    403: '`ORG_FORBIDDEN`: another org’s `orgId`, or a token of no org',
  })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: ListExecutionsQueryDto, @Headers('x-bifrost-org') org?: string): Promise<ExecutionListDto> {
    let orgId: string | null;
    if (principal.role === 'admin') {
      if (query.orgId !== undefined && !isUuid(query.orgId)) throw invalidOrgId();
      orgId = query.orgId ?? null;
    } else {
      orgId = await this.orgOf(principal, org);
      if (query.orgId !== undefined && query.orgId !== orgId) throw forbidden('You may act in your own org only', 'ORG_FORBIDDEN');
    }
    return this.executions.list(orgId, query);
  }

  @Get(':id')
  @Roles('admin', 'org_admin', 'member', 'service')
  @ApiOperation({ summary: 'An execution with its logs, result and error, as stored (scrubbed)', description: 'Readable by the org’s service tokens, members and org admins, and by admins.' })
  @ApiHeader(ORG_HEADER)
  @ApiParam(ID_PARAM)
  @ApiOkResponse({ type: ExecutionRecordDto })
  @ApiErrors({ ...ORG_HEADER_ERRORS, 403: '`ORG_FORBIDDEN`: a token of no org', 404: NOT_FOUND })
  async get(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Headers('x-bifrost-org') org?: string): Promise<ExecutionRecordDto> {
    return this.executions.get(principal.role === 'admin' ? null : await this.orgOf(principal, org), id);
  }

  /** A service token's org (X-Bifrost-Org for an org-less one); a person's own org. */
  private async orgOf(principal: Principal, header: string | undefined): Promise<string> {
    if (principal.role === 'service') return this.actingOrg.resolve(principal, header);
    if (!principal.orgId) throw forbidden('This token belongs to no org', 'ORG_FORBIDDEN');
    return principal.orgId;
  }
}
