// What every server under test does for the harness: report readiness over IPC, answer `gc`
// with its memory after a full collection, record a CPU or allocation profile of a measurement
// window when asked (`node bench/run.mjs --cpu-prof` / `--alloc-prof`), and exit when told to or when the harness goes away
// (so no server outlives a benchmark run).
import { Session } from 'node:inspector';
import { writeFileSync } from 'node:fs';
import { writeHeapSnapshot } from 'node:v8';

/** @type {Session | undefined} */
let profiler;

/**
 * @param {{ port: number, [k: string]: unknown }} info  sent to the harness as `ready`
 * @param {() => Promise<void> | void} stop
 */
export function serveHarness(info, stop) {
  const send = (/** @type {object} */ m) => process.send?.(m);
  let stopping = false;
  const exit = async () => {
    if (stopping) return;
    stopping = true;
    const t = setTimeout(() => process.exit(0), 2000);
    t.unref();
    try {
      await stop();
    } finally {
      process.exit(0);
    }
  };
  process.on('message', (/** @type {{ type: string }} */ m) => {
    if (m.type === 'gc') {
      const g = /** @type {{ gc?: () => void }} */ (globalThis).gc;
      g?.();
      g?.();
      const mem = process.memoryUsage();
      send({ type: 'gc-done', rss: mem.rss, heapUsed: mem.heapUsed, external: mem.external });
    } else if (m.type === 'profile-start') {
      profiler ??= new Session();
      profiler.connect();
      profiler.post('Profiler.enable', () =>
        profiler?.post('Profiler.start', () => send({ type: 'profile-started' })),
      );
    } else if (m.type === 'profile-stop') {
      const file = /** @type {{ file: string }} */ (/** @type {unknown} */ (m)).file;
      profiler?.post('Profiler.stop', (err, res) => {
        if (!err) writeFileSync(file, JSON.stringify(res.profile));
        profiler?.disconnect();
        send({ type: 'profile-stopped', file });
      });
    } else if (m.type === 'alloc-start') {
      // Sampled allocations, collected objects included (what the collector had to deal with,
      // not only what survived): `node bench/run.mjs --alloc-prof`.
      profiler ??= new Session();
      profiler.connect();
      profiler.post(
        'HeapProfiler.startSampling',
        {
          samplingInterval: 4096,
          includeObjectsCollectedByMinorGC: true,
          includeObjectsCollectedByMajorGC: true,
        },
        () => send({ type: 'alloc-started' }),
      );
    } else if (m.type === 'alloc-stop') {
      const file = /** @type {{ file: string }} */ (/** @type {unknown} */ (m)).file;
      profiler?.post('HeapProfiler.getSamplingProfile', (err, res) => {
        if (!err) writeFileSync(file, JSON.stringify(res.profile));
        profiler?.post('HeapProfiler.stopSampling', () => {
          profiler?.disconnect();
          send({ type: 'alloc-stopped', file });
        });
      });
    } else if (m.type === 'heap-snapshot') {
      const file = /** @type {{ file: string }} */ (/** @type {unknown} */ (m)).file;
      writeHeapSnapshot(file);
      send({ type: 'heap-snapshot-done', file });
    } else if (m.type === 'stop') void exit();
  });
  process.on('disconnect', () => void exit());
  process.on('SIGTERM', () => void exit());
  send({ type: 'ready', ...info });
}
