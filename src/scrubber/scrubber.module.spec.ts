import type { ArgumentsHost } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { AllExceptionsFilter, ErrorBodyScrubber } from '../common/all-exceptions.filter';
import { AppError } from '../common/errors';
import { JsonLogger } from '../common/logger';
import { Scrubber } from './scrubber';
import { errorBodyScrubber } from './scrubber.module';
import type { SecretRegistry } from './secret-registry';

const SECRET = 'module-level-secret-777';

function filterHarness(scrubber: ErrorBodyScrubber) {
  const reply = jest.fn();
  const filter = new AllExceptionsFilter({ httpAdapter: { reply } } as unknown as HttpAdapterHost, undefined, scrubber);
  const res = { sent: false, getHeader: () => undefined, header: jest.fn() };
  const req = { url: '/api/things', method: 'GET', headers: {} };
  const host = { switchToHttp: () => ({ getResponse: () => res, getRequest: () => req }) } as unknown as ArgumentsHost;
  return { reply, filter, host };
}

describe('ScrubberModule providers', () => {
  const known = Scrubber.of([SECRET]);
  const forRequest = jest.fn(async () => known);
  const registry = { forRequest, allKnown: () => known, scrubLogLine: (line: string) => known.scrub(line), warm: async () => undefined } as unknown as SecretRegistry;

  it('scrubs every error body the filter sends', async () => {
    const { reply, filter, host } = filterHarness(errorBodyScrubber(registry));
    await filter.catch(new AppError(409, 'THING_EXISTS', `the thing '${SECRET}' exists`), host);
    expect(reply).toHaveBeenCalledWith(expect.anything(), { statusCode: 409, error: 'Conflict', code: 'THING_EXISTS', message: "the thing '[REDACTED]' exists" }, 409);
  });

  it('falls back to every known secret when the registry cannot be read', async () => {
    forRequest.mockRejectedValueOnce(new Error('database down'));
    const { reply, filter, host } = filterHarness(errorBodyScrubber(registry));
    await filter.catch(new AppError(400, 'BAD', `bad ${SECRET}`), host);
    expect(reply.mock.calls[0][1]).toMatchObject({ statusCode: 400, code: 'BAD', message: 'bad [REDACTED]' });
  });

  it('withholds the error body entirely when scrubbing it fails', async () => {
    const { reply, filter, host } = filterHarness(async () => {
      throw new Error('broken');
    });
    await filter.catch(new AppError(400, 'BAD', `bad ${SECRET}`), host);
    expect(reply).toHaveBeenCalledWith(expect.anything(), expect.objectContaining({ statusCode: 500, code: 'SCRUBBING_FAILED' }), 500);
    expect(JSON.stringify(reply.mock.calls[0][1])).not.toContain(SECRET);
  });

  it('puts the logger’s lines through the scrubber it is given, in either format', () => {
    const lines: string[] = [];
    new JsonLogger('info', (line) => lines.push(line), { filter: registry.scrubLogLine }).log(`connected with ${SECRET}`);
    new JsonLogger('info', (line) => lines.push(line), { filter: registry.scrubLogLine, format: 'pretty' }).log({ msg: 'connected', detail: `with "${SECRET}"\nnext` });
    new JsonLogger('info', (line) => lines.push(line)).log(`connected with ${SECRET}`);
    expect(JSON.parse(lines[0]).msg).toBe('connected with [REDACTED]');
    expect(lines[1]).not.toContain(SECRET);
    expect(lines[1]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO  connected detail=".*\[REDACTED\].*\\nnext"$/);
    expect(JSON.parse(lines[2]).msg).toBe(`connected with ${SECRET}`);
  });
});
