import type { FastifyInstance, FastifyRequest } from 'fastify';
import { parseStrictJsonBytes, StrictJsonError } from './strict-json';

export const JSON_BODY_LIMIT = 1024 * 1024;
/** Deeper JSON is refused: validation walks bodies recursively, and no config needs more. */
export const MAX_JSON_DEPTH = 64;
/**
 * Most JSON values (objects, arrays, strings, numbers, literals) one body may hold. A config value
 * is at most 64 KiB serialized (about 33,000 values at most), a log batch 1,000 lines: three times
 * the largest the schema allows. It bounds the work any body can ask of validation.
 */
export const MAX_JSON_VALUES = 100_000;

/** Routes that receive the raw request stream as their body (large imports parse it incrementally). */
export const STREAMED_JSON_PATHS = new Set<string>(['/api/import']);

export class BodyError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'BodyError';
  }
}

/** Nesting depth of a parsed JSON value, without recursion. */
export function jsonDepth(value: unknown): number {
  let max = 0;
  const stack: [unknown, number][] = [[value, 1]];
  while (stack.length) {
    const [v, d] = stack.pop()!;
    if (v === null || typeof v !== 'object') continue;
    if (d > max) max = d;
    if (max > MAX_JSON_DEPTH) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v)) if (child !== null && typeof child === 'object') stack.push([child, d + 1]);
  }
  return max;
}

/**
 * The only body parser: JSON (any other content type is a 415 from Fastify, any Content-Encoding
 * a 415 `UNSUPPORTED_ENCODING`), read strictly
 * (strict-json.ts): `__proto__` and `constructor.prototype` keys are refused (INVALID_JSON), as are
 * invalid UTF-8 (INVALID_UTF8), a member name twice in one object (DUPLICATE_KEY), a number a
 * double cannot hold exactly (NUMBER_NOT_EXACT), bodies over 1 MiB (413), deeper than
 * MAX_JSON_DEPTH (JSON_TOO_DEEP) or with more than MAX_JSON_VALUES values (TOO_MANY_VALUES). One
 * pass, linear in the body's size. Parse errors never quote the body.
 */
export function registerJsonBody(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { bodyLimit: 1024 * JSON_BODY_LIMIT }, (req: FastifyRequest, payload, done) => {
    if (STREAMED_JSON_PATHS.has(req.url.split('?', 1)[0])) {
      done(null, payload);
      return;
    }
    // Bodies are read as they are sent: a compressed one (gzip, deflate, br, ...) is refused as such,
    // not read as bytes that are not JSON. `identity` is no encoding.
    const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity' && encoding !== '') {
      done(new BodyError(415, 'UNSUPPORTED_ENCODING', 'Send the body without Content-Encoding'), undefined);
      payload.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    payload.on('data', (chunk: Buffer) => {
      if (failed) return;
      size += chunk.length;
      if (size > JSON_BODY_LIMIT) {
        failed = true;
        done(new BodyError(413, 'PAYLOAD_TOO_LARGE', `The request body is over ${JSON_BODY_LIMIT} bytes`), undefined);
        payload.resume();
        return;
      }
      chunks.push(chunk);
    });
    payload.on('error', (err) => {
      if (!failed) {
        failed = true;
        done(err, undefined);
      }
    });
    payload.on('end', () => {
      if (failed) return;
      const bytes = Buffer.concat(chunks);
      if (bytes.every((b) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09)) {
        done(new BodyError(400, 'INVALID_JSON', 'The request body is empty'), undefined);
        return;
      }
      let body: unknown;
      try {
        body = parseStrictJsonBytes(bytes, { maxDepth: MAX_JSON_DEPTH, maxValues: MAX_JSON_VALUES });
      } catch (err) {
        if (err instanceof StrictJsonError) done(new BodyError(400, err.code, err.message), undefined);
        else done(new BodyError(400, 'INVALID_JSON', 'The request body is not valid JSON'), undefined);
        return;
      }
      done(null, body);
    });
  });
}
