import { forbidden } from '../common/errors';
import { currentContext } from '../common/request-context';
import type { Principal } from './roles';

/**
 * The execution a request acts for. An execution token acts for its own execution only: naming
 * another (in the path, or in X-Bifrost-Execution) is 403 EXECUTION_TOKEN_MISMATCH, audited as a
 * denial, nothing done; naming none means its own. For any other principal, the one named (if any).
 * An execution token's requests carry its execution in the request context (scrubbing, audit).
 */
export function actingExecution(principal: Principal, named: string | undefined): string | undefined {
  if (principal.role !== 'execution') return named;
  if (named !== undefined && named !== principal.executionId) throw forbidden('This execution token acts for its own execution only', 'EXECUTION_TOKEN_MISMATCH');
  const ctx = currentContext();
  if (ctx && principal.executionId) ctx.executionId = principal.executionId;
  return principal.executionId ?? undefined;
}
