import { Global, Module } from '@nestjs/common';
import { OrgScopeGuard } from './org-scope.guard';
import { OrgsController } from './orgs.controller';
import { OrgsService } from './orgs.service';

@Global()
@Module({
  controllers: [OrgsController],
  providers: [OrgsService, OrgScopeGuard],
  exports: [OrgsService, OrgScopeGuard],
})
export class ScopesModule {}
