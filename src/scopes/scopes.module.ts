import { Global, Module } from '@nestjs/common';
import { OrgScopeGuard } from './org-scope.guard';
import { OrgsController } from './orgs.controller';
import { OrgsRepository } from './orgs.repository';
import { OrgsService } from './orgs.service';

@Global()
@Module({
  controllers: [OrgsController],
  providers: [OrgsService, OrgsRepository, OrgScopeGuard],
  exports: [OrgsService, OrgsRepository, OrgScopeGuard],
})
export class ScopesModule {}
