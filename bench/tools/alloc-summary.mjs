#!/usr/bin/env node
// Summarises a `.heapprofile` from `node bench/run.mjs --alloc-prof`: bytes allocated in the
// measured window (collected objects included), per allocating function with its two callers,
// largest first; with an operation count (connections, messages), bytes per operation.
//
//   node bench/tools/alloc-summary.mjs FILE.heapprofile [OPERATIONS] [TOP]
import { readFileSync } from 'node:fs';

const [file, opsArg, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: alloc-summary.mjs FILE.heapprofile [OPERATIONS] [TOP]');
  process.exit(2);
}
/** @typedef {{ callFrame: { functionName: string, url: string, lineNumber: number }, selfSize: number, children: Node[] }} Node */
/** @type {{ head: Node }} */
const profile = JSON.parse(readFileSync(file, 'utf8'));
const ops = Number(opsArg ?? 1);

/** @param {Node} n */
const label = (n) => {
  const f = n.callFrame;
  const url = f.url.replace(/^.*\/(node_modules\/|packages\/)/, '$1').replace(/^node:/, '');
  return `${f.functionName || '(anonymous)'} ${url}:${f.lineNumber + 1}`;
};

/** @type {Map<string, number>} */
const bySite = new Map();
let total = 0;
/** @param {Node} n @param {string[]} callers */
const walk = (n, callers) => {
  const here = label(n);
  if (n.selfSize > 0) {
    total += n.selfSize;
    const key = [here, ...callers.slice(-2).reverse()].join(' < ');
    bySite.set(key, (bySite.get(key) ?? 0) + n.selfSize);
  }
  for (const c of n.children) walk(c, [...callers, here]);
};
walk(profile.head, []);

const per = (/** @type {number} */ b) => (ops > 1 ? `${(b / ops).toFixed(0)} B/op` : `${b} B`);
console.log(`total ${per(total)}${ops > 1 ? ` over ${ops} operations` : ''}`);
const rows = [...bySite.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(topArg ?? 40));
for (const [k, b] of rows) console.log(`${per(b).padStart(12)}  ${k}`);
