import { Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { badRequest } from '../common/errors';
import { ConfigType } from '../configs/config.entity';
import { ConfigsRepository } from '../configs/configs.repository';
import { isScope } from '../common/params';
import { detectLeak } from './detectors';

export interface ScanFinding {
  scope: string;
  key: string;
  type: ConfigType;
  detector: string;
}

export interface ScanResult {
  /** Plain configs looked at. */
  scanned: number;
  /** Every finding, whether listed or not. */
  found: number;
  /** The first MAX_LISTED findings by scope and key. */
  items: ScanFinding[];
  truncated: boolean;
}

/** Findings listed in one answer; `found` gives the true total. */
export const MAX_LISTED = 1000;
/** Rows read per statement: the scan holds one page of values at a time. */
const PAGE = 500;

/**
 * Lists the plain configs that already look like credentials (a deployment migrated from Bifrost,
 * or values written before the write rule), by scope, key and detector, never a value. Reads
 * every plain row a page at a time in (scope, key) order; one `config.list` audit entry.
 */
@Injectable()
export class ScanService {
  constructor(
    private readonly configs: ConfigsRepository,
    private readonly audit: AuditService,
  ) {}

  async scan(actor: Principal | null, scope?: string): Promise<ScanResult> {
    if (scope !== undefined && !isScope(scope)) throw badRequest('INVALID_SCOPE', 'scope must be "global" or an org id');
    const result: ScanResult = { scanned: 0, found: 0, items: [], truncated: false };
    let after: { scope: string; key: string } | null = null;
    for (;;) {
      const rows = await this.configs.plainPage(scope, after, PAGE);
      for (const row of rows) {
        result.scanned++;
        if (row.value === null) continue;
        const found = detectLeak(row.key, JSON.parse(row.value));
        if (!found) continue;
        result.found++;
        if (result.items.length < MAX_LISTED) result.items.push({ scope: row.scope, key: row.key, type: row.type, detector: found.detector });
        else result.truncated = true;
      }
      if (rows.length < PAGE) break;
      after = { scope: rows[rows.length - 1].scope, key: rows[rows.length - 1].key };
    }
    await this.audit.recordRead({ action: 'config.list', outcome: 'success', scope: scope ?? null, reason: `leak scan: ${result.found} of ${result.scanned} plain configs look like credentials`, ...(actor ? { actor } : {}) });
    return result;
  }
}
