import { Global, Module, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import { AllExceptionsFilter } from '../common/all-exceptions.filter';
import { pathOf, RequestWithContext } from '../common/request-context';
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
      await this.audit.recordRead({
        action: 'auth.denied',
        outcome: 'denied',
        actor: principal,
        scope: params.scope ?? params.orgId ?? ctx?.orgId ?? principal?.orgId ?? null,
        key: params.key ?? null,
        // The route's pattern, not the raw path: nothing the caller typed is stored.
        reason: `${status} ${code} ${req.method} ${req.routeOptions?.url ?? pathOf(req)}`,
      });
    });
  }

  onModuleDestroy(): void {
    AllExceptionsFilter.setDenialRecorder(undefined);
  }
}
