import { HttpStatus } from '@nestjs/common';
import { AppError } from './errors';

/** What a kind of work is called in its refusals, and how long a refused caller is told to wait. */
export interface SlotNames {
  /** 429 code when one principal holds all of its slots (e.g. TOO_MANY_IMPORTS). */
  tooMany: string;
  /** 503 code when every slot of the process is taken (e.g. IMPORTS_BUSY). */
  busy: string;
  /** Plural noun for messages: "imports", "exports". */
  noun: string;
  /** Seconds for Retry-After. */
  retryAfter: number;
}

/**
 * Counted slots for long-running work of this process (imports, exports): at most `perPrincipal`
 * for one principal (429 `names.tooMany`) and `max` in all (503 `names.busy`), both with a
 * Retry-After. A slot is given back by the release acquire() returns, at most once. Per process,
 * like the disk, memory and connections it protects (each instance has its own).
 */
export class Slots {
  private total = 0;
  private readonly held = new Map<string, number>();

  constructor(
    readonly perPrincipal: number,
    readonly max: number,
    private readonly names: SlotNames,
  ) {}

  get inFlight(): number {
    return this.total;
  }

  of(principalId: string): number {
    return this.held.get(principalId) ?? 0;
  }

  /** Takes a slot for `principalId` or throws; returns its release (which frees it once, however often called). */
  acquire(principalId: string): () => void {
    const mine = this.of(principalId);
    const { tooMany, busy, noun } = this.names;
    if (mine >= this.perPrincipal) throw this.refused(HttpStatus.TOO_MANY_REQUESTS, tooMany, `At most ${this.perPrincipal} ${noun} of one token may run at once; retry when one is done`);
    if (this.total >= this.max) throw this.refused(HttpStatus.SERVICE_UNAVAILABLE, busy, `The service is busy with other ${noun}; retry shortly`);
    this.total++;
    this.held.set(principalId, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = this.of(principalId) - 1;
      if (left > 0) this.held.set(principalId, left);
      else this.held.delete(principalId);
    };
  }

  private refused(status: HttpStatus, code: string, message: string): AppError {
    return Object.assign(new AppError(status, code, message), { retryAfter: this.names.retryAfter });
  }
}
