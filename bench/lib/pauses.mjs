// Host pauses: how much time a busy process on each of the run's CPUs loses to the machine
// itself. A guest's vCPU can be descheduled by the hypervisor without the guest's /proc/stat
// counting it as steal (seen here: 0% steal reported, while a busy loop on each vCPU lost ~2% of
// its time in gaps of up to 28 ms). Such gaps land on whichever server is being measured and
// decide tail latency (p99 at 20k/s is the 400th-worst of 40,000 messages), so each run reports
// them next to its figures.
import { probeEachCpu } from './procs.mjs';

/** A gap between two clock reads longer than this counts as a pause (the loop itself takes ns). */
const PAUSE_MS = 0.5;

/**
 * @typedef {object} Pauses
 * @property {number} lostMsPerSecond  time in pauses of PAUSE_MS or more, per second of probe
 * @property {number} longestMs        the longest pause
 * @property {number} over1ms          pauses of 1 ms or more
 */

// The probe: a tight loop reading the monotonic clock for `ms`, counting the gaps.
const PROBE = `
const ms = Number(process.argv[1]);
const start = performance.now();
let last = start, lost = 0, longest = 0, over1 = 0;
for (;;) {
  const t = performance.now();
  const gap = t - last;
  last = t;
  if (gap >= ${PAUSE_MS}) {
    lost += gap;
    if (gap > longest) longest = gap;
    if (gap >= 1) over1++;
  }
  if (t - start >= ms) break;
}
const s = (last - start) / 1000;
process.send({ type: 'pauses', lostMsPerSecond: +(lost / s).toFixed(2), longestMs: +longest.toFixed(2), over1ms: over1 }, () => process.exit(0));
`;

/**
 * Runs the probe on every CPU in `cpus` at once (both busy, as during a scenario) for `ms`.
 *
 * @param {string[]} cpus
 * @param {number} ms
 * @param {string} cwd
 * @returns {Promise<Record<string, Pauses>>} by CPU
 */
export async function probePauses(cpus, ms, cwd) {
  const results = await probeEachCpu('pause probe', PROBE, [String(ms)], 'pauses', {
    cpus,
    cwd,
    timeoutMs: ms + 30_000,
  });
  /** @type {Record<string, Pauses>} */
  const out = {};
  for (const [cpu, r] of Object.entries(results))
    out[cpu] = { lostMsPerSecond: r.lostMsPerSecond, longestMs: r.longestMs, over1ms: r.over1ms };
  return out;
}
