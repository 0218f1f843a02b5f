import type { FastifyInstance, FastifyRequest } from 'fastify';
import secureJson from 'secure-json-parse';

export const JSON_BODY_LIMIT = 1024 * 1024;
/** Deeper JSON is refused: validation walks bodies recursively, and no config needs more. */
export const MAX_JSON_DEPTH = 64;

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
 * The only body parser: JSON (any other content type is a 415 from Fastify). `__proto__` and
 * `constructor.prototype` keys are refused (secure-json-parse), as are bodies over 1 MiB (413) and
 * deeper than MAX_JSON_DEPTH (400). Parse errors never quote the body.
 */
export function registerJsonBody(fastify: FastifyInstance): void {
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('application/json', { bodyLimit: 1024 * JSON_BODY_LIMIT }, (req: FastifyRequest, payload, done) => {
    if (STREAMED_JSON_PATHS.has(req.url.split('?', 1)[0])) {
      done(null, payload);
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
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') {
        done(new BodyError(400, 'INVALID_JSON', 'The request body is empty'), undefined);
        return;
      }
      let body: unknown;
      try {
        body = secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' });
      } catch {
        done(new BodyError(400, 'INVALID_JSON', 'The request body is not valid JSON (or holds a __proto__ / constructor.prototype key)'), undefined);
        return;
      }
      if (jsonDepth(body) > MAX_JSON_DEPTH) {
        done(new BodyError(400, 'JSON_TOO_DEEP', `JSON nesting is limited to ${MAX_JSON_DEPTH} levels`), undefined);
        return;
      }
      done(null, body);
    });
  });
}
