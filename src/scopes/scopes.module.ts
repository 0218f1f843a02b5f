import { Global, Module } from '@nestjs/common';
import { ActingOrg } from './acting-org';
import { OrgScopeGuard } from './org-scope.guard';
import { OrgsController } from './orgs.controller';
import { OrgsRepository } from './orgs.repository';
import { OrgsService } from './orgs.service';

@Global()
@Module({
  controllers: [OrgsController],
  providers: [OrgsService, OrgsRepository, OrgScopeGuard, ActingOrg],
  exports: [OrgsService, OrgsRepository, OrgScopeGuard, ActingOrg],
})
export class ScopesModule {}
