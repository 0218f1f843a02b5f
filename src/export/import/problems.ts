import { HttpStatus } from '@nestjs/common';
import { AppError, badRequest } from '../../common/errors';
import type { ImportProblem } from '../bundle';
import { ProblemList } from '../problem-list';

/** The import's 400: every problem counted, the first of them by row listed; nothing was written. */
export const invalidBundle = (problems: ImportProblem[] | ProblemList) => {
  const list = problems instanceof ProblemList ? problems : listOf(problems);
  return badRequest('INVALID_BUNDLE', `${list.summary('The bundle has')}; nothing was imported`, list.listed());
};

const listOf = (problems: ImportProblem[]) => {
  const list = new ProblemList();
  list.push(...problems);
  return list;
};

/** The checking pass's answer to its problems: 403 when a row is outside the actor's org, else 400. */
export function refusal(problems: ProblemList): AppError {
  if (problems.scopeForbidden) {
    return new AppError(HttpStatus.FORBIDDEN, 'ORG_FORBIDDEN', `The bundle has configs outside your org; nothing was imported${problems.total > problems.limit ? ` (${problems.summary('found')})` : ''}`, problems.listed());
  }
  return invalidBundle(problems);
}
