import { Injectable } from '@nestjs/common';
import type { Principal } from '../auth/roles';
import { badRequest, forbidden, notFound } from '../common/errors';
import { currentContext, RequestContext } from '../common/request-context';
import { OrgsService } from './orgs.service';

/**
 * X-Bifrost-Org may be percent-encoded (header values are Latin-1; org names are any Unicode
 * letters). Names cannot hold `%`, so a `%` always means encoding.
 */
export function decodeOrgHeader(raw: string | undefined): string | undefined {
  if (raw === undefined || !raw.includes('%')) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    throw badRequest('INVALID_ORG_HEADER', 'X-Bifrost-Org is not validly percent-encoded');
  }
}

/**
 * The request acts for `orgId` (its answers are scrubbed with that org's secrets), unless it acts
 * for one already: the one writer of RequestContext.orgId.
 */
export function actFor(orgId: string, ctx: RequestContext | undefined = currentContext()): void {
  if (ctx && !ctx.orgId) ctx.orgId = orgId;
}

/** The org a service principal acts for, in one place for the SDK and the executions routes. */
@Injectable()
export class ActingOrg {
  constructor(private readonly orgs: OrgsService) {}

  /** Its own, or X-Bifrost-Org (id or name) for an org-less token; the request then acts for it (scrubbing, audit). */
  async resolve(principal: Principal, rawHeader: string | undefined): Promise<string> {
    const header = decodeOrgHeader(rawHeader);
    let orgId = principal.orgId;
    if (!orgId) {
      if (!header) throw badRequest('ORG_REQUIRED', 'An org-less service token must name the org in X-Bifrost-Org');
      const org = await this.orgs.findByIdOrName(header);
      if (!org) throw notFound('ORG_NOT_FOUND', 'No org matches X-Bifrost-Org');
      orgId = org.id;
    } else if (header && header !== orgId) {
      const org = await this.orgs.findByIdOrName(header);
      if (!org || org.id !== orgId) throw forbidden('This token acts for its own org only', 'ORG_FORBIDDEN');
    }
    actFor(orgId);
    return orgId;
  }
}
