import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { badRequest, forbidden, notFound } from '../common/errors';
import { RequestWithContext } from '../common/request-context';
import type { Principal } from '../auth/roles';
import { actFor } from './acting-org';
import { OrgsService } from './orgs.service';
import { GLOBAL_SCOPE, invalidOrgId, invalidScope, isScope, isUuid } from '../common/params';

export { GLOBAL_SCOPE };

/**
 * Checks `{scope}` and `{orgId}` path parameters against the principal's org, in one place for every
 * route: an org principal acts in its own org only (403 otherwise, whether or not the other org
 * exists, so ids can't be probed); writes in `global` are for admin alone; an admin naming an org
 * that does not exist gets a 400 (scope) or 404 (org).
 */
@Injectable()
export class OrgScopeGuard implements CanActivate {
  constructor(private readonly orgs: OrgsService) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const req = context.switchToHttp().getRequest<RequestWithContext>();
    const principal = req.user;
    const { scope, orgId } = (req.params ?? {}) as Record<string, string | undefined>;
    if (!principal || (scope === undefined && orgId === undefined)) return true;
    const isRead = req.method === 'GET' || req.method === 'HEAD';

    if (scope !== undefined) {
      if (scope === GLOBAL_SCOPE) {
        if (!isRead && principal.role !== 'admin') throw forbidden('Writes in the global scope are for admin only', 'GLOBAL_WRITE_FORBIDDEN');
      } else {
        if (!isScope(scope)) throw invalidScope();
        await this.checkOrg(principal, scope, () => badRequest('INVALID_SCOPE', 'No org has this id'));
        actFor(scope, req.context);
      }
    }
    if (orgId !== undefined) {
      if (!isUuid(orgId)) throw invalidOrgId();
      await this.checkOrg(principal, orgId, () => notFound('ORG_NOT_FOUND', 'No such org'));
      actFor(orgId, req.context);
    }
    return true;
  }

  private async checkOrg(principal: Principal, orgId: string, missing: () => Error): Promise<void> {
    if (principal.role !== 'admin') {
      if (principal.orgId !== orgId) throw forbidden('You may act in your own org only', 'ORG_FORBIDDEN');
      return;
    }
    if (!(await this.orgs.find(orgId))) throw missing();
  }
}
