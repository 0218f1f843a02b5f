/**
 * `import { BifrostClient } from 'bifrost-config/client'` from outside the project: the package's
 * `exports` (and `typesVersions` for TypeScript's older `node10` resolution), the client built with
 * the project's own tsconfig (so without its test support), importable without the server.
 *
 * The client is compiled afresh into a temporary copy of the package (its real package.json), which
 * a consumer directory sees through `node_modules/bifrost-config`; so this test needs no prior build
 * and never writes into `dist/`. The last test checks the repository's own build (`npm run build`)
 * through Node's package self-reference.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { bearer, seedOrg, startApp, TestApp } from './helpers/test-app';
import { finished } from './helpers/processes';

const ROOT = resolve(__dirname, '..');
const CLIENT_SRC = join(ROOT, 'src', 'client') + sep;

function projectConfig(): ts.ParsedCommandLine {
  const parsed = ts.getParsedCommandLineOfConfigFile(join(ROOT, 'tsconfig.json'), {}, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
    },
  });
  if (!parsed) throw new Error('tsconfig.json could not be read');
  return parsed;
}

/** Parsed source files shared by the programs of this test (the lib and @types files dominate the cost). */
const sourceCache = new Map<string, ts.SourceFile | undefined>();
function cachedHost(options: ts.CompilerOptions): ts.CompilerHost {
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (fileName, languageVersionOrOptions, onError, shouldCreate) => {
    if (!fileName.includes(`${sep}node_modules${sep}`)) return getSourceFile(fileName, languageVersionOrOptions, onError, shouldCreate);
    const o = typeof languageVersionOrOptions === 'object' ? languageVersionOrOptions : { languageVersion: languageVersionOrOptions };
    const key = `${fileName}|${o.languageVersion}|${'impliedNodeFormat' in o ? o.impliedNodeFormat : ''}`;
    if (!sourceCache.has(key)) sourceCache.set(key, getSourceFile(fileName, languageVersionOrOptions, onError, shouldCreate));
    return sourceCache.get(key);
  };
  return host;
}

function formatDiagnostics(diagnostics: readonly ts.Diagnostic[]): string {
  return ts.formatDiagnostics(diagnostics, { getCanonicalFileName: (f) => f, getCurrentDirectory: () => ROOT, getNewLine: () => '\n' });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]));
}

function node(args: string[], cwd: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', env: { PATH: process.env.PATH ?? '' }, timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('the bifrost-config/client package export', () => {
  let tmp: string;
  let pkgDir: string;
  let consumerDir: string;
  let config: ts.ParsedCommandLine;
  let program: ts.Program;

  beforeAll(() => {
    config = projectConfig();
    tmp = mkdtempSync(join(tmpdir(), 'bifrost-client-pkg-'));
    pkgDir = join(tmp, 'bifrost-config');
    mkdirSync(pkgDir);
    copyFileSync(join(ROOT, 'package.json'), join(pkgDir, 'package.json'));
    // The project's build, restricted to the client: the same options and the same file selection.
    const options: ts.CompilerOptions = { ...config.options, outDir: join(pkgDir, 'dist'), rootDir: join(ROOT, 'src'), incremental: false, tsBuildInfoFile: undefined, sourceMap: false, noEmit: false };
    program = ts.createProgram({
      rootNames: config.fileNames.filter((f) => resolve(f).startsWith(CLIENT_SRC)),
      options,
      host: cachedHost(options),
    });
    const emitted = program.emit();
    const diagnostics = [...ts.getPreEmitDiagnostics(program), ...emitted.diagnostics];
    if (diagnostics.length > 0) throw new Error(`the client does not compile:\n${formatDiagnostics(diagnostics)}`);

    consumerDir = join(tmp, 'consumer');
    mkdirSync(join(consumerDir, 'node_modules'), { recursive: true });
    writeFileSync(join(consumerDir, 'package.json'), JSON.stringify({ name: 'workflow-engine', private: true }));
    symlinkSync(pkgDir, join(consumerDir, 'node_modules', 'bifrost-config'), 'dir');
  }, 120_000);
  afterAll(() => {
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('declares the subpath export and the types for it', () => {
    const pkg = require(join(ROOT, 'package.json'));
    expect(pkg.name).toBe('bifrost-config');
    expect(pkg.exports).toMatchObject({ '.': './dist/main.js', './client': './dist/client/index.js' });
    expect(pkg.typesVersions).toEqual({ '*': { client: ['./dist/client/index.d.ts'] } });
  });

  it('builds the client and its example, without the specs and the test support', () => {
    const selected = config.fileNames.map((f) => relative(ROOT, f).split(sep).join('/'));
    expect(selected).toEqual(expect.arrayContaining(['src/client/index.ts', 'src/client/examples/charge-card.ts']));
    expect(selected.filter((f) => /(^|\/)testing\//.test(f) || /\.spec\.ts$/.test(f))).toEqual([]);

    const shipped = filesUnder(join(pkgDir, 'dist', 'client')).map((f) => relative(join(pkgDir, 'dist', 'client'), f).split(sep).join('/'));
    expect(shipped).toEqual(expect.arrayContaining(['index.js', 'index.d.ts', 'client.js', 'errors.js', 'http.js', 'examples/charge-card.js', 'examples/charge-card.d.ts']));
    expect(shipped.filter((f) => f.startsWith('testing/') || f.includes('.spec.'))).toEqual([]);
  });

  it('imports nothing from the server and no package: only its own files and node: built-ins', () => {
    const own = program.getSourceFiles().filter((f) => !f.isDeclarationFile).map((f) => resolve(f.fileName));
    expect(own.filter((f) => !f.startsWith(CLIENT_SRC))).toEqual([]);
    for (const file of own) {
      const { importedFiles } = ts.preProcessFile(ts.sys.readFile(file) ?? '', true, true);
      const foreign = importedFiles.map((i) => i.fileName).filter((m) => !m.startsWith('./') && !m.startsWith('../') && !m.startsWith('node:'));
      expect({ file: relative(ROOT, file), foreign }).toEqual({ file: relative(ROOT, file), foreign: [] });
    }
  });

  it('is required from outside the project (CommonJS), loading only the client', () => {
    const script = `
      const c = require('bifrost-config/client');
      const client = new c.BifrostClient({ baseUrl: 'http://127.0.0.1:1', token: 'bft_secret_token_value' });
      const err = new c.ConfigNotFoundError('stripe_api_key');
      process.stdout.write(JSON.stringify({
        BifrostClient: typeof c.BifrostClient,
        exports: Object.keys(c).sort(),
        destructured: typeof client.config.get + ' ' + typeof client.execution.start,
        error: [err instanceof c.NotFoundError, err instanceof c.BifrostError, String(err)],
        json: JSON.stringify(client),
        loaded: Object.keys(require.cache),
      }));`;
    const out = JSON.parse(execFileSync(process.execPath, ['-e', script], { cwd: consumerDir, encoding: 'utf8' }));
    expect(out.BifrostClient).toBe('function');
    expect(out.exports).toEqual(expect.arrayContaining(['BifrostClient', 'ConfigClient', 'ExecutionClient', 'BifrostError', 'ConfigNotFoundError', 'ServiceUnavailableError', 'TimeoutError', 'ConnectionError']));
    expect(out.destructured).toBe('function function');
    expect(out.error).toEqual([true, true, "ConfigNotFoundError: 'stripe_api_key'"]);
    expect(out.json).not.toContain('bft_secret_token_value');
    const clientDist = join(realpathSync(pkgDir), 'dist', 'client') + sep;
    expect(out.loaded.length).toBeGreaterThan(0);
    expect(out.loaded.filter((f: string) => !f.startsWith(clientDist))).toEqual([]);
  });

  it('is imported from an ES module with named imports', () => {
    const script = `
      import { BifrostClient, ConfigNotFoundError } from 'bifrost-config/client';
      import * as all from 'bifrost-config/client';
      const { config, execution } = new BifrostClient({ baseUrl: 'http://127.0.0.1:1', token: 't' });
      console.log(JSON.stringify([typeof BifrostClient, typeof ConfigNotFoundError, typeof config.get, typeof execution.finish, typeof all.default]));`;
    const r = node(['--input-type=module', '-e', script], consumerDir);
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual(['function', 'function', 'function', 'function', 'object']);
  });

  it('keeps the build’s other files private (exports closes deep imports)', () => {
    const r = node(['-e', "require('bifrost-config/dist/client/http.js')"], consumerDir);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('type-checks a workflow written against it, under node10, node16 and bundler resolution', () => {
    const file = join(consumerDir, 'workflow.ts');
    writeFileSync(
      file,
      `import { BifrostClient, BifrostError, ConfigNotFoundError, type ExecutionRecord } from 'bifrost-config/client';
const { config, execution } = new BifrostClient({ baseUrl: 'http://127.0.0.1:3000', token: 'bft_x', org: 'acme' });
export async function chargeCard(): Promise<ExecutionRecord> {
  await execution.start('charge_card');
  const apiKey: string = await config.get<string>('stripe_api_key');
  const region = await config.get('region', { default: 'eu-west-1' });
  await config.set('last_region', region, { isSecret: false });
  const all: Record<string, unknown> = await config.list();
  execution.log('info', \`charging with \${apiKey} \${Object.keys(all).length}\`);
  try {
    await config.delete('nope');
  } catch (err) {
    if (err instanceof ConfigNotFoundError) execution.log('warning', err.key);
    else if (err instanceof BifrostError) execution.log('error', err.code);
  }
  return execution.finish({ charged: true });
}
`,
    );
    const modes: [string, ts.CompilerOptions][] = [
      ['node10', { moduleResolution: ts.ModuleResolutionKind.Node10, module: ts.ModuleKind.CommonJS }],
      ['node16', { moduleResolution: ts.ModuleResolutionKind.Node16, module: ts.ModuleKind.Node16 }],
      ['bundler', { moduleResolution: ts.ModuleResolutionKind.Bundler, module: ts.ModuleKind.ESNext }],
    ];
    for (const [name, options] of modes) {
      const all: ts.CompilerOptions = {
        ...options,
        target: ts.ScriptTarget.ES2022,
        strict: true,
        noEmit: true,
        skipLibCheck: true,
        ignoreDeprecations: '6.0',
        types: ['node'],
        typeRoots: [join(ROOT, 'node_modules', '@types')],
      };
      const p = ts.createProgram({ rootNames: [file], options: all, host: cachedHost(all) });
      expect({ mode: name, diagnostics: formatDiagnostics(ts.getPreEmitDiagnostics(p)) }).toEqual({ mode: name, diagnostics: '' });
    }
  }, 120_000);

  it('ships the runnable charge_card example', () => {
    const r = node([join(pkgDir, 'dist', 'client', 'examples', 'charge-card.js')], consumerDir);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('usage: BIFROST_URL=');
  });

  it('resolves by self-reference from the repository root after `npm run build`', () => {
    const built = join(ROOT, 'dist', 'client', 'index.js');
    if (!existsSync(built)) throw new Error(`${built} is missing: run \`npm run build\` first (npm test and npm run test:e2e do)`);
    const out = execFileSync(process.execPath, ['-e', "const c = require('bifrost-config/client'); process.stdout.write(typeof c.BifrostClient + ' ' + require.resolve('bifrost-config/client'))"], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(out).toBe(`function ${built}`);
  });
});

/**
 * The client as the workflow engine installs it (issue 20): `npm run pack:client` packs it on its
 * own, `npm install` of that tarball into an empty folder fetches nothing (no registry is reachable
 * and the cache is empty: zero dependencies), and the installed `charge_card` example runs against
 * the real service, listening on a port.
 */
describe('the client installed on its own', () => {
  let tmp: string;
  let engineDir: string;
  let tarball: string;
  let t: TestApp;
  let payment: { url: string; seen: { authorization?: string; body: unknown }[]; close: () => Promise<void> };


  beforeAll(async () => {
    tmp = mkdtempSync(join(tmpdir(), 'bifrost-client-alone-'));
    tarball = execFileSync(process.execPath, [join(ROOT, 'packages', 'client', 'pack.js'), tmp], { cwd: ROOT, encoding: 'utf8' }).trim();
    engineDir = join(tmp, 'workflow-engine');
    mkdirSync(engineDir);
    writeFileSync(join(engineDir, 'package.json'), JSON.stringify({ name: 'workflow-engine', private: true }));
    // No registry to reach and an empty cache: an install that needed anything but the tarball fails.
    execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--registry', 'http://127.0.0.1:9/', '--cache', join(tmp, 'npm-cache'), tarball], {
      cwd: engineDir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { PATH: process.env.PATH ?? '', HOME: tmp },
    });

    t = await startApp({ listen: true });
    const seen: { authorization?: string; body: unknown }[] = [];
    const server = createServer((req, res) => {
      let text = '';
      req.on('data', (c) => (text += c));
      req.on('end', () => {
        seen.push({ authorization: req.headers.authorization, body: text ? JSON.parse(text) : undefined });
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ id: `ch_${seen.length}`, status: 'succeeded' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    payment = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, close: () => new Promise((r) => server.close(() => r())) };
  }, 180_000);
  afterAll(async () => {
    await payment?.close();
    await t?.close();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  it('is a package of the client alone: the same subpath export, no dependencies, only dist/client', () => {
    const manifest = require(join(ROOT, 'packages', 'client', 'package.json'));
    const root = require(join(ROOT, 'package.json'));
    expect(manifest.name).toBe(root.name);
    expect(manifest.exports['./client']).toBe(root.exports['./client']);
    expect(manifest.typesVersions).toEqual(root.typesVersions);
    for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies', 'bin', 'scripts']) expect({ field, value: manifest[field] }).toEqual({ field, value: undefined });

    const installed = join(engineDir, 'node_modules', 'bifrost-config');
    expect(readdirSync(join(engineDir, 'node_modules')).sort()).toEqual(['.package-lock.json', 'bifrost-config']);
    expect(require(join(installed, 'package.json')).version).toBe(root.version);
    const files = filesUnder(installed).map((f) => relative(installed, f).split(sep).join('/'));
    expect(files.filter((f) => !f.startsWith('dist/client/')).sort()).toEqual(['README.md', 'package.json']);
    expect(files).toEqual(expect.arrayContaining(['package.json', 'dist/client/index.js', 'dist/client/index.d.ts', 'dist/client/examples/charge-card.js']));
    expect(files.filter((f) => f.includes('.spec.') || f.includes('testing/') || f.endsWith('.map'))).toEqual([]);
    // What the tarball costs the engine: the size of one small package.
    expect(statSync(tarball).size).toBeLessThan(100_000);
  });

  it('is imported as bifrost-config/client from the engine, CommonJS and ES module, from its own node_modules', () => {
    const cjs = node(['-e', "const c = require('bifrost-config/client'); process.stdout.write(typeof c.BifrostClient + ' ' + require.resolve('bifrost-config/client'))"], engineDir);
    expect(cjs.stderr).toBe('');
    expect(cjs.stdout).toBe(`function ${join(realpathSync(engineDir), 'node_modules', 'bifrost-config', 'dist', 'client', 'index.js')}`);
    const esm = node(['--input-type=module', '-e', "import { BifrostClient } from 'bifrost-config/client'; console.log(typeof BifrostClient)"], engineDir);
    expect(esm).toEqual({ status: 0, stdout: 'function\n', stderr: '' });
  });

  it('runs the installed charge_card example against the running service: the provider gets the key, the stored run shows [REDACTED]', async () => {
    const acme = await seedOrg(t, 'acme');
    const stripeKey = `sk_live_${randomBytes(18).toString('base64url')}`;
    await t.http().put(`/api/scopes/${acme.org.id}/configs/stripe_api_key`).set(bearer(t.adminToken)).send({ type: 'secret', value: stripeKey }).expect(201);

    const example = join(engineDir, 'node_modules', 'bifrost-config', 'dist', 'client', 'examples', 'charge-card.js');
    const res = await finished(process.execPath, [example, '1999', 'usd'], {
      cwd: engineDir,
      env: { PATH: process.env.PATH ?? '', BIFROST_URL: t.baseUrl, BIFROST_TOKEN: acme.service, BIFROST_ORG: 'acme', PAYMENT_URL: `${payment.url}/v1/charges` },
    });
    expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: '' });
    expect(payment.seen.at(-1)).toEqual({ authorization: `Bearer ${stripeKey}`, body: { amount: 1999, currency: 'usd' } });
    const stored = JSON.parse(res.stdout);
    expect(stored).toMatchObject({ workflow: 'charge_card', orgId: acme.org.id, status: 'success', result: { charged: true, chargeId: 'ch_1', amount: 1999, currency: 'usd', apiKey: '[REDACTED]' } });
    expect(stored.logs).toEqual([expect.objectContaining({ level: 'info', message: 'charging with [REDACTED]' })]);
    expect(res.stdout).not.toContain(stripeKey);
    // The service's own view of that run agrees.
    const asAdmin = (await t.http().get(`/api/executions/${stored.id}`).set(bearer(t.adminToken)).expect(200)).body;
    expect(asAdmin).toMatchObject({ status: 'success', result: { apiKey: '[REDACTED]' } });
  }, 60_000);
});
