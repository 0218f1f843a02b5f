import { randomBytes } from 'node:crypto';
import { JsonLogger } from '../src/common/logger';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

const TRACE = 'a'.repeat(8) + randomBytes(12).toString('hex');
const traceparent = (trace = TRACE) => `00-${trace}-00f067aa0ba902b7-01`;

/** The request lines the app logged for a request id (JSON mode). */
const requestLines = (t: TestApp, requestId: string) =>
  t.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'request' && l.requestId === requestId);

describe(`logs: traceparent and LOG_FORMAT (issue 20)${onMysql ? ' (mysql)' : ' (sqlite)'}`, () => {
  describe('JSON lines (the default outside development)', () => {
    let t: TestApp;
    let org: Awaited<ReturnType<typeof seedOrg>>;
    beforeAll(async () => {
      t = await startApp();
      org = await seedOrg(t, 'logs-json');
    });
    afterAll(async () => t?.close());

    it('carries a valid traceparent’s trace id into the request’s line, and nothing else of the header', async () => {
      const res = await t.http().get('/api/sdk/configs/nothing_here').set(bearer(org.service)).set('traceparent', traceparent()).expect(404);
      const [line] = requestLines(t, res.headers['x-request-id']);
      expect(line).toMatchObject({ level: 'info', method: 'GET', route: '/api/sdk/configs/:key', status: 404, traceId: TRACE, role: 'service' });
      // Not echoed: the response carries the request id, as before.
      expect(res.headers.traceparent).toBeUndefined();
    });

    it('ignores a malformed traceparent: the request is served, its line has no trace id', async () => {
      for (const header of [traceparent(TRACE.toUpperCase()), traceparent('0'.repeat(32)), `ff-${TRACE}-00f067aa0ba902b7-01`, `00-${TRACE}-00f067aa0ba902b7-01-x`, 'garbage']) {
        const res = await t.http().get('/health').set('traceparent', header).expect(200);
        const [line] = requestLines(t, res.headers['x-request-id']);
        expect({ header, line }).toEqual({ header, line: expect.objectContaining({ status: 200 }) });
        expect(line).not.toHaveProperty('traceId');
      }
    });
  });

  describe('LOG_FORMAT=pretty', () => {
    let t: TestApp;
    let org: Awaited<ReturnType<typeof seedOrg>>;
    const secret = `sk_live_${randomBytes(12).toString('hex')}`;
    beforeAll(async () => {
      t = await startApp({ env: { LOG_FORMAT: 'pretty' } });
      org = await seedOrg(t, 'logs-pretty');
      await t.http().put(`/api/scopes/${org.org.id}/configs/api_key`).set(bearer(org.orgAdmin)).send({ type: 'secret', value: secret }).expect(201);
    });
    afterAll(async () => t?.close());

    it('writes one readable line per request, with the trace id', async () => {
      const res = await t.http().get('/api/sdk/configs/api_key').set(bearer(org.service)).set('traceparent', traceparent()).expect(200);
      const line = t.logLines.find((l) => l.includes(`(${res.headers['x-request-id']})`) && l.includes('[Request]'));
      expect(line).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{3} INFO  \\[Request\\] request traceId=${TRACE} method=GET route=/api/sdk/configs/:key status=200 durationMs=[\\d.]+ principalId=\\S+ role=service \\(\\S+\\)$`));
      expect(() => JSON.parse(line!)).toThrow();
    });

    it('scrubs every line, and keeps each on one line', async () => {
      // A line of the service's own code that quotes a secret (never done on purpose): the injected scrubber still catches it.
      t.app.get(JsonLogger).warn({ msg: `connected with ${secret}`, detail: `stack\n  at ${secret}` }, 'Probe');
      const probe = t.logLines.filter((l) => l.includes('[Probe]'));
      expect(probe).toHaveLength(1);
      expect(probe[0]).toMatch(/^\S+ WARN  \[Probe\] connected with \[REDACTED\] detail="stack\\n  at \[REDACTED\]"$/);
      for (const l of t.logLines) {
        expect(l).not.toContain(secret);
        expect(l).not.toMatch(/[\r\n]/);
      }
    });
  });
});
