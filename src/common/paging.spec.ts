import 'reflect-metadata';
import { AppError } from './errors';
import { DEFAULT_LIMIT, MAX_LIMIT, PageQueryDto, parseLimit, textCursor, timeIdCursor } from './paging';
import { validationPipe } from './validation';
import { ListConfigsQueryDto } from '../configs/dto/config.dto';
import { AuditQueryDto } from '../audit/audit.dto';
import { ListExecutionsQueryDto } from '../executions/dto/execution.dto';

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof AppError ? err.code : String(err);
  }
};

const query = (metatype: Function) => ({ type: 'query' as const, metatype: metatype as never });
/** What the validation pipe answers for a query: the DTO, or the error's status, code and message. */
async function validate(metatype: Function, value: Record<string, unknown>) {
  try {
    return { ok: await validationPipe().transform(value, query(metatype)) };
  } catch (err) {
    if (!(err instanceof AppError)) throw err;
    return { status: err.getStatus(), code: err.code, message: err.message, text: JSON.stringify(err.getResponse()) };
  }
}

const HOSTILE_LIMITS = ['0', '-1', '-500', '501', '9999', '99999', '1.5', '1.0', '1e2', '0x10', ' 5', '5 ', '+5', '', 'ten', '٥', '1'.repeat(10_000), 'NaN', 'Infinity'];

describe('limit', () => {
  it('reads digits from 1 to 500, default 100', () => {
    expect(parseLimit(undefined)).toBe(DEFAULT_LIMIT);
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit('0100')).toBe(100);
    expect(parseLimit(String(MAX_LIMIT))).toBe(MAX_LIMIT);
    for (const bad of HOSTILE_LIMITS) expect({ bad: bad.slice(0, 20), code: codeOf(() => parseLimit(bad)) }).toEqual({ bad: bad.slice(0, 20), code: 'INVALID_LIMIT' });
  });

  it.each([PageQueryDto, ListConfigsQueryDto, AuditQueryDto, ListExecutionsQueryDto])('is 400 INVALID_LIMIT in the %p query, with the message the lists gave, never the value', async (dto) => {
    for (const limit of HOSTILE_LIMITS) {
      const res = await validate(dto, { limit });
      expect({ limit: limit.slice(0, 20), status: res.status, code: res.code, message: res.message }).toEqual({
        limit: limit.slice(0, 20),
        status: 400,
        code: 'INVALID_LIMIT',
        message: 'limit must be an integer from 1 to 500',
      });
      if (limit.length > 3) expect(res.text).not.toContain(limit);
    }
    expect((await validate(dto, { limit: '500' })).ok).toMatchObject({ limit: '500' });
    expect((await validate(dto, {})).ok).toBeInstanceOf(dto);
  });

  it('repeated (an array) or beside an unknown parameter, stays VALIDATION_FAILED as it was', async () => {
    expect(await validate(PageQueryDto, { limit: ['1', '2'] })).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(await validate(PageQueryDto, { limit: '0', sort: 'name' })).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
    expect(await validate(PageQueryDto, { cursor: ['a', 'b'] })).toMatchObject({ status: 400, code: 'VALIDATION_FAILED' });
  });
});

describe('the query DTOs', () => {
  it('answer the first bad filter with its own code, in the order the lists checked them', async () => {
    expect(await validate(ListConfigsQueryDto, { type: 'password', limit: '0' })).toMatchObject({ code: 'INVALID_TYPE', message: 'type must be one of string, int, bool, json, secret' });
    expect(await validate(ListConfigsQueryDto, { prefix: 'p'.repeat(256), limit: '0' })).toMatchObject({ code: 'INVALID_PREFIX', message: 'prefix may be at most 255 characters' });
    expect(await validate(ListConfigsQueryDto, { limit: '0', cursor: '***' })).toMatchObject({ code: 'INVALID_LIMIT' });
    expect(await validate(ListConfigsQueryDto, { cursor: '***' })).toMatchObject({ code: 'INVALID_CURSOR', message: 'cursor is not one this service issued' });
    expect(await validate(AuditQueryDto, { action: 'config.reveal' })).toMatchObject({ code: 'INVALID_ACTION' });
    expect(await validate(AuditQueryDto, { outcome: 'maybe' })).toMatchObject({ code: 'INVALID_OUTCOME' });
    for (const since of ['yesterday', '2024-13-01T00:00:00Z', '2024-01-01T25:00:00Z', '1700000000', '2024-01-01T00:00:00Z'.repeat(50)]) {
      expect(await validate(AuditQueryDto, { since })).toMatchObject({ code: 'INVALID_DATE', message: 'since must be an ISO 8601 date or date-time' });
    }
    expect(await validate(AuditQueryDto, { until: '2024-02-30T00:00:00+0100x' })).toMatchObject({ code: 'INVALID_DATE', message: 'until must be an ISO 8601 date or date-time' });
    expect((await validate(AuditQueryDto, { since: '2026-11-01', until: '2026-12-01T00:00:00.5+01:00' })).ok).toBeInstanceOf(AuditQueryDto);
    expect(await validate(ListExecutionsQueryDto, { status: 'paused' })).toMatchObject({ code: 'VALIDATION_FAILED' });
  });

  it('count a prefix in UTF-16 code units, as the list did: 128 emoji are 256 units, too long', async () => {
    expect(await validate(ListConfigsQueryDto, { prefix: '😀'.repeat(128) })).toMatchObject({ code: 'INVALID_PREFIX' });
    expect((await validate(ListConfigsQueryDto, { prefix: '😀'.repeat(127) })).ok).toBeInstanceOf(ListConfigsQueryDto);
  });

  it('refuse a cursor that is not base64url or longer than 1024 characters without decoding it', async () => {
    for (const cursor of ['', '%%%', 'a b', 'abc=', 'abc+/', 'x'.repeat(1025), 'ECHO\u0000']) {
      expect(await validate(PageQueryDto, { cursor })).toMatchObject({ status: 400, code: 'INVALID_CURSOR' });
    }
  });
});

describe('the cursor codec', () => {
  const names = textCursor('n', (name) => name.length > 0 && name.length <= 100);
  const times = timeIdCursor('t');
  const bare = timeIdCursor('');
  const at = new Date('2026-12-04T19:00:00.123Z');
  const id = '3f0e9a2c-1b7d-4c55-9a8e-0d2f6b1c7e41';

  it('gives back the position of a cursor it made', () => {
    expect(names.decode(names.encode('Émile & co'))).toBe('Émile & co');
    expect(names.decode(undefined)).toBeUndefined();
    expect(times.decode(times.encode({ at, id }))).toEqual({ at, id });
    expect(bare.decode(bare.encode({ at, id }))).toEqual({ at, id });
  });

  it('writes the cursors the lists issued before (a page walk survives the change)', () => {
    expect(names.encode('acme')).toBe(Buffer.from('n:acme').toString('base64url'));
    expect(times.encode({ at, id })).toBe(Buffer.from(`t:${at.toISOString()}|${id}`).toString('base64url'));
    expect(bare.encode({ at, id })).toBe(Buffer.from(`${at.toISOString()}|${id}`).toString('base64url'));
  });

  it('refuses forged, re-encoded and foreign cursors with 400 INVALID_CURSOR', () => {
    const b64 = (s: string) => Buffer.from(s).toString('base64url');
    const forgedTimes = [
      times.encode({ at, id }).slice(0, -1), // truncated
      `${times.encode({ at, id })}=`, // padded
      b64(`t:${at.toISOString()}|${id.toUpperCase()}`), // not an id as issued
      b64(`t:${at.toISOString()}|${id}|extra`),
      b64(`t:yesterday|${id}`),
      b64(`t:2026-12-04|${id}`), // a date, not the instant written
      b64(`t:${at.toISOString()}|' OR 1=1 --`),
      b64(`t:${at.toISOString()}`),
      b64(`n:${at.toISOString()}|${id}`), // another list's
      bare.encode({ at, id }), // no prefix
      b64('t:'),
      '***',
      'x'.repeat(2000),
    ];
    for (const bad of forgedTimes) expect({ bad: bad.slice(0, 24), code: codeOf(() => times.decode(bad)) }).toEqual({ bad: bad.slice(0, 24), code: 'INVALID_CURSOR' });
    for (const bad of [times.encode({ at, id }), names.encode(''), names.encode('x'.repeat(101)), Buffer.from([0x6e, 0x3a, 0xff]).toString('base64url')]) {
      expect({ bad: bad.slice(0, 24), code: codeOf(() => names.decode(bad)) }).toEqual({ bad: bad.slice(0, 24), code: 'INVALID_CURSOR' });
    }
    const err = (() => {
      try {
        names.decode(b64('n:ECHO-marker'.padEnd(200, 'x')));
      } catch (e) {
        return e as AppError;
      }
    })();
    expect(JSON.stringify(err?.getResponse())).not.toContain('ECHO');
  });
});
