import { applyDecorators } from '@nestjs/common';
import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString, Matches, ValidateBy } from 'class-validator';
import { badRequest } from './errors';
import { isUuid } from './params';
import { withCode } from './validation';

/** Every list pages alike (API.md): `limit` 1-500, default 100; `cursor` the previous page's `nextCursor`. */
export const MAX_LIMIT = 500;
export const DEFAULT_LIMIT = 100;

const LIMIT_TEXT = /^\d{1,4}$/;
/** A cursor is base64url; more than this is none this service issued (and is not decoded). */
const CURSOR_TEXT = /^[A-Za-z0-9_-]{1,1024}$/;
const LIMIT_MESSAGE = `limit must be an integer from 1 to ${MAX_LIMIT}`;
const CURSOR_MESSAGE = 'cursor is not one this service issued';

/** `limit` as text: digits only, 1 to MAX_LIMIT (`0`, `-1`, `1.5`, `1e2`, `501`, `''` are not). */
const isLimit = (raw: unknown): raw is string => typeof raw === 'string' && LIMIT_TEXT.test(raw) && Number(raw) >= 1 && Number(raw) <= MAX_LIMIT;

/** `limit` of a list's query: 400 INVALID_LIMIT unless 1-500; a repeated one (an array) stays VALIDATION_FAILED. */
export const PageLimit = () =>
  applyDecorators(
    ApiPropertyOptional({ description: `1-${MAX_LIMIT}, default ${DEFAULT_LIMIT}; anything else is 400 \`INVALID_LIMIT\`` }),
    IsOptional(),
    IsString(),
    ValidateBy({ name: 'isPageLimit', validator: { validate: isLimit } }, withCode('INVALID_LIMIT', LIMIT_MESSAGE)),
  );

/** `cursor` of a list's query: 400 INVALID_CURSOR unless base64url (what it holds is the list's codec's to check). */
export const PageCursor = () =>
  applyDecorators(
    ApiPropertyOptional({ description: 'nextCursor of the previous page; one this service did not issue is 400 `INVALID_CURSOR`' }),
    IsOptional(),
    IsString(),
    Matches(CURSOR_TEXT, withCode('INVALID_CURSOR', CURSOR_MESSAGE)),
  );

/**
 * The query of a list that has nothing but paging. Lists with filters declare `@PageLimit() limit`
 * and `@PageCursor() cursor` after them: fields are validated, and documented, in declaration order.
 */
export class PageQueryDto {
  @PageLimit() limit?: string;
  @PageCursor() cursor?: string;
}

/** The page size a validated query asks for (checked again: a service may be called without the pipe). */
export function parseLimit(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIMIT;
  if (!isLimit(raw)) throw badRequest('INVALID_LIMIT', LIMIT_MESSAGE);
  return Number(raw);
}

/**
 * The one cursor codec: base64url of `prefix:` and the position as `write` puts it. A cursor is
 * accepted only if it is exactly what `encode` makes of the position it holds, so a forged,
 * re-padded or truncated one is 400 INVALID_CURSOR, never echoed. An empty prefix writes none.
 */
export class CursorCodec<P> {
  private readonly head: string;

  constructor(
    prefix: string,
    private readonly write: (position: P) => string,
    private readonly read: (text: string) => P | undefined,
  ) {
    this.head = prefix === '' ? '' : `${prefix}:`;
  }

  encode(position: P): string {
    return Buffer.from(this.head + this.write(position)).toString('base64url');
  }

  decode(raw: string | undefined): P | undefined {
    if (raw === undefined) return undefined;
    const text = CURSOR_TEXT.test(raw) ? Buffer.from(raw, 'base64url').toString('utf8') : '';
    const position = text.startsWith(this.head) ? this.read(text.slice(this.head.length)) : undefined;
    if (position === undefined || this.encode(position) !== raw) throw badRequest('INVALID_CURSOR', CURSOR_MESSAGE);
    return position;
  }
}

/** A cursor holding one string (a key, a name, an id) that `valid` accepts. */
export const textCursor = (prefix: string, valid: (text: string) => boolean) =>
  new CursorCodec<string>(
    prefix,
    (text) => text,
    (text) => (valid(text) ? text : undefined),
  );

/** A cursor holding a time and a row id (a UUID): lists ordered by a time, ties broken by id. */
export const timeIdCursor = (prefix: string) =>
  new CursorCodec<{ at: Date; id: string }>(
    prefix,
    ({ at, id }) => `${at.toISOString()}|${id}`,
    (text) => {
      const [time, id] = text.split('|');
      const at = new Date(time);
      return isUuid(id) && !Number.isNaN(at.getTime()) ? { at, id } : undefined;
    },
  );
