import { HttpStatus, Injectable } from '@nestjs/common';
import { AuditService } from '../audit/audit.service';
import type { Principal } from '../auth/roles';
import { AppError, conflict } from '../common/errors';
import { FixedWindows } from '../common/fixed-windows';
import { CryptoService } from '../crypto/crypto.service';
import { SecretBindingMismatchError } from '../crypto/binding';
import { ConfigsRepository } from './configs.repository';
import { assertValidKey } from './config-values';
import { bindingMismatch, configNotFound, ConfigsService, decryptionFailed, cursorFor, Page, parseListQuery } from './configs.service';

/** Verify attempts per principal in a fixed window: a person checking a key never needs more; a guesser gets nowhere. */
export const VERIFY_LIMIT = 10;
export const VERIFY_WINDOW_MS = 60_000;

export class VerifyThrottled extends AppError {
  constructor(readonly retryAfter: number) {
    super(HttpStatus.TOO_MANY_REQUESTS, 'VERIFY_THROTTLED', `At most ${VERIFY_LIMIT} verify requests a minute per token; try again later`);
  }
}

/**
 * Verify attempts per principal (token id), every attempt counted (a 404 too: probing keys is
 * guessing as well). Kept per instance, like the authentication throttle: a brake, not shared state.
 */
export class VerifyThrottle {
  private readonly attempts = new FixedWindows(VERIFY_WINDOW_MS);

  /** Counts an attempt; the retry delay (seconds) when it is over the limit, else 0; and whether it is the window's first refusal. */
  take(principal: string, now = Date.now()): { retryAfter: number; firstRefusal: boolean } {
    if (this.attempts.add(principal, now) <= VERIFY_LIMIT) return { retryAfter: 0, firstRefusal: false };
    return { retryAfter: this.attempts.retryAfter(principal, now), firstRefusal: this.attempts.firstRefusal(principal, now) };
  }
}

export interface ExposedSecretView {
  scope: string;
  key: string;
  exposedAt: Date;
  fingerprint: string | null;
  updatedAt: Date;
  updatedBy: string;
}

/**
 * Checks on secrets that never reveal one: verify (is this the stored value?) and the list of
 * secrets an execution's output exposed. Audited; never a value in an entry or an answer.
 */
@Injectable()
export class SecretChecksService {
  readonly throttle = new VerifyThrottle();

  constructor(
    private readonly repo: ConfigsRepository,
    private readonly crypto: CryptoService,
    private readonly audit: AuditService,
    private readonly configs: ConfigsService,
  ) {}

  async verify(principal: Principal, scope: string, key: string, value: string): Promise<{ matches: boolean }> {
    assertValidKey(key);
    const { retryAfter, firstRefusal } = this.throttle.take(principal.id);
    if (retryAfter > 0) {
      // One entry per principal and window, not one per refused attempt.
      if (firstRefusal) await this.audit.recordRead({ action: 'config.verify', outcome: 'denied', scope, key, reason: 'VERIFY_THROTTLED' });
      throw new VerifyThrottled(retryAfter);
    }
    const row = await this.repo.secretOf(scope, key);
    const refuse = async (err: AppError) => {
      await this.audit.recordRead({ action: 'config.verify', outcome: 'failure', scope, key, configType: row?.type ?? null, reason: err.code });
      return err;
    };
    if (!row) throw await refuse(configNotFound());
    // A plain value is readable by whoever may verify it: there is nothing to verify without revealing.
    if (row.type !== 'secret') throw await refuse(conflict('NOT_A_SECRET', 'Only a secret can be verified; this config’s value is readable as it is'));
    if (!row.hasValue || !row.ciphertext) throw await refuse(conflict('SECRET_VALUE_MISSING', `The secret '${key}' has no value yet: set it before verifying it`));
    let stored: string;
    try {
      stored = this.crypto.decryptBound(row.ciphertext, { scope, key });
    } catch (err) {
      throw await refuse(err instanceof SecretBindingMismatchError ? bindingMismatch(key) : decryptionFailed(key));
    }
    const matches = this.crypto.sameValue(stored, value);
    await this.audit.recordRead({ action: 'config.verify', outcome: 'success', scope, key, configType: 'secret', reason: `matches=${matches}` });
    return { matches };
  }

  /** The scope's secrets marked exposed, by key ("rotate these"). */
  async exposed(viewer: Principal, scope: string, q: { limit?: string; cursor?: string }): Promise<Page<ExposedSecretView>> {
    const plan = parseListQuery({ limit: q.limit, cursor: q.cursor });
    const rows = await this.repo.exposedIn(scope, plan.after, plan.limit + 1);
    await this.audit.recordRead({ action: 'config.list', outcome: 'success', scope, reason: 'exposed' });
    const more = rows.length > plan.limit;
    const page = more ? rows.slice(0, plan.limit) : rows;
    const view = this.configs.viewFor(viewer);
    return {
      items: page.map((row) => {
        const v = view(row);
        return { scope: v.scope, key: v.key, exposedAt: row.exposedAt!, fingerprint: v.fingerprint, updatedAt: v.updatedAt, updatedBy: v.updatedBy };
      }),
      nextCursor: more ? cursorFor(page[page.length - 1].key) : null,
    };
  }
}
