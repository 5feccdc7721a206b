// index.d.ts: a typed usage compiles, a misuse does not (tsc from devDependencies).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const PKG = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TSC = join(PKG, 'node_modules', 'typescript', 'bin', 'tsc');

test('the declarations type-check an app, and refuse a wrong op data type', () => {
  // one compiler run over both files: only the misuse file may fail, at its line
  const r = spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--target', 'es2022',
    '--module', 'nodenext', '--moduleResolution', 'nodenext', '--lib', 'es2022,dom',
    join(PKG, 'test', 'types-usage.ts'), join(PKG, 'test', 'types-misuse.ts')],
  { encoding: 'utf8', cwd: PKG });
  const errors = r.stdout.split('\n').filter((l) => /error TS/.test(l));
  assert.ok(!errors.some((l) => l.includes('types-usage.ts')), r.stdout + r.stderr);
  assert.equal(errors.length, 1, r.stdout + r.stderr);
  assert.match(errors[0], /types-misuse\.ts\(6,/);
});
