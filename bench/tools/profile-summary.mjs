#!/usr/bin/env node
// Summarises a `.cpuprofile` (node --cpu-prof, e.g. from `node bench/run.mjs --cpu-prof`):
// self time per function, heaviest first.
//
//   node bench/tools/profile-summary.mjs FILE.cpuprofile [TOP]
import { readFileSync } from 'node:fs';

const [file, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: profile-summary.mjs FILE.cpuprofile [TOP]');
  process.exit(2);
}
/** @type {{ nodes: Array<{ id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number }>, samples: number[], timeDeltas: number[] }} */
const p = JSON.parse(readFileSync(file, 'utf8'));
/** @type {Map<number, number>} */
const self = new Map();
p.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
/** @type {Map<string, number>} */
const byFn = new Map();
let total = 0;
for (const n of p.nodes) {
  const t = self.get(n.id) ?? 0;
  total += t;
  const f = n.callFrame;
  const url = f.url.replace(/^.*\/(node_modules\/|packages\/)/, '$1');
  const key = `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`;
  byFn.set(key, (byFn.get(key) ?? 0) + t);
}
const rows = [...byFn.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 40));
for (const [k, t] of rows) console.log(`${((t / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
console.log(`total ${(total / 1e6).toFixed(2)} s sampled`);
