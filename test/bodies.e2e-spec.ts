import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { MAX_JSON_VALUES } from '../src/common/json-body';
import { rawCount, rawRows } from './helpers/raw-db';
import { bearer, onMysql, seedOrg, startApp, TestApp } from './helpers/test-app';

/**
 * Request bodies read strictly (issue 13, items 3, 7, 8 and 9, and the HTTP parser's own errors):
 * invalid UTF-8, a member name twice and a number a double cannot hold are refused with their own
 * code and nothing is written, on the REST, SDK and import paths; the work a body can ask for is
 * bounded; Node's HTTP parser errors answer the one error shape. Bodies are sent as raw bytes.
 */

const DB = onMysql ? 'MariaDB' : 'SQLite';
const MARK = 'MARK' + randomBytes(5).toString('hex');

interface Answer {
  status: number;
  head: string;
  text: string;
  body: Record<string, unknown>;
}

/** Sends `raw` as is over a fresh connection and reads the whole answer (the server closes, or we stop at the body's end). */
function rawExchange(baseUrl: string, raw: Buffer | string): Promise<Answer> {
  const url = new URL(baseUrl);
  return new Promise((resolve, reject) => {
    const socket = connect(Number(url.port), url.hostname);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => socket.destroy(new Error('no answer within 15 s')), 15_000);
    const finish = () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('utf8');
      const split = all.indexOf('\r\n\r\n');
      const head = split < 0 ? all : all.slice(0, split);
      const text = split < 0 ? '' : all.slice(split + 4);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(text);
      } catch {
        /* checked by the caller */
      }
      resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0), head, text, body });
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      const length = /\r\ncontent-length: *(\d+)/i.exec(all.slice(0, split));
      if (split >= 0 && length && Buffer.byteLength(all.slice(split + 4), 'latin1') >= Number(length[1])) {
        socket.end();
        finish();
      }
    });
    socket.on('end', finish);
    socket.on('error', (err) => (chunks.length ? finish() : reject(err)));
    socket.write(raw);
  });
}

/** A request with a JSON body given as bytes. */
function request(baseUrl: string, method: string, path: string, token: string, body: Buffer | string): Promise<Answer> {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const head = `${method} ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${bytes.length}\r\nConnection: close\r\n\r\n`;
  return rawExchange(baseUrl, Buffer.concat([Buffer.from(head, 'latin1'), bytes]));
}

const withByte = (before: string, bytes: number[], after: string) => Buffer.concat([Buffer.from(before, 'utf8'), Buffer.from(bytes), Buffer.from(after, 'utf8')]);

describe(`request bodies are read strictly (${DB})`, () => {
  let t: TestApp;
  let org: Awaited<ReturnType<typeof seedOrg>>;
  const put = (key: string, body: Buffer | string) => request(t.baseUrl, 'PUT', `/api/scopes/${org.org.id}/configs/${key}`, t.adminToken, body);
  const sdkPut = (key: string, body: Buffer | string) => request(t.baseUrl, 'PUT', `/api/sdk/configs/${key}`, org.service, body);
  const importBody = (body: Buffer | string, query = 'createOrgs=false') => request(t.baseUrl, 'POST', `/api/import?${query}`, t.adminToken, body);
  const configCount = () => rawCount(t, 'configs');
  const HEAD = '{"format":"bifrost-config-bundle","version":1,"portable":true,"configs":[{"scope":"global","key":"imp_ok","type":"string","value":"fine"},';
  const bundle = (rows: string) => `${HEAD}${rows}]}`;
  /** A bundle whose second row holds `bytes` between `before` and `after`. */
  const bundleWith = (before: string, bytes: number[], after: string) => withByte(HEAD + before, bytes, after + ']}');

  /** The answer is the one error shape with this status and code, and quotes nothing of the body. */
  const refused = (res: Answer, status: number, code: string) => {
    expect({ status: res.status, code: res.body.code }).toEqual({ status, code });
    expect(Object.keys(res.body).filter((k) => k !== 'details').sort()).toEqual(['code', 'error', 'message', 'statusCode']);
    expect(res.text).not.toContain(MARK);
  };

  beforeAll(async () => {
    t = await startApp({ listen: true });
    org = await seedOrg(t, 'bodies');
  });
  afterAll(async () => t?.close());

  describe('invalid UTF-8 is refused, never stored as U+FFFD (item 7)', () => {
    const bad = [
      [0xff],
      [0xc0, 0xaf], // an overlong "/"
      [0xed, 0xa0, 0x80], // a UTF-16 surrogate
      [0xe2, 0x82], // cut short
    ];
    it('REST PUT: 400 INVALID_UTF8 for every kind of bad byte, in a value, a description or a key; nothing written', async () => {
      const before = await configCount();
      for (const bytes of bad) {
        refused(await put('utf8_secret', withByte(`{"type":"secret","value":"pass${MARK}`, bytes, 'word"}')), 400, 'INVALID_UTF8');
        refused(await put('utf8_json', withByte('{"type":"json","value":{"', bytes, `":"${MARK}"}}`)), 400, 'INVALID_UTF8');
        refused(await put('utf8_desc', withByte(`{"type":"string","value":"${MARK}","description":"`, bytes, '"}')), 400, 'INVALID_UTF8');
      }
      expect(await configCount()).toBe(before);
      // Valid multi-byte text is stored exactly.
      expect((await put('utf8_ok', Buffer.from('{"type":"string","value":"pass€word 🚀 漢"}', 'utf8'))).status).toBe(201);
      const read = await t.http().get(`/api/scopes/${org.org.id}/configs/utf8_ok`).set(bearer(t.adminToken)).expect(200);
      expect(read.body.value).toBe('pass€word 🚀 漢');
    });

    it('SDK PUT: 400 INVALID_UTF8, nothing written', async () => {
      const before = await configCount();
      refused(await sdkPut('utf8_sdk', withByte(`{"value":"pass${MARK}`, [0xff], 'word","isSecret":true}')), 400, 'INVALID_UTF8');
      refused(await sdkPut('utf8_sdk', withByte('{"value":"ok","isSecret":', [0xc3], 'true}')), 400, 'INVALID_UTF8');
      expect(await configCount()).toBe(before);
    });

    it('import: a bad byte in a row, or in the header, is 400 INVALID_UTF8 and nothing is written', async () => {
      const before = await configCount();
      refused(await importBody(bundleWith('{"scope":"global","key":"imp_bad","type":"secret","value":"pass', [0xff], `word${MARK}"}`)), 400, 'INVALID_UTF8');
      refused(await importBody(bundleWith('{"scope":"global","key":"imp_bad","type":"string","value":"x","description":"', [0xed, 0xa0, 0x80], '"}')), 400, 'INVALID_UTF8');
      refused(await importBody(withByte('{"format":"bifrost-config-bundle","version":1,"portable":true,"exportedAt":"', [0xff], '","configs":[]}')), 400, 'INVALID_UTF8');
      refused(await importBody(withByte('{"format":"bifrost-config-bundle","version":1,"portable":true,"configs":[{"scope":"global","key":"imp_', [0xff], '","type":"string","value":"x"}]}')), 400, 'INVALID_UTF8');
      expect(await configCount()).toBe(before);
    });
  });

  describe('a member name twice is refused, anywhere in a body (item 8)', () => {
    it('REST PUT: {"type":"secret",…,"type":"string"} is 400 DUPLICATE_KEY, the would-be secret neither stored nor echoed', async () => {
      const before = await configCount();
      refused(await put('dup_type', `{"type":"secret","value":"${MARK}","type":"string"}`), 400, 'DUPLICATE_KEY');
      refused(await put('dup_value', `{"type":"string","value":"a","value":"${MARK}"}`), 400, 'DUPLICATE_KEY');
      refused(await put('dup_nested', `{"type":"json","value":{"a":{"${MARK}":1,"b":2,"${MARK}":3}}}`), 400, 'DUPLICATE_KEY');
      // The same name spelled with an escape is the same name.
      refused(await put('dup_escape', `{"type":"string","value":"${MARK}","\\u0074ype":"secret"}`), 400, 'DUPLICATE_KEY');
      expect(await configCount()).toBe(before);
      expect(await rawRows(t, 'SELECT `key` FROM configs WHERE `key` LIKE ?', ['dup_%'])).toEqual([]);
    });

    it('SDK PUT: isSecret:true,…false is 400 DUPLICATE_KEY, nothing stored', async () => {
      const before = await configCount();
      refused(await sdkPut('dup_sdk', `{"value":"${MARK}","isSecret":true,"isSecret":false}`), 400, 'DUPLICATE_KEY');
      expect(await configCount()).toBe(before);
    });

    it('import: a row with a member twice, or a header member twice, is 400 DUPLICATE_KEY and nothing is written', async () => {
      const before = await configCount();
      refused(await importBody(bundle(`{"scope":"global","key":"imp_dup","type":"secret","value":"${MARK}","type":"string"}`)), 400, 'DUPLICATE_KEY');
      refused(await importBody(bundle(`{"scope":"global","key":"imp_dup","type":"json","value":{"x":1,"x":"${MARK}"}}`)), 400, 'DUPLICATE_KEY');
      refused(await importBody(bundle('{"scope":"global","key":"imp_dup","type":"string","value":"x"}').replace('"portable":true', '"portable":true,"portable":false')), 400, 'DUPLICATE_KEY');
      refused(await importBody(`{"bundle":${bundle('{"scope":"global","key":"imp_dup","type":"string","value":"x"}')},"sourceSecretKey":"a","sourceSecretKey":"${MARK}"}`), 400, 'DUPLICATE_KEY');
      expect(await configCount()).toBe(before);
    });
  });

  describe('a number a double cannot hold is refused, not rounded (item 9)', () => {
    it('REST PUT json 12345678901234567890: 400 NUMBER_NOT_EXACT, nothing stored; exactly representable numbers round-trip', async () => {
      const before = await configCount();
      for (const n of ['12345678901234567890', '9007199254740993', '3.14159265358979323846', '1e-400']) {
        refused(await put('num_json', `{"type":"json","value":{"n":${n}},"description":"${MARK}"}`), 400, 'NUMBER_NOT_EXACT');
        refused(await put('num_int', `{"type":"int","value":${n}}`), 400, 'NUMBER_NOT_EXACT');
      }
      expect(await configCount()).toBe(before);
      expect((await put('num_ok', '{"type":"json","value":[9007199254740992,0.1,1.5e-10,-0,100000000000000000000]}')).status).toBe(201);
      const read = await t.http().get(`/api/scopes/${org.org.id}/configs/num_ok`).set(bearer(t.adminToken)).expect(200);
      expect(read.text).toContain('[9007199254740992,0.1,1.5e-10,0,100000000000000000000]');
    });

    it('SDK PUT and import: 400 NUMBER_NOT_EXACT, nothing written', async () => {
      const before = await configCount();
      refused(await sdkPut('num_sdk', '{"value":12345678901234567890}'), 400, 'NUMBER_NOT_EXACT');
      refused(await sdkPut('num_sdk', '{"value":{"id":9007199254740993}}'), 400, 'NUMBER_NOT_EXACT');
      refused(await importBody(bundle(`{"scope":"global","key":"imp_num","type":"json","value":12345678901234567890,"description":"${MARK}"}`)), 400, 'NUMBER_NOT_EXACT');
      expect(await configCount()).toBe(before);
    });
  });

  describe('the work a body can ask for is bounded (item 3)', () => {
    const members = (n: number, prefix: string) => Array.from({ length: n }, (_, i) => `"${prefix}${i}":0`).join(',');

    it(`a body of more than ${MAX_JSON_VALUES} values is 400 TOO_MANY_VALUES, refused while it is read`, async () => {
      const before = await configCount();
      const flat = `{"type":"json","value":[${'0,'.repeat(MAX_JSON_VALUES)}0]}`;
      expect(flat.length).toBeLessThan(1024 * 1024);
      refused(await put('many_values', flat), 400, 'TOO_MANY_VALUES');
      refused(await sdkPut('many_values', `{"value":[${'{},'.repeat(MAX_JSON_VALUES)}{}]}`), 400, 'TOO_MANY_VALUES');
      expect(await configCount()).toBe(before);
    });

    it('80,000 unknown members (1 MiB): refused without naming any, and the service answers /health right after', async () => {
      const body = `{"value":"x",${members(80_000, 'k')}}`;
      expect(body.length).toBeLessThan(1024 * 1024);
      const res = await sdkPut('many_members', body);
      refused(res, 400, 'VALIDATION_FAILED');
      expect(res.body.message).toBe('the body has 80000 properties that are not allowed');
      expect(res.text).not.toMatch(/k\d/);
      await t.http().get('/health').expect(200);
    });
  });

  describe("Node's HTTP parser errors answer the one error shape (smaller, first bullet)", () => {
    const cases: [string, string, number, string][] = [
      ['a header line ended by a bare LF', `GET /health HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n`, 400, 'MALFORMED_REQUEST'],
      ['a bare CR inside a header value', `GET /health HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n`, 400, 'MALFORMED_REQUEST'],
      ['a header line ended by a bare CR', `GET /health HTTP/1.1\r\nHost: x\rX-A: b\r\n\r\n`, 400, 'MALFORMED_REQUEST'],
      ['two Content-Length headers', `POST /api/orgs HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`, 400, 'INVALID_CONTENT_LENGTH'],
      ['a Content-Length and chunked together', `POST /api/orgs HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n{}`, 400, 'MALFORMED_REQUEST'],
      ['an invalid request line', `GET /health HTTP/9.x\r\n\r\n`, 400, 'MALFORMED_REQUEST'],
      ['headers over the size limit', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}${MARK}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ];
    it.each(cases)('%s', async (_name, raw, status, code) => {
      const res = await rawExchange(t.baseUrl, raw);
      refused(res, status, code);
      expect(res.head).toMatch(/\r\ncontent-type: application\/json/i);
      expect(res.head).toMatch(/\r\ncache-control: no-store/i);
      // The service is still up.
      await t.http().get('/health').expect(200);
    });
  });
});
