import type { ArgumentsHost } from '@nestjs/common';
import type { HttpAdapterHost } from '@nestjs/core';
import { AllExceptionsFilter } from '../common/all-exceptions.filter';
import { AppError } from '../common/errors';
import { JsonLogger } from '../common/logger';
import { Scrubber } from './scrubber';
import { ScrubberModule } from './scrubber.module';
import type { SecretRegistry } from './secret-registry';

const SECRET = 'module-level-secret-777';

function filterHarness() {
  const reply = jest.fn();
  const filter = new AllExceptionsFilter({ httpAdapter: { reply } } as unknown as HttpAdapterHost);
  const res = { sent: false, getHeader: () => undefined, header: jest.fn() };
  const req = { url: '/api/things', method: 'GET', headers: {} };
  const host = { switchToHttp: () => ({ getResponse: () => res, getRequest: () => req }) } as unknown as ArgumentsHost;
  return { reply, filter, host };
}

describe('ScrubberModule hooks', () => {
  const known = Scrubber.of([SECRET]);
  const forRequest = jest.fn(async () => known);
  const registry = { forRequest, allKnown: () => known, scrubLogLine: (line: string) => known.scrub(line), warm: async () => undefined } as unknown as SecretRegistry;
  let module: ScrubberModule;

  beforeEach(() => {
    module = new ScrubberModule(registry);
    module.onModuleInit();
  });
  afterEach(() => module.onModuleDestroy());

  it('scrubs every error body the filter sends', async () => {
    const { reply, filter, host } = filterHarness();
    await filter.catch(new AppError(409, 'THING_EXISTS', `the thing '${SECRET}' exists`), host);
    expect(reply).toHaveBeenCalledWith(expect.anything(), { statusCode: 409, error: 'Conflict', code: 'THING_EXISTS', message: "the thing '[REDACTED]' exists" }, 409);
  });

  it('falls back to every known secret when the registry cannot be read', async () => {
    forRequest.mockRejectedValueOnce(new Error('database down'));
    const { reply, filter, host } = filterHarness();
    await filter.catch(new AppError(400, 'BAD', `bad ${SECRET}`), host);
    expect(reply.mock.calls[0][1]).toMatchObject({ statusCode: 400, code: 'BAD', message: 'bad [REDACTED]' });
  });

  it('withholds the error body entirely when scrubbing it fails', async () => {
    const broken = async () => {
      throw new Error('broken');
    };
    AllExceptionsFilter.addBodyScrubber(broken);
    try {
      const { reply, filter, host } = filterHarness();
      await filter.catch(new AppError(400, 'BAD', `bad ${SECRET}`), host);
      expect(reply).toHaveBeenCalledWith(expect.anything(), expect.objectContaining({ statusCode: 500, code: 'SCRUBBING_FAILED' }), 500);
      expect(JSON.stringify(reply.mock.calls[0][1])).not.toContain(SECRET);
    } finally {
      AllExceptionsFilter.removeBodyScrubber(broken);
    }
  });

  it('puts the service’s log lines through the scrubber, and stops when the module is destroyed', () => {
    const lines: string[] = [];
    const logger = new JsonLogger('info', (line) => lines.push(line));
    logger.log(`connected with ${SECRET}`);
    module.onModuleDestroy();
    logger.log(`connected with ${SECRET}`);
    module.onModuleInit();
    expect(JSON.parse(lines[0]).msg).toBe('connected with [REDACTED]');
    expect(JSON.parse(lines[1]).msg).toBe(`connected with ${SECRET}`);
  });
});
