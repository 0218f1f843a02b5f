import { CallHandler, createParamDecorator, ExecutionContext, Injectable, NestInterceptor } from '@nestjs/common';
import { Observable } from 'rxjs';
import { mergeMap } from 'rxjs/operators';
import { AppError, invalidToken } from '../common/errors';
import type { Principal } from './roles';
import { executionTokenFinished, isExpired, TokenRefusedError, tokenExpired } from './token-refusals';

/** The presented token's row as a handler's own statement read it (see SdkReadRepository). */
export interface TokenRowPart {
  id: string;
  role: string;
  orgId: string | null;
  revoked: boolean;
  /** For an execution token, its execution's status (null: no such execution). */
  executionStatus: string | null;
}

/** What a check needs of TokensService: the stored row now, and what a use or a refusal records. */
export interface TokenCheckHost {
  /** The principal of the hash as stored now (null: unknown or revoked); throws TokenRefusedError. */
  lookup(hash: string): Promise<Principal | null>;
  used(principal: Principal): void;
  refused(hash: string): void;
}

/**
 * A token trusted from memory on a @TokenCheckedByHandler route, whose row is still to be read. The
 * handler gets it as an argument (@PendingTokenCheck) and settles it with the row its own statement
 * read (confirmWith); TokenCheckInterceptor reads the row itself when the handler did not, so
 * nothing is answered to a revoked token but its 401.
 */
export class DeferredTokenCheck {
  private outcome: 'pending' | 'confirmed' | AppError = 'pending';

  constructor(
    /** The token's hash: the one parameter the handler's statement finds the row by. */
    readonly hash: string,
    readonly principal: Principal,
    private readonly host: TokenCheckHost,
  ) {}

  get settled(): boolean {
    return this.outcome !== 'pending';
  }

  /** Settles with the row the handler read (undefined: none); throws the refusal (401). */
  confirmWith(row: TokenRowPart | undefined): void {
    if (this.outcome === 'pending') {
      const now = row && !row.revoked ? { id: row.id, role: row.role, orgId: row.orgId ?? null } : null;
      this.decide(now, this.principal.role === 'execution' && row?.executionStatus !== 'running');
    }
    if (this.outcome !== 'confirmed') throw this.outcome;
  }

  /** Settles a check the handler left pending with one lookup of the row; throws the refusal. */
  async ensure(): Promise<void> {
    if (this.outcome === 'pending') {
      let now: Principal | null;
      try {
        now = await this.host.lookup(this.hash);
      } catch (err) {
        if (!(err instanceof TokenRefusedError)) throw err;
        // Expired, or its execution finished: refused with that error's own code.
        this.refuse(err);
      }
      if (this.outcome === 'pending') this.decide(now!, false);
    }
    if (this.outcome !== 'confirmed') throw this.outcome;
  }

  /**
   * Confirms when the token as stored now is the principal trusted from memory; else refuses. The
   * expiry is the cached principal's: a token's expiry never changes once it is created.
   */
  private decide(now: { id: string; role: string; orgId: string | null } | null, finished: boolean): void {
    const { principal } = this;
    const same = now && now.id === principal.id && now.role === principal.role && now.orgId === principal.orgId;
    const refusal = !same ? invalidToken() : isExpired(principal) ? tokenExpired(principal) : finished ? executionTokenFinished(principal) : null;
    if (refusal) return this.refuse(refusal);
    this.outcome = 'confirmed';
    this.host.used(principal);
  }

  private refuse(refusal: AppError): void {
    this.outcome = refusal;
    this.host.refused(this.hash);
  }
}

/** The checks the guard deferred, by request (auth's own state: nothing of it is in the request context). */
const pending = new WeakMap<object, DeferredTokenCheck>();

export const deferTokenCheck = (req: object, check: DeferredTokenCheck): void => void pending.set(req, check);

/** The request's deferred check for the handler, or null when the guard read the token's row itself. */
export const PendingTokenCheck = createParamDecorator((_: unknown, ctx: ExecutionContext): DeferredTokenCheck | null => pending.get(ctx.switchToHttp().getRequest()) ?? null);

/**
 * A deferred check is settled before the handler's answer goes out: a revoked token gets 401
 * INVALID_TOKEN instead. Errors, from any guard, pipe or handler, are settled by the exception
 * filter (settleDeferredCheck), which every error reaches.
 */
@Injectable()
export class TokenCheckInterceptor implements NestInterceptor {
  intercept(context: ExecutionContext, next: CallHandler): Observable<unknown> {
    const check = pending.get(context.switchToHttp().getRequest());
    if (!check) return next.handle();
    return next.handle().pipe(
      mergeMap(async (value: unknown) => {
        await check.ensure();
        return value;
      }),
    );
  }
}

/** For the exception filter: the refusal of the request's deferred check (null when it holds, or there is none). */
export async function settleDeferredCheck(req: object): Promise<unknown> {
  try {
    await pending.get(req)?.ensure();
    return null;
  } catch (refusal) {
    return refusal;
  }
}
