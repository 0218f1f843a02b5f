import { CallHandler, ExecutionContext, StreamableFile } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { lastValueFrom, of } from 'rxjs';
import { AppError } from '../common/errors';
import { ScrubExempt } from './scrub-exempt.decorator';
import { Scrubber } from './scrubber';
import { ScrubbingInterceptor } from './scrubbing.interceptor';
import type { SecretRegistry } from './secret-registry';

const SECRET = 'super-secret-value-123';

class Handlers {
  @ScrubExempt('value')
  sdkRead() {}
  plain() {}
}

function contextFor(handler: keyof Handlers, type = 'http'): ExecutionContext {
  return {
    getType: () => type,
    getHandler: () => Handlers.prototype[handler],
    getClass: () => Handlers,
    switchToHttp: () => ({ getRequest: () => ({ headers: {} }) }),
  } as unknown as ExecutionContext;
}

const returning = (body: unknown): CallHandler => ({ handle: () => of(body) });

describe('ScrubbingInterceptor', () => {
  const forRequest = jest.fn(async () => Scrubber.of([SECRET]));
  const interceptor = new ScrubbingInterceptor(new Reflector(), { forRequest } as unknown as SecretRegistry);
  const run = (handler: keyof Handlers, body: unknown) => lastValueFrom(interceptor.intercept(contextFor(handler), returning(body)));

  beforeEach(() => forRequest.mockClear());

  it('scrubs every string of the body, keys included', async () => {
    await expect(run('plain', { a: SECRET, [SECRET]: [`x ${SECRET}`] })).resolves.toEqual({ a: '[REDACTED]', '[REDACTED]': ['x [REDACTED]'] });
    await expect(run('plain', `text ${SECRET}`)).resolves.toBe('text [REDACTED]');
  });

  it('honours @ScrubExempt for the named field only', async () => {
    await expect(run('sdkRead', { key: 'k', value: SECRET, source: SECRET })).resolves.toEqual({ key: 'k', value: SECRET, source: '[REDACTED]' });
    await expect(run('plain', { value: SECRET })).resolves.toEqual({ value: '[REDACTED]' });
  });

  it('does not ask the registry for an empty body (204)', async () => {
    await expect(run('plain', undefined)).resolves.toBeUndefined();
    expect(forRequest).not.toHaveBeenCalled();
  });

  it('scrubs streamed files', async () => {
    const out = (await run('plain', new StreamableFile(Buffer.from(SECRET)))) as StreamableFile;
    const chunks: Buffer[] = [];
    for await (const c of out.getStream()) chunks.push(Buffer.from(c));
    expect(Buffer.concat(chunks).toString()).toBe('[REDACTED]');
  });

  it('fails closed: a registry or scrubbing error becomes a 500 SCRUBBING_FAILED without the body', async () => {
    forRequest.mockRejectedValueOnce(new Error('database down'));
    const err = await run('plain', { a: SECRET }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).getStatus()).toBe(500);
    expect((err as AppError).code).toBe('SCRUBBING_FAILED');
    expect(JSON.stringify((err as AppError).getResponse())).not.toContain(SECRET);

    const cyclic: Record<string, unknown> = { a: SECRET };
    cyclic.self = cyclic;
    await expect(run('plain', cyclic)).rejects.toMatchObject({ code: 'SCRUBBING_FAILED' });
  });

  it('passes handler errors through untouched', async () => {
    const failing: CallHandler = { handle: () => { throw new Error('handler'); } };
    expect(() => interceptor.intercept(contextFor('plain'), failing)).toThrow('handler');
  });

  it('leaves non-HTTP contexts alone', async () => {
    await expect(lastValueFrom(interceptor.intercept(contextFor('plain', 'rpc'), returning(SECRET)))).resolves.toBe(SECRET);
  });
});
