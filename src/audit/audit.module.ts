import { Global, Module } from '@nestjs/common';
import { DENIAL_RECORDER, DenialRecorder } from '../common/all-exceptions.filter';
import { RequestWithContext } from '../common/request-context';
import { KEY_PATTERN } from '../configs/config-values';
import { isScope } from '../common/params';
import { AuditController } from './audit.controller';
import { AuditService } from './audit.service';

/**
 * Every 401/403 on /api (and the first 429 of a throttled address) becomes an `auth.denied` entry
 * with its reason code, never the credentials. Which org's view it lands in is not the caller's
 * choice: a denial is filed under the org of the principal that was denied, and a denial with no
 * principal (no, an unknown or a malformed token) or of an org-less one under no org (admins see
 * it). The org a request aimed at, when it is another, is named in the reason (`target=`), so an
 * unauthenticated or cross-org caller cannot fill another org's audit view with entries of its
 * choosing.
 */
function denialRecorder(audit: AuditService): DenialRecorder {
  return async (req: RequestWithContext, status: number, code: string) => {
    // A token refused for its lifetime (expired, execution finished) is named: req.context.principal.
    const principal = req.user ?? req.context?.principal ?? null;
    const params = (req.params ?? {}) as Record<string, string | undefined>;
    // Path parameters are the caller's text, checked by nobody yet: kept only when they are a scope
    // or a key. Anything else could be long enough to fail the insert (and the batch it shares with
    // other requests' entries), or be something that must not be stored.
    const target = [params.scope, params.orgId].find(isScope);
    const scope = principal?.orgId ?? null;
    // The route's pattern, never the raw path: nothing the caller typed is stored.
    const route = req.routeOptions?.url ?? '(no route)';
    const method = /^[A-Z]{1,10}$/.test(req.method) ? req.method : '?';
    await audit.recordRead({
      action: 'auth.denied',
      outcome: 'denied',
      actor: principal,
      scope,
      key: params.key !== undefined && KEY_PATTERN.test(params.key) ? params.key : null,
      reason: `${status} ${code} ${method} ${route}${target !== undefined && target !== scope ? ` target=${target}` : ''}`,
    });
  };
}

@Global()
@Module({
  controllers: [AuditController],
  providers: [AuditService, { provide: DENIAL_RECORDER, useFactory: denialRecorder, inject: [AuditService] }],
  exports: [AuditService, DENIAL_RECORDER],
})
export class AuditModule {}
