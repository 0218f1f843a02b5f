import { checkLogBatch } from './executions.service';
import { MAX_LOG_BATCH_BYTES, MAX_LOG_LINES } from './dto/execution.dto';

describe('checkLogBatch', () => {
  const line = (message: string) => ({ level: 'info', message });

  it('accepts up to 1,000 lines and 1 MiB of messages', () => {
    expect(() => checkLogBatch(Array.from({ length: MAX_LOG_LINES }, () => line('x')))).not.toThrow();
    expect(() => checkLogBatch([line('x'.repeat(MAX_LOG_BATCH_BYTES))])).not.toThrow();
    expect(() => checkLogBatch([])).not.toThrow();
  });

  it('refuses more lines or more bytes with 413 LOG_BATCH_TOO_LARGE', () => {
    for (const batch of [
      Array.from({ length: MAX_LOG_LINES + 1 }, () => line('x')),
      [line('x'.repeat(MAX_LOG_BATCH_BYTES)), line('y')],
      // Counted in UTF-8 bytes, not characters.
      [line('é'.repeat(MAX_LOG_BATCH_BYTES / 2 + 1))],
    ]) {
      let caught: unknown;
      try {
        checkLogBatch(batch);
      } catch (err) {
        caught = err;
      }
      expect(caught).toMatchObject({ code: 'LOG_BATCH_TOO_LARGE' });
      expect((caught as { getStatus(): number }).getStatus()).toBe(413);
    }
  });
});
