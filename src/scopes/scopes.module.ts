import { Global, Module } from '@nestjs/common';
import { ActingOrg } from './acting-org';
import { OrgScopeGuard } from './org-scope.guard';
import { OrgsController } from './orgs.controller';
import { OrgsService } from './orgs.service';

@Global()
@Module({
  controllers: [OrgsController],
  providers: [OrgsService, OrgScopeGuard, ActingOrg],
  exports: [OrgsService, OrgScopeGuard, ActingOrg],
})
export class ScopesModule {}
