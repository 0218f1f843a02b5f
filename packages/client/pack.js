#!/usr/bin/env node
/**
 * Packs the service client on its own: `npm run pack:client [-- DEST]` writes
 * bifrost-config-<version>.tgz (the client's files, no dependencies) into DEST (default: the
 * current folder) and prints its path. The workflow engine installs it with
 * `npm install ./bifrost-config-<version>.tgz` and imports `bifrost-config/client`.
 *
 * The package is staged in a temporary folder: this folder's package.json stamped with the
 * repository's version, the client's README, and src/client compiled by this folder's tsconfig
 * (without the specs and the test support). Nothing is written into the repository.
 */
const { execFileSync } = require('node:child_process');
const { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join, resolve } = require('node:path');

const HERE = __dirname;
const ROOT = resolve(HERE, '..', '..');

function pack(dest) {
  const stage = mkdtempSync(join(tmpdir(), 'bifrost-client-pack-'));
  try {
    const manifest = JSON.parse(readFileSync(join(HERE, 'package.json'), 'utf8'));
    const { version } = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
    writeFileSync(join(stage, 'package.json'), JSON.stringify({ ...manifest, version }, null, 2) + '\n');
    copyFileSync(join(ROOT, 'src', 'client', 'README.md'), join(stage, 'README.md'));
    execFileSync(process.execPath, [require.resolve('typescript/bin/tsc', { paths: [ROOT] }), '-p', join(HERE, 'tsconfig.json'), '--outDir', join(stage, 'dist', 'client')], { stdio: 'inherit' });
    // --offline: a folder with no dependencies needs nothing from a registry.
    const out = execFileSync('npm', ['pack', '--offline', '--json', '--pack-destination', dest], { cwd: stage, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    return join(dest, JSON.parse(out)[0].filename);
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

module.exports = { pack };

if (require.main === module) process.stdout.write(pack(resolve(process.argv[2] ?? '.')) + '\n');
