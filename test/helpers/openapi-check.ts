import Ajv, { ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { OpenAPIObject } from '@nestjs/swagger';

/**
 * Every answer an e2e spec gets through supertest (`t.http()`, or `request(t.baseUrl)`) is checked
 * against the OpenAPI document the app serves (issue 15): its status is one the operation documents, and its JSON body is valid against
 * the documented schema. Problems are collected and asserted at the end of each spec file
 * (openapi-setup.ts). Requests for a path or method the document does not have (unknown routes,
 * the 405s, /docs) and HEAD/OPTIONS are not checked. Validators are compiled once per document and
 * operation, so the check costs little.
 */

type Json = Record<string, unknown>;
interface Operation {
  responses: Record<string, { content?: Record<string, { schema?: Json }>; headers?: Record<string, unknown> }>;
}
interface Checker {
  ajv: Ajv;
  routes: { pattern: RegExp; params: number; item: Record<string, Operation>; path: string }[];
  validators: Map<string, ValidateFunction>;
}

const checkers = new WeakMap<object, Checker>();
/** The document of the app the spec started last (every app serves the same one). */
let current: OpenAPIObject | undefined;

export function useDocument(doc: OpenAPIObject | undefined): void {
  if (doc) current = doc;
}

export function currentDocument(): OpenAPIObject | undefined {
  return current;
}
const problems: string[] = [];
let checked = 0;
let spentMs = 0;

const rewriteRefs = (value: unknown, to: string): unknown => JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', `"${to}`));

function checkerFor(doc: OpenAPIObject): Checker {
  let checker = checkers.get(doc);
  if (checker) return checker;
  // OpenAPI 3.0 schemas: `nullable` and `discriminator` are Ajv keywords; `example` and the like are ignored.
  const ajv = new Ajv({ strict: false, allErrors: true, discriminator: true });
  addFormats(ajv);
  ajv.addSchema({ $id: 'oas', definitions: rewriteRefs(doc.components?.schemas ?? {}, '#/definitions/') as Json });
  const routes = Object.entries(doc.paths).map(([path, item]) => {
    const source = path.split('/').map((s) => (s.startsWith('{') ? '[^/]+' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    return { path, pattern: new RegExp(`^${source.join('/')}/?$`), params: (path.match(/\{/g) ?? []).length, item: item as unknown as Record<string, Operation> };
  });
  // Literal segments win over parameters (`/api/orgs/{orgId}` never shadows a literal path).
  routes.sort((a, b) => a.params - b.params);
  checker = { ajv, routes, validators: new Map() };
  checkers.set(doc, checker);
  return checker;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text?: string;
}

/** Checks one answer to `method url` against `doc`; a problem is kept for the end of the spec file. */
export function checkAnswer(doc: OpenAPIObject | undefined, method: string, url: string, res: Answer): void {
  const start = performance.now();
  const problem = answerProblem(doc, method, url, res);
  if (problem !== undefined) checked++;
  if (problem) problems.push(problem);
  spentMs += performance.now() - start;
}

/**
 * What is wrong with one answer to `method url` by `doc`: a message, '' when nothing is, undefined
 * when the document has no such operation (not checked).
 */
export function answerProblem(doc: OpenAPIObject | undefined, method: string, url: string, res: Answer): string | undefined {
  if (!doc) return;
  const verb = method.toLowerCase();
  if (verb === 'head' || verb === 'options') return;
  let path: string;
  try {
    path = new URL(url, 'http://localhost').pathname;
  } catch {
    return;
  }
  const checker = checkerFor(doc);
  const route = checker.routes.find((r) => r.pattern.test(path));
  const op = route?.item[verb];
  if (!route || !op) return;
  const where = `${method.toUpperCase()} ${route.path} → ${res.status}`;
  const response = op.responses[String(res.status)];
  if (!response) return `${where}: status not documented (documented: ${Object.keys(op.responses).join(', ')})`;
  const missing = Object.keys(response.headers ?? {}).filter((h) => res.headers[h.toLowerCase()] === undefined);
  if (missing.length > 0) return `${where}: documented header(s) missing: ${missing.join(', ')}`;
  const type = String(res.headers['content-type'] ?? '');
  const schema = response.content?.['application/json']?.schema;
  if (!/^application\/json/i.test(type)) return schema && res.status !== 204 ? `${where}: documented as JSON, answered ${type || 'no content type'}` : '';
  if (!schema) return `${where}: a JSON body where the document says there is none`;
  let body = res.body;
  if (Buffer.isBuffer(body) || typeof body === 'string' || (body && typeof body === 'object' && Object.keys(body).length === 0 && res.text)) {
    try {
      body = JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : (res.text ?? ''));
    } catch {
      return ''; // a cut stream (a fault test): not an answer a client can read, whatever the document says
    }
  }
  const id = `${verb} ${route.path} ${res.status}`;
  let validate = checker.validators.get(id);
  if (!validate) {
    validate = checker.ajv.compile(rewriteRefs(schema, 'oas#/definitions/') as Json);
    checker.validators.set(id, validate);
  }
  if (validate(body)) return '';
  // Every answer passes the scrubber (API.md): a string, or a member name, that held a registered
  // secret holds `[REDACTED]` in its place, whatever its schema says (a secret "secret" redacts the
  // type `secret`). The document describes answers before that; an error where the scrubber wrote is
  // not the document's.
  const errors = (validate.errors ?? []).filter((e) => !scrubbedAt(body, e.instancePath, e.keyword));
  if (errors.length === 0) return '';
  const shown = errors.slice(0, 5).map((e) => `${e.instancePath || '(body)'} ${e.message}`);
  return `${where}: body does not match the documented schema: ${shown.join('; ')}`;
}

const REDACTED = '[REDACTED]';

/** Whether the value at `pointer` was written by the scrubber: a string holding [REDACTED], or (`required`, `additionalProperties`) an object with a redacted member name. */
function scrubbedAt(body: unknown, pointer: string, keyword: string): boolean {
  let value = body;
  for (const part of pointer.split('/').slice(1)) {
    const key = part.replace(/~1/g, '/').replace(/~0/g, '~');
    if (value === null || typeof value !== 'object') return false;
    value = (value as Record<string, unknown>)[key];
  }
  if (typeof value === 'string') return value.includes(REDACTED);
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && (keyword === 'required' || keyword === 'additionalProperties')) {
    return Object.keys(value).some((k) => k.includes(REDACTED));
  }
  return false;
}

/** The problems found since the last call, how many answers were checked, and the time the checks took. */
export function takeProblems(): { problems: string[]; checked: number; ms: number } {
  const out = { problems: problems.splice(0), checked, ms: Math.round(spentMs) };
  checked = 0;
  spentMs = 0;
  return out;
}
