#!/usr/bin/env node
// Summarises a .heapsnapshot (node bench/run.mjs --only=memory --heap-snapshot): self size and
// count per constructor, largest first; with a connection count, bytes per connection.
//
//   node bench/tools/heap-summary.mjs FILE.heapsnapshot [CONNECTIONS] [TOP]
import { readFileSync } from 'node:fs';

const [file, connArg, topArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: heap-summary.mjs FILE.heapsnapshot [CONNECTIONS] [TOP]');
  process.exit(2);
}
const snap = JSON.parse(readFileSync(file, 'utf8'));
const f = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const n = f.length;
const iType = f.indexOf('type');
const iName = f.indexOf('name');
const iSize = f.indexOf('self_size');
/** @type {Map<string, { size: number, count: number }>} */
const agg = new Map();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += n) {
  const type = types[snap.nodes[i + iType]];
  const name =
    type === 'object' || type === 'closure' ? snap.strings[snap.nodes[i + iName]] : `(${type})`;
  const size = snap.nodes[i + iSize];
  total += size;
  const a = agg.get(name) ?? { size: 0, count: 0 };
  a.size += size;
  a.count++;
  agg.set(name, a);
}
const conns = Number(connArg ?? 0);
const rows = [...agg.entries()]
  .sort((a, b) => b[1].size - a[1].size)
  .slice(0, Number(topArg ?? 40));
for (const [name, a] of rows)
  console.log(
    `${(a.size / 1024).toFixed(0).padStart(9)} KiB ${String(a.count).padStart(8)}  ${conns ? `${(a.size / conns).toFixed(0).padStart(6)} B/conn ${(a.count / conns).toFixed(2).padStart(6)}/conn  ` : ''}${name.slice(0, 80)}`,
  );
console.log(
  `total ${(total / 2 ** 20).toFixed(1)} MiB${conns ? `, ${(total / conns / 1024).toFixed(2)} KiB/conn` : ''}`,
);
