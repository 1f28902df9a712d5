/**
 * The soak by hand: `npm run soak -- --connections 5000 --minutes 5 [--rooms N]`. Prints progress
 * and the report (JSON), exits 1 if any message was lost or duplicated or a connection closed
 * unexpectedly. Loopback only; bounded by --minutes.
 */
import { parseArgs } from 'node:util';
import { runSoak } from './run-soak.js';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '1000' },
    minutes: { type: 'string', default: '1' },
    rooms: { type: 'string' },
    burst: { type: 'string', default: '2' },
    ttl: { type: 'string', default: '20' },
  },
});
const connections = Number(values.connections);
const minutes = Number(values.minutes);
if (!(connections > 0 && connections <= 15_000) || !(minutes > 0 && minutes <= 120)) {
  console.error(
    'usage: npm run soak -- --connections N (1..15000) --minutes M (0..120] [--rooms R]',
  );
  process.exit(2);
}
const rooms = values.rooms ? Number(values.rooms) : Math.max(1, Math.round(connections / 10));
const started = Date.now();
const report = await runSoak({
  connections,
  rooms,
  durationMs: minutes * 60_000,
  burst: Number(values.burst),
  tokenTtlSeconds: Number(values.ttl),
  log: (line) => console.error(`[${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`),
});
const mb = (b: number) => `${(b / 1048576).toFixed(1)} MiB`;
console.log(JSON.stringify(report, null, 2));
console.error(
  `sent ${report.sent}, delivered ${report.delivered}, lost ${report.lost}, duplicated ${report.duplicated}; ` +
    `server RSS ${mb(report.serverRssStartBytes)} idle, ${mb(report.serverRssConnectedBytes)} connected, ${mb(report.serverRssEndBytes)} at the end; ` +
    `live heap after GC ${mb(report.serverHeapConnectedBytes)} connected, ${mb(report.serverHeapEndBytes)} at the end; ` +
    `event-loop delay p99 ${report.serverEventLoopDelayP99Ms} ms (max ${report.serverEventLoopDelayMaxMs} ms)`,
);
process.exit(report.lost === 0 && report.duplicated === 0 && report.unexpectedCloses === 0 ? 0 : 1);
