import { ApiPropertyOptional } from '@nestjs/swagger';
import { IsOptional, IsString } from 'class-validator';
import { badRequest } from './errors';

/** Every list pages alike (API.md): `limit` 1-500, default 100; `cursor` the previous page's `nextCursor`. */
export const MAX_LIMIT = 500;
export const DEFAULT_LIMIT = 100;

export class PageQueryDto {
  @ApiPropertyOptional({ description: `1-${MAX_LIMIT}, default ${DEFAULT_LIMIT}; anything else is 400 \`INVALID_LIMIT\`` }) @IsOptional() @IsString() limit?: string;
  @ApiPropertyOptional({ description: 'nextCursor of the previous page; one this service did not issue is 400 `INVALID_CURSOR`' }) @IsOptional() @IsString() cursor?: string;
}

/** `limit` as the other lists read it: digits only, 1 to MAX_LIMIT (`0`, `-1`, `1.5`, `501`: INVALID_LIMIT). */
export function parseLimit(raw: string | undefined): number {
  const limit = raw === undefined ? DEFAULT_LIMIT : /^\d{1,4}$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) throw badRequest('INVALID_LIMIT', `limit must be an integer from 1 to ${MAX_LIMIT}`);
  return limit;
}

/** An opaque cursor: `prefix:` and the position, base64url. */
export const encodeCursor = (prefix: string, position: string) => Buffer.from(`${prefix}:${position}`).toString('base64url');

/** The position a cursor holds, if it is one with this prefix that `valid` accepts; else INVALID_CURSOR (never echoed). */
export function decodeCursor(raw: string | undefined, prefix: string, valid: (position: string) => boolean): string | undefined {
  if (raw === undefined) return undefined;
  const decoded = /^[A-Za-z0-9_-]{1,1024}$/.test(raw) ? Buffer.from(raw, 'base64url').toString('utf8') : '';
  const position = decoded.startsWith(`${prefix}:`) ? decoded.slice(prefix.length + 1) : undefined;
  if (position === undefined || !valid(position)) throw badRequest('INVALID_CURSOR', 'cursor is not one this service issued');
  return position;
}
