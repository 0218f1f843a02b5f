import { Global, Module, OnModuleDestroy, OnModuleInit } from '@nestjs/common';
import type { Request } from 'express';
import { AllExceptionsFilter } from '../common/all-exceptions.filter';
import { RequestContext } from '../common/request-context';
import type { Principal } from '../auth/roles';
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
    AllExceptionsFilter.setDenialRecorder(async (req: Request, status: number, code: string) => {
      const principal = (req as Request & { user?: Principal }).user ?? null;
      const ctx = (req as Request & { context?: RequestContext }).context;
      const params = (req.params ?? {}) as Record<string, string | undefined>;
      await this.audit.recordRead({
        action: 'auth.denied',
        outcome: 'denied',
        actor: principal,
        scope: params.scope ?? params.orgId ?? ctx?.orgId ?? principal?.orgId ?? null,
        key: params.key ?? null,
        reason: `${status} ${code} ${req.method} ${req.baseUrl ?? ''}${req.route?.path ?? req.path}`,
      });
    });
  }

  onModuleDestroy(): void {
    AllExceptionsFilter.setDenialRecorder(undefined);
  }
}
