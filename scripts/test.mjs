#!/usr/bin/env node
// Runs the whole suite with Node's own test runner (its closing "# pass / # fail" lines are
// what CI reads). TypeScript runs from source through tsx, with the "source" export condition
// so workspace packages resolve to src/ and no build is needed between edits.
//
// Usage: node scripts/test.mjs [filter...]   filters match against the test file's path.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const roots = ['packages', 'apps', 'test', 'bench'].map((d) => join(root, d));

function walk(dir, out) {
  let entries;
  try {
    entries = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of entries) {
    if (name === 'node_modules' || name === 'dist') continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const passthrough = process.argv.slice(2).filter((a) => a.startsWith('-'));
let files = roots.flatMap((d) => walk(d, [])).sort();
if (filters.length > 0)
  files = files.filter((f) => filters.some((x) => relative(root, f).includes(x)));
if (files.length === 0) {
  console.error(`no test files match ${filters.join(' ')}`);
  process.exit(1);
}

const args = [
  '--conditions=source',
  '--import',
  'tsx',
  '--test',
  `--test-concurrency=${process.env.TEST_CONCURRENCY ?? '2'}`,
  '--test-timeout=120000',
  ...passthrough,
  ...files.map((f) => relative(root, f)),
];
const child = spawn(process.execPath, args, { cwd: root, stdio: 'inherit', env: process.env });
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
