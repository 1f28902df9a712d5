#!/usr/bin/env node
// `npm run bench [-- --smoke | --servers=... | --only=...]`: runs the benchmark suite in
// bench/run.mjs (see BENCHMARKS.md). The peers it compares against are installed by the harness
// into bench/peers/node_modules, never into the workspace.
import { spawn } from 'node:child_process';

const root = new URL('..', import.meta.url).pathname;
const child = spawn(process.execPath, ['bench/run.mjs', ...process.argv.slice(2)], {
  cwd: root,
  stdio: 'inherit',
});
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
