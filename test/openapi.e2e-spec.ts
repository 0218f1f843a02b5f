import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { answerProblem } from './helpers/openapi-check';
import { bearer, startApp, TestApp } from './helpers/test-app';

/**
 * The OpenAPI document (`/docs-json`) as third-party tools read it: Redocly (`recommended`) and
 * Spectral (`spectral:oas`) find no error in it (issue 15). The linters are the pinned
 * devDependencies, run through their CLIs on the document the app serves.
 */
const run = promisify(execFile);
const ROOT = join(__dirname, '..');
const REDOCLY = require.resolve('@redocly/cli/bin/cli.js', { paths: [ROOT] });
const SPECTRAL = require.resolve('@stoplight/spectral-cli/dist/index.js', { paths: [ROOT] });
// Its package exports do not list its CLI: the file where npm installs it.
const OPENAPI_TS = join(ROOT, 'node_modules', 'openapi-typescript', 'bin', 'cli.js');
const TSC = require.resolve('typescript/bin/tsc', { paths: [ROOT] });
const FIXTURE = join(__dirname, 'fixtures', 'openapi-client', 'calls.ts');
// No telemetry or update check from Redocly: nothing leaves the machine.
const QUIET = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', NO_UPDATE_NOTIFIER: '1' };

/** A CLI's stdout whatever its exit code (linters exit 1 when they find errors). */
async function output(file: string, args: string[], cwd: string): Promise<string> {
  try {
    return (await run(process.execPath, [file, ...args], { cwd, env: QUIET, maxBuffer: 64 * 1024 * 1024, timeout: 120_000 })).stdout;
  } catch (err) {
    const stdout = (err as { stdout?: string }).stdout?.trim() ?? '';
    if (stdout.startsWith('{') || stdout.startsWith('[')) return stdout;
    throw err;
  }
}

type Operation = { responses: Record<string, { description?: string; content?: Record<string, { schema?: { $ref?: string } }> }>; requestBody?: unknown; parameters?: { name: string; in: string; required?: boolean }[]; security?: unknown[]; description?: string; tags?: string[] };
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>>; security?: unknown[]; tags?: { name: string }[]; components: { securitySchemes: Record<string, { bearerFormat?: string }> } };

const operations = (doc: OpenApi) => Object.entries(doc.paths).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ path, method, op })));

describe('the OpenAPI document, linted', () => {
  let t: TestApp;
  let dir: string;
  let doc: OpenApi;

  beforeAll(async () => {
    t = await startApp({ listen: true });
    dir = mkdtempSync(join(tmpdir(), 'bifrost-openapi-'));
    const res = await t.http().get('/docs-json').expect(200);
    doc = res.body as OpenApi;
    writeFileSync(join(dir, 'openapi.json'), JSON.stringify(res.body, null, 2));
    writeFileSync(join(dir, '.spectral.yaml'), 'extends: ["spectral:oas"]\n');
  });
  afterAll(async () => {
    await t?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('has no Redocly error (recommended rules)', async () => {
    const report = JSON.parse(await output(REDOCLY, ['lint', '--extends', 'recommended', '--format', 'json', 'openapi.json'], dir)) as {
      totals: { errors: number };
      problems: { ruleId: string; severity: string; message: string; location: { pointer: string }[] }[];
    };
    const errors = report.problems.filter((p) => p.severity === 'error').map((p) => `${p.ruleId} ${p.location[0]?.pointer}: ${p.message}`);
    expect(errors).toEqual([]);
    expect(report.totals.errors).toBe(0);
  });

  it('has no Spectral error (spectral:oas)', async () => {
    const report = JSON.parse(await output(SPECTRAL, ['lint', '--ruleset', '.spectral.yaml', '--format', 'json', '--quiet', 'openapi.json'], dir)) as {
      code: string;
      path: string[];
      message: string;
      severity: number;
    }[];
    // Spectral's severities: 0 error, 1 warning, 2 info, 3 hint.
    expect(report.filter((p) => p.severity === 0).map((p) => `${p.code} ${p.path.join('.')}: ${p.message}`)).toEqual([]);
  });

  it('declares each header once, optional as API.md says, and bearer auth everywhere but /health', () => {
    for (const { path, method, op } of operations(doc)) {
      const headers = (op.parameters ?? []).filter((p) => p.in === 'header').map((p) => p.name.toLowerCase());
      expect({ path, method, headers }).toEqual({ path, method, headers: [...new Set(headers)] });
      for (const p of op.parameters ?? []) if (p.in === 'header') expect({ path, method, name: p.name, required: p.required ?? false }).toMatchObject({ required: false });
      expect({ path, method, described: !!op.description }).toEqual({ path, method, described: true });
      for (const tag of op.tags ?? []) expect(doc.tags?.map((t) => t.name)).toContain(tag);
    }
    expect(doc.security).toEqual([{ bearer: [] }]);
    expect(doc.paths['/health'].get.security).toEqual([]);
    expect(doc.components.securitySchemes.bearer.bearerFormat).not.toMatch(/jwt/i);
  });

  it('describes every error with the one error schema, and the statuses every operation can answer', () => {
    const errorDto = (doc.components as unknown as { schemas: Record<string, { required?: string[] }> }).schemas.ErrorDto;
    expect(errorDto.required?.sort()).toEqual(['code', 'error', 'message', 'statusCode']);
    for (const { path, method, op } of operations(doc)) {
      const statuses = Object.keys(op.responses);
      if (path.startsWith('/api')) {
        const expected = ['400', '401', '403', '429', '500', '503', ...(op.requestBody ? ['413', '415'] : [])];
        expect({ path, method, missing: expected.filter((s) => !statuses.includes(s)) }).toEqual({ path, method, missing: [] });
      }
      // Each answer described once (Nest joins two descriptions of one status with a blank line).
      for (const status of statuses) expect({ path, method, status, paragraphs: op.responses[status].description?.split('\n\n').length }).toEqual({ path, method, status, paragraphs: 1 });
      for (const status of statuses.filter((s) => Number(s) >= 400 && !(path.startsWith('/health') && s === '503'))) {
        const schema = op.responses[status].content?.['application/json']?.schema;
        expect({ path, method, status, schema }).toEqual({ path, method, status, schema: { $ref: '#/components/schemas/ErrorDto' } });
      }
    }
  });

  it('checks answers against it: an undocumented status or a body off its schema is a problem', async () => {
    const json = { 'content-type': 'application/json; charset=utf-8' };
    const me = await t.http().get('/api/me').set(bearer(t.adminToken)).expect(200);
    const api = doc as unknown as Parameters<typeof answerProblem>[0];
    expect(answerProblem(api, 'get', '/api/me', { status: me.status, headers: me.headers, body: me.body })).toBe('');
    expect(answerProblem(api, 'get', '/api/me', { status: 418, headers: json, body: {} })).toMatch(/status not documented/);
    expect(answerProblem(api, 'get', '/api/me', { status: 200, headers: json, body: { ...me.body, role: 'root' } })).toMatch(/\/role must be equal to one of the allowed values/);
    expect(answerProblem(api, 'get', '/api/me', { status: 401, headers: { ...json, 'www-authenticate': 'Bearer realm="bifrost"' }, body: { statusCode: 401, message: 'no' } })).toMatch(/must have required property 'error'/);
    expect(answerProblem(api, 'get', '/api/me', { status: 401, headers: json, body: { statusCode: 401, error: 'Unauthorized', code: 'MISSING_TOKEN', message: 'no' } })).toMatch(
      /documented header\(s\) missing: WWW-Authenticate/,
    );
    expect(answerProblem(api, 'delete', '/api/tokens/x', { status: 204, headers: json, body: { a: 1 } })).toMatch(/a JSON body where the document says there is none/);
    // What the scrubber wrote is not held against the document (a secret "secret" redacts a type `secret`)...
    expect(answerProblem(api, 'get', '/api/me', { status: 200, headers: json, body: { ...me.body, role: '[REDACTED]' } })).toBe('');
    // ...but only there.
    expect(answerProblem(api, 'get', '/api/me', { status: 200, headers: json, body: { ...me.body, role: '[REDACTED]', id: 7 } })).toMatch(/\/id must be string/);
    // Not an operation of the document: not checked (the 405s, unknown routes).
    expect(answerProblem(api, 'delete', '/api/me', { status: 405, headers: json, body: {} })).toBeUndefined();
    expect(answerProblem(api, 'get', '/nowhere', { status: 404, headers: json, body: {} })).toBeUndefined();
  });

  it('generates a TypeScript client (openapi-typescript) with which a typed sequence of calls type-checks (openapi-fetch) and runs', async () => {
    await run(process.execPath, [OPENAPI_TS, 'openapi.json', '--output', 'schema.d.ts'], { cwd: dir, env: QUIET, timeout: 120_000 });
    copyFileSync(FIXTURE, join(dir, 'calls.ts'));
    const fetchTypes = join(ROOT, 'node_modules', 'openapi-fetch');
    writeFileSync(
      join(dir, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          noEmit: true,
          target: 'ES2022',
          module: 'ESNext',
          moduleResolution: 'Bundler',
          lib: ['ES2023', 'DOM'],
          types: [],
          skipLibCheck: true,
          baseUrl: '.',
          paths: { 'openapi-fetch': [fetchTypes] },
          ignoreDeprecations: '6.0',
        },
        files: ['calls.ts'],
      }),
    );
    let out = '';
    try {
      out = (await run(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir, env: QUIET, timeout: 180_000 })).stdout;
    } catch (err) {
      out = (err as { stdout?: string }).stdout ?? String(err);
    }
    const errors = out.split('\n').filter((line) => /error TS\d+/.test(line));
    expect(errors).toEqual([]);

    // The same calls, run: the typed client talks to the service as the document says it does.
    // By its path, so that the project's own type-check does not follow it to the generated ./schema.
    const { typedSequence } = (await import(FIXTURE)) as { typedSequence: (baseUrl: string, token: string) => Promise<{ codes: string[]; values: unknown[] }> };
    const result = await typedSequence(t.baseUrl, t.adminToken);
    expect(result.codes).toEqual(['404 CONFIG_NOT_FOUND', '409 SECRET_TYPE_CHANGE', '404 CONFIG_NOT_FOUND', '400 ORG_REQUIRED', '409 EXECUTION_FINISHED']);
    expect(result.values).toEqual(['••••••', 7, true, 'sk_typed_0123456789', 10, 'eu-west', 'success', 1, 1, 9, 'service', 'ok']);
  });
});
