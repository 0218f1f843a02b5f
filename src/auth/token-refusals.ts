import { AppError } from '../common/errors';
import type { Principal } from './roles';

/** A token refused for its lifetime (expired, or its execution finished): 401 with its own code. */
export class TokenRefusedError extends AppError {
  constructor(
    code: string,
    message: string,
    /** Whose token it was: the denial's audit entry names it. */
    readonly principal: Principal,
  ) {
    super(401, code, message);
  }
}
export const tokenExpired = (p: Principal) => new TokenRefusedError('TOKEN_EXPIRED', 'The token has expired', p);
export const executionTokenFinished = (p: Principal) =>
  new TokenRefusedError('EXECUTION_TOKEN_FINISHED', 'The execution this token was issued for has finished (or is gone); the token works no more', p);

/** Has the principal's token expired by `now`? (An unreadable expiry counts as expired.) */
export const isExpired = (p: Principal, now = Date.now()): boolean => p.expiresAt != null && !(p.expiresAt > now);
