// Jest transform for the project's TypeScript and for the ESM-only packages it depends on (NestJS 12
// ships ESM only; jest on Node 20 cannot require ESM). Both are transpiled to CommonJS with
// TypeScript's transpileModule (no type checking: `npm run typecheck` does that), and
// `import.meta.url` becomes the CommonJS equivalent.
const ts = require('typescript');
const crypto = require('node:crypto');
const self = require('node:fs').readFileSync(__filename);

const compilerOptions = {
  module: ts.ModuleKind.CommonJS,
  target: ts.ScriptTarget.ES2022,
  esModuleInterop: true,
  experimentalDecorators: true,
  emitDecoratorMetadata: true,
  allowJs: true,
  sourceMap: false,
  inlineSourceMap: true,
  inlineSources: true,
  useDefineForClassFields: false,
};

const ESM_SYNTAX = /^\s*(import\s*[\w{*'"]|export\s)|import\.meta/m;

module.exports = {
  process(source, filename) {
    // CommonJS files in node_modules pass through untouched; only ESM ones need transpiling.
    if (filename.includes('/node_modules/') && !ESM_SYNTAX.test(source)) return { code: source };
    const patched = source.includes('import.meta')
      ? source
          // An ESM module's own `const require = createRequire(import.meta.url)`: CommonJS has one.
          .replace(/^\s*const require\s*=\s*createRequire\(import\.meta\.url\);?\s*$/gm, '')
          .replace(/import\.meta\.url/g, 'require("node:url").pathToFileURL(__filename).href')
          .replace(/import\.meta\.dirname/g, '__dirname')
          .replace(/import\.meta\.filename/g, '__filename')
      : source;
    const out = ts.transpileModule(patched, { compilerOptions, fileName: filename });
    return { code: out.outputText };
  },
  getCacheKey(source, filename) {
    return crypto.createHash('sha1').update(self).update(ts.version).update(filename).update(source).digest('hex');
  },
};
