import { appendFileSync } from 'node:fs';
import request from 'supertest';
import { checkAnswer, currentDocument, takeProblems } from './openapi-check';

/**
 * Run before each e2e spec file (jest `setupFilesAfterEnv`, in the file's own module registry):
 * every answer its tests get through supertest is checked against the OpenAPI document of the app
 * they started (openapi-check.ts), after the test's own assertions, so a failing test fails as it
 * would; after the file, every answer had a documented status and a body valid by the document.
 */
const Test = request.Test as unknown as { prototype: { end: (fn?: (err: unknown, res: request.Response) => void) => unknown; method: string; url: string } };
const end = Test.prototype.end;
Test.prototype.end = function (this: { method: string; url: string }, fn?: (err: unknown, res: request.Response) => void) {
  return end.call(this, (err: unknown, res: request.Response) => {
    const answer = res ?? (err as { response?: request.Response } | null)?.response;
    if (answer) checkAnswer(currentDocument(), this.method, this.url, answer);
    fn?.(err, res);
  });
};

afterAll(() => {
  const { problems, checked, ms } = takeProblems();
  // OPENAPI_CHECK_REPORT=<file>: one JSON line per spec file, for the figures of a whole run.
  const report = process.env.OPENAPI_CHECK_REPORT;
  if (report) appendFileSync(report, JSON.stringify({ file: expect.getState().testPath, checked, ms, problems }) + '\n');
  if (problems.length > 0) {
    const counted = new Map<string, number>();
    for (const p of problems) counted.set(p, (counted.get(p) ?? 0) + 1);
    const lines = [...counted].map(([p, n]) => (n > 1 ? `${p} (×${n})` : p));
    throw new Error(`${problems.length} answers do not match the OpenAPI document:\n${lines.join('\n')}`);
  }
});
