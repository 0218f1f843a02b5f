import { Global, Module, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AllExceptionsFilter } from '../common/all-exceptions.filter';
import { pathOf, RequestWithContext } from '../common/request-context';
import { KEY_PATTERN } from '../configs/config-values';
import { GLOBAL_SCOPE } from '../scopes/org-scope.guard';
import { UUID } from '../scopes/orgs.service';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';

@Global()
@Module({
  controllers: [AuditController],
  providers: [AuditService],
  exports: [AuditService],
})
export class AuditModule implements OnModuleInit, OnModuleDestroy {
  constructor(private readonly audit: AuditService) {}

  /** Every 401/403 on /api becomes an `auth.denied` entry with its reason code, never the credentials. */
  onModuleInit(): void {
    AllExceptionsFilter.setDenialRecorder(async (req: RequestWithContext, status: number, code: string) => {
      const principal = req.user ?? null;
      const ctx = req.context;
      const params = (req.params ?? {}) as Record<string, string | undefined>;
      // Path parameters are the caller's text, checked by nobody yet: kept only when they are a scope
      // or a key. Anything else could be long enough to fail the insert (and the batch it shares with
      // other requests' entries), or be something that must not be stored.
      const scope = [params.scope, params.orgId].find((s) => s === GLOBAL_SCOPE || (s !== undefined && UUID.test(s)));
      await this.audit.recordRead({
        action: 'auth.denied',
        outcome: 'denied',
        actor: principal,
        scope: scope ?? ctx?.orgId ?? principal?.orgId ?? null,
        key: params.key !== undefined && KEY_PATTERN.test(params.key) ? params.key : null,
        // The route's pattern, not the raw path: nothing the caller typed is stored.
        reason: `${status} ${code} ${req.method} ${req.routeOptions?.url ?? pathOf(req)}`,
      });
    });
  }

  onModuleDestroy(): void {
    AllExceptionsFilter.setDenialRecorder(undefined);
  }
}
