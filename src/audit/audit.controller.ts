import { Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/openapi';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/roles';
import { AuditListDto, AuditQueryDto } from './audit.dto';
import { AuditService } from './audit.service';

@ApiTags('Audit')
@Controller('api/audit')
export class AuditController {
  constructor(private readonly audit: AuditService) {}

  @Get()
  @Roles('admin', 'org_admin')
  @ApiOperation({
    summary: 'The audit log, newest first',
    description: 'admin sees every entry; org_admin only its org. Entries never hold a value. There is no endpoint that changes or deletes an entry.',
  })
  @ApiOkResponse({ type: AuditListDto })
  @ApiErrors({
    400: '`INVALID_DATE`, `INVALID_ACTION`, `INVALID_OUTCOME`, `INVALID_LIMIT`, `INVALID_CURSOR`',
    403: '`ORG_FORBIDDEN`: an org_admin asking for another scope',
  })
  list(@CurrentPrincipal() principal: Principal, @Query() query: AuditQueryDto): Promise<AuditListDto> {
    return this.audit.list(principal, query);
  }
}
