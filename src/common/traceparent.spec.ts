import { traceIdOf } from './request-context';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT = '00f067aa0ba902b7';

describe('traceIdOf (W3C traceparent)', () => {
  it('takes the trace id of a valid header', () => {
    expect(traceIdOf(`00-${TRACE}-${PARENT}-01`)).toBe(TRACE);
    expect(traceIdOf(`00-${TRACE}-${PARENT}-00`)).toBe(TRACE);
    // A later version may append fields after the flags.
    expect(traceIdOf(`01-${TRACE}-${PARENT}-01-more`)).toBe(TRACE);
  });

  it.each([
    ['absent', undefined],
    ['two headers', [`00-${TRACE}-${PARENT}-01`, `00-${TRACE}-${PARENT}-01`]],
    ['upper case', `00-${TRACE.toUpperCase()}-${PARENT}-01`],
    ['version ff', `ff-${TRACE}-${PARENT}-01`],
    ['version 00 with more fields', `00-${TRACE}-${PARENT}-01-more`],
    ['all-zero trace id', `00-${'0'.repeat(32)}-${PARENT}-01`],
    ['all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['short trace id', `00-${TRACE.slice(1)}-${PARENT}-01`],
    ['no flags', `00-${TRACE}-${PARENT}`],
    ['spaces', ` 00-${TRACE}-${PARENT}-01`],
    ['not hex', `00-${TRACE.slice(0, 31)}g-${PARENT}-01`],
    ['over-long', `01-${TRACE}-${PARENT}-01-${'a'.repeat(600)}`],
  ])('ignores a malformed one: %s', (_what, header) => {
    expect(traceIdOf(header)).toBeUndefined();
  });
});
