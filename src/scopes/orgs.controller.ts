import { Body, Controller, Get, Param, Post, Query } from '@nestjs/common';
import { ApiCreatedResponse, ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ApiErrors } from '../common/openapi';
import { PageQueryDto } from '../common/paging';
import { orgIdParam } from '../common/params';
import { CurrentPrincipal, Roles } from '../auth/auth.decorators';
import type { Principal } from '../auth/roles';
import { CreateOrgDto, OrgDto, OrgListDto } from './orgs.dto';
import { OrgsService } from './orgs.service';

const toOrgDto = (o: OrgDto): OrgDto => ({ id: o.id, name: o.name, createdAt: o.createdAt });

@ApiTags('Orgs')
@Controller('api/orgs')
export class OrgsController {
  constructor(private readonly orgs: OrgsService) {}

  @Post()
  @Roles('admin')
  @ApiOperation({
    summary: 'Create an org (admin)',
    description: 'Names are unique (409 `ORG_EXISTS`), stored in Unicode NFC; a name that looks like an existing org’s (Unicode TR39 skeleton) is refused with 409 `ORG_NAME_CONFUSABLE`.',
  })
  @ApiCreatedResponse({ type: OrgDto })
  @ApiErrors({ 409: '`ORG_EXISTS` (the name is taken), `ORG_NAME_CONFUSABLE` (it looks like an existing org’s name)' }, { body: true })
  async create(@Body() body: CreateOrgDto): Promise<OrgDto> {
    return toOrgDto(await this.orgs.create(body.name));
  }

  @Get()
  @Roles('admin', 'org_admin', 'member', 'service')
  @ApiOperation({ summary: 'List orgs: all for admin, your own for everyone else', description: 'Ordered by name, paged (`limit`, `cursor`) as every list. An org-less token (other than admin) sees none.' })
  @ApiOkResponse({ type: OrgListDto })
  @ApiErrors({ 400: '`INVALID_LIMIT`, `INVALID_CURSOR`' })
  async list(@CurrentPrincipal() principal: Principal, @Query() query: PageQueryDto): Promise<OrgListDto> {
    const page = await this.orgs.list(principal.role === 'admin' ? undefined : principal.orgId, query);
    return { items: page.items.map(toOrgDto), nextCursor: page.nextCursor };
  }

  @Get(':orgId')
  @Roles('admin', 'org_admin', 'member', 'service')
  @ApiOperation({ summary: 'One org (your own, or any for admin)', description: 'Another org’s id is 403 `ORG_FORBIDDEN` whether or not it exists, so ids cannot be probed.' })
  @ApiOkResponse({ type: OrgDto })
  @ApiErrors({ 400: '`INVALID_ID`: not an org id (a UUID)', 403: '`ORG_FORBIDDEN`: another org', 404: '`ORG_NOT_FOUND`' })
  async get(@Param('orgId', orgIdParam) orgId: string): Promise<OrgDto> {
    return toOrgDto(await this.orgs.getOrThrow(orgId));
  }
}
