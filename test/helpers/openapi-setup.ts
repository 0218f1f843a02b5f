import { appendFileSync } from 'node:fs';
import { takeProblems } from './openapi-check';

/**
 * Run after each e2e spec file (jest `setupFilesAfterEnv`): every answer its tests got through
 * `t.http()` had a documented status and a body valid against the OpenAPI document (issue 15).
 */
afterAll(() => {
  const { problems, checked } = takeProblems();
  // OPENAPI_CHECK_REPORT=<file>: one JSON line per spec file, for the figures of a whole run.
  const report = process.env.OPENAPI_CHECK_REPORT;
  if (report) appendFileSync(report, JSON.stringify({ file: expect.getState().testPath, checked, problems }) + '\n');
  if (problems.length > 0) {
    const counted = new Map<string, number>();
    for (const p of problems) counted.set(p, (counted.get(p) ?? 0) + 1);
    const lines = [...counted].map(([p, n]) => (n > 1 ? `${p} (×${n})` : p));
    throw new Error(`${problems.length} answers do not match the OpenAPI document:\n${lines.join('\n')}`);
  }
});
