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
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

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
