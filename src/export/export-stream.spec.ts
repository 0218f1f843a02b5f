import { ExportSlots, ExportStalledError, exportStream } from './export-stream';

/** Chunks of 64 KiB (over a stream's 16 KiB buffer), recording whether the generator was closed. */
function source(count: number) {
  const state = { closed: false, produced: 0 };
  async function* chunks(): AsyncGenerator<string, { configs: number }> {
    try {
      for (let i = 0; i < count; i++) {
        state.produced++;
        yield String(i % 10).repeat(64 * 1024);
      }
      return { configs: count };
    } finally {
      state.closed = true;
    }
  }
  return { chunks: chunks(), state };
}

const closedOnce = () => {
  let calls = 0;
  return { fn: () => void calls++, calls: () => calls };
};

describe('exportStream', () => {
  it('streams every chunk to a reader that reads, then closes the generator and calls onClosed once', async () => {
    const { chunks, state } = source(5);
    const closed = closedOnce();
    const stream = exportStream(chunks, 1000, closed.fn);
    let bytes = 0;
    for await (const part of stream) bytes += (part as Buffer).length;
    await new Promise((r) => setImmediate(r));
    expect(bytes).toBe(5 * 64 * 1024);
    expect(state.closed).toBe(true);
    expect(closed.calls()).toBe(1);
  });

  it('gives up on a reader that stops: ExportStalledError after idleMs, the generator closed before the end', async () => {
    const { chunks, state } = source(100);
    const closed = closedOnce();
    const stream = exportStream(chunks, 100, closed.fn);
    const failed = new Promise<Error>((resolve) => stream.once('error', resolve));
    const ended = new Promise((r) => stream.once('close', r));
    stream.once('data', () => stream.pause()); // one chunk, then nothing
    const err = await failed;
    await ended;
    expect(err).toBeInstanceOf(ExportStalledError);
    expect(state.produced).toBeLessThan(10);
    expect(state.closed).toBe(true);
    expect(closed.calls()).toBe(1);
  });

  it('a reader that goes away (the stream destroyed) closes the generator too', async () => {
    const { chunks, state } = source(100);
    const closed = closedOnce();
    const stream = exportStream(chunks, 60_000, closed.fn);
    await new Promise((r) => stream.once('data', r));
    const ended = new Promise((r) => stream.once('close', r));
    stream.destroy();
    await ended;
    await new Promise((r) => setImmediate(r));
    expect(state.closed).toBe(true);
    expect(closed.calls()).toBe(1);
  });
});

describe('ExportSlots', () => {
  it('2 per principal (429 TOO_MANY_EXPORTS), 4 in all (503 EXPORTS_BUSY), each with Retry-After; a release frees once', () => {
    const slots = new ExportSlots();
    const a = [slots.acquire('a'), slots.acquire('a')];
    expect(() => slots.acquire('a')).toThrow(expect.objectContaining({ code: 'TOO_MANY_EXPORTS', retryAfter: 5 }));
    slots.acquire('b');
    const b2 = slots.acquire('b');
    expect(() => slots.acquire('c')).toThrow(expect.objectContaining({ code: 'EXPORTS_BUSY', retryAfter: 5 }));
    b2();
    b2();
    expect(slots.inFlight).toBe(3);
    slots.acquire('c');
    a.forEach((release) => release());
    expect(slots.of('a')).toBe(0);
  });
});
