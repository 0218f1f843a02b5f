import { applyDecorators } from '@nestjs/common';
import { ApiExtraModels, ApiProperty, ApiPropertyOptional, ApiResponse, getSchemaPath } from '@nestjs/swagger';
import type { OpenAPIObject } from '@nestjs/swagger';

/**
 * What the OpenAPI document (`/docs-json`) says beyond what Nest's decorators say by themselves:
 * the one error schema on every error status, JSON values typed as JSON values, and a
 * post-processing step (`finalizeDocument`) for the document as a whole. The document is OpenAPI
 * 3.0 (what @nestjs/swagger writes): `nullable` always sits beside a `type`.
 */

/** The one error shape (API.md, "Errors"). */
export class ErrorDto {
  @ApiProperty({ example: 400, minimum: 400, maximum: 599 }) statusCode: number;
  @ApiProperty({ example: 'Bad Request', description: 'The status’s reason phrase' }) error: string;
  @ApiProperty({ example: 'INVALID_VALUE', pattern: '^[A-Z][A-Z0-9_]*$', description: 'A stable upper-snake word: what clients branch on' }) code: string;
  @ApiProperty({ example: 'The value does not fit type int: an integer', description: 'One human-readable sentence; it never echoes a submitted value' }) message: string;
  @ApiPropertyOptional({
    description: 'More about the error when there is more: e.g. the fields and rules of a `VALIDATION_FAILED`, the problems of an `INVALID_BUNDLE` (`{row, key?, code, message}`)',
    ...anyJson(),
  })
  details?: unknown;
}

/**
 * Any JSON value, `null` included, said so that OpenAPI 3.0 tools read it the same way (a
 * `nullable` needs a `type` beside it): a string or null, a number, a boolean, an object, an array.
 */
export function anyJson(): { anyOf: Record<string, unknown>[] } {
  return {
    anyOf: [
      { type: 'string', nullable: true },
      { type: 'number' },
      { type: 'boolean' },
      { type: 'object', additionalProperties: true },
      { type: 'array', items: {} },
    ],
  };
}

/** Any JSON value but null. */
export function anyJsonNotNull(): { anyOf: Record<string, unknown>[] } {
  return { anyOf: [{ type: 'string' }, { type: 'number' }, { type: 'boolean' }, { type: 'object', additionalProperties: true }, { type: 'array', items: {} }] };
}

/** What an operation that takes its org from a service token or `X-Bifrost-Org` can answer. */
export const ORG_HEADER_ERRORS: Record<number, string> = {
  400: '`ORG_REQUIRED` (an org-less service token without `X-Bifrost-Org`), `INVALID_ORG_HEADER` (not validly percent-encoded)',
  403: '`ORG_FORBIDDEN`: the token acts for its own org only',
  404: '`ORG_NOT_FOUND`: no org matches `X-Bifrost-Org`',
};

/** Codes that any operation under /api can answer, by status. */
const COMMON_ERRORS: Record<number, string> = {
  400: '`VALIDATION_FAILED` and the other request errors (API.md, "Errors"): `MALFORMED_REQUEST`, `INVALID_PATH`, ...',
  401: '`MISSING_TOKEN`, `MALFORMED_TOKEN`, `INVALID_TOKEN` (unknown or revoked); with `WWW-Authenticate: Bearer`',
  403: '`ROLE_NOT_ALLOWED`: the route is not open to the token’s role',
  429: '`TOO_MANY_FAILED_AUTHENTICATIONS`: more than 10 failed authentications in a minute from this address (with `Retry-After`); a valid token is never refused',
  500: '`INTERNAL_ERROR`, or `SCRUBBING_FAILED` when the answer could not be checked for secrets and was withheld',
  503: '`DATABASE_UNAVAILABLE`, `AUDIT_UNAVAILABLE` (the audit entry could not be written, so nothing was done)',
};

/** Codes that any operation with a JSON request body can answer, by status. */
const BODY_ERRORS: Record<number, string> = {
  400: '`INVALID_JSON`, `INVALID_UTF8`, `DUPLICATE_KEY`, `NUMBER_NOT_EXACT`, `INVALID_VALUE`, `JSON_TOO_DEEP`, `TOO_MANY_VALUES`, `VALIDATION_FAILED`',
  413: '`PAYLOAD_TOO_LARGE`: the body is over 1 MiB',
  415: '`UNSUPPORTED_MEDIA_TYPE` (not `application/json`), `UNSUPPORTED_ENCODING` (a `Content-Encoding` such as gzip)',
};

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad request',
  401: 'No valid token',
  403: 'Forbidden',
  404: 'Not found',
  408: 'Request timeout',
  409: 'Conflict',
  413: 'Payload too large',
  415: 'Unsupported media type',
  429: 'Too many requests',
  500: 'Internal error',
  503: 'Service unavailable',
};

const SUCCESS_TEXT: Record<number, string> = { 200: 'OK', 201: 'Created', 204: 'Done; no content' };

/** Headers an error status always carries (RFC 6750 for 401; the throttle's and the import slots' Retry-After). */
const ERROR_HEADERS: Record<number, Record<string, { description: string; schema: { type: 'string' } }>> = {
  401: { 'WWW-Authenticate': { description: '`Bearer realm="bifrost"`, with `error="invalid_token"` when a token was sent and refused', schema: { type: 'string' } } },
  429: { 'Retry-After': { description: 'Seconds to wait', schema: { type: 'string' } } },
};

export interface ApiErrorsOptions {
  /** The operation reads a JSON request body: 413, 415 and the body's 400 codes too. */
  body?: boolean;
}

/**
 * Documents the error statuses of an operation, each with the one error schema (`ErrorDto`) and
 * the codes it carries: those given here, and those every /api operation can answer (400, 401,
 * 403, 429, 500, 503; with `body`, also 413 and 415). A code list given for a common status is
 * put before the common one.
 */
export function ApiErrors(errors: Record<number, string> = {}, options: ApiErrorsOptions = {}): MethodDecorator & ClassDecorator {
  const merged = new Map<number, string[]>();
  const add = (table: Record<number, string>) => {
    for (const [status, text] of Object.entries(table)) merged.set(Number(status), [...(merged.get(Number(status)) ?? []), text]);
  };
  add(errors);
  if (options.body) add(BODY_ERRORS);
  add(COMMON_ERRORS);
  const decorators = [...merged.entries()]
    .sort(([a], [b]) => a - b)
    .map(([status, texts]) =>
      ApiResponse({
        status,
        description: `${STATUS_TEXT[status] ?? 'Error'}: ${texts.join('; ')}`,
        schema: { $ref: getSchemaPath(ErrorDto) },
        ...(ERROR_HEADERS[status] ? { headers: ERROR_HEADERS[status] } : {}),
      }),
    );
  return applyDecorators(ApiExtraModels(ErrorDto), ...decorators);
}

const TAGS = [
  { name: 'Orgs', description: 'Organisations: the scopes configs live in besides `global`' },
  { name: 'Tokens', description: 'API tokens (opaque `bft_...` strings, shown once) and the principal of the presented one' },
  { name: 'Configs', description: 'Typed configs and secrets of a scope; secrets always masked' },
  { name: 'SDK', description: 'The workflow engine’s service client: the one place a secret is returned in plaintext' },
  { name: 'Executions', description: 'Workflow runs, their logs and dynamic secrets, scrubbed before they are stored' },
  { name: 'Audit', description: 'The audit log: every read of a secret, every write, every denial' },
  { name: 'Export and import', description: 'Portable bundles and backups' },
  { name: 'Health', description: 'Liveness and readiness (no token)' },
  { name: 'Metrics', description: 'Prometheus metrics, for an admin token' },
  { name: 'Settings page', description: 'The admins’ Settings → Configuration page: static files (no token; the page signs in and uses the API)' },
];

type Json = Record<string, unknown>;

/**
 * Nest joins the descriptions of one status given twice (the common errors of @Roles and an
 * operation's own @ApiErrors) with a blank line: a paragraph whose codes another paragraph lists
 * already is dropped.
 */
function withoutRepeats(description: string): string {
  const paragraphs = [...new Set(description.split('\n\n'))];
  const codes = (p: string) => p.replace(/^[^:`]*: /, '');
  return paragraphs.filter((p) => !paragraphs.some((q) => q !== p && q.length > p.length && codes(q).includes(codes(p)))).join('\n\n');
}

/**
 * The finishing touches on the generated document:
 * - one parameter per header: Nest documents each `@Headers('x-...')` argument as a required
 *   lowercase header beside the `@ApiHeader` that describes it; header names are
 *   case-insensitive, so the described one is kept (optional, as API.md says);
 * - every error status with the one error schema, and an operation with a JSON body with the
 *   body's errors (413, 415, the 400 codes);
 * - every answer described, each description once;
 * - bearer auth required on every operation but `/health` (`security: []`);
 * - the tags listed once at the top level, with their descriptions, and the license.
 */
export function finalizeDocument(document: OpenAPIObject): OpenAPIObject {
  const doc = document as unknown as Json;
  doc.security = [{ bearer: [] }];
  (doc.info as Json).license = { name: 'UNLICENSED: private, all rights reserved' };
  doc.tags = TAGS;
  for (const item of Object.values(document.paths)) {
    for (const [method, op] of Object.entries(item as Record<string, Json>)) {
      if (!['get', 'put', 'post', 'patch', 'delete'].includes(method)) continue;
      const params = (op.parameters as Json[] | undefined) ?? [];
      const byHeader = new Map<string, Json>();
      const kept: Json[] = [];
      for (const p of params) {
        if (p.in !== 'header') {
          kept.push(p);
          continue;
        }
        const name = String(p.name).toLowerCase();
        const seen = byHeader.get(name);
        if (!seen) {
          byHeader.set(name, p);
          kept.push(p);
        } else if (p.description && !seen.description) {
          kept[kept.indexOf(seen)] = p;
          byHeader.set(name, p);
        }
      }
      op.parameters = kept;
      const responses = (op.responses ?? {}) as Record<string, Json>;
      if (op.requestBody) {
        for (const [status, text] of Object.entries(BODY_ERRORS)) {
          const r = responses[status];
          if (!r) responses[status] = { description: `${STATUS_TEXT[Number(status)]}: ${text}` };
          else if (!String(r.description).includes(text)) r.description = `${r.description}; ${text}`;
        }
      }
      // Every error status carries the one error schema; every answer says what it is.
      for (const [status, r] of Object.entries(responses)) {
        r.description = r.description ? withoutRepeats(String(r.description)) : (SUCCESS_TEXT[Number(status)] ?? STATUS_TEXT[Number(status)] ?? 'Answer');
        if (Number(status) >= 400 && !r.content) r.content = { 'application/json': { schema: { $ref: getSchemaPath(ErrorDto) } } };
      }
      // @Roles() routes carry bearer auth (ApiBearerAuth); every other route is @Public(): no token.
      const security = op.security as unknown[] | undefined;
      op.security = security && security.length > 0 ? security : [];
    }
  }
  return document;
}
