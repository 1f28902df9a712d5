// Host speed: how fast each of the run's CPUs does a fixed piece of work, both busy at once. A
// guest's vCPUs can run slower for minutes at a time (a noisy neighbour's cache and memory
// traffic) without pausing: the pause probe (pauses.mjs) sees nothing, while every server's
// figures move together (seen here: the bare server's connect cost 88 µs in one run and 146 µs
// in the next, half an hour later). Each run reports these figures before and after its
// scenarios, so a slow host can be told from a slow server when runs are compared.
import { probeEachCpu } from './procs.mjs';

/**
 * @typedef {object} Speed
 * @property {number} rs256VerifyUs  one RS256 verification (2048-bit key), node:crypto, µs
 * @property {number} jsonRoundTripUs  JSON.stringify then JSON.parse of a welcome-sized message, µs
 * @property {number} memoryLoadNs  one dependent load at a random place in 64 MiB (cache misses:
 *   what a neighbour's memory traffic slows, while the two above stay in the cache), ns
 * @property {number} [syscallUs]  one system call that does nothing (`os.getPriority`, i.e.
 *   getpriority(2)), µs: the price of entering the kernel, which a hypervisor can multiply
 *   (a connect is about nine of them, a relayed message two or three), while the figures above stay put
 */

// Batches of each workload, alternating; the median batch is reported, so that a pause inside a
// batch (the pause probe's business) does not count as slowness.
const PROBE = `
const { generateKeyPairSync, sign, verify } = require('node:crypto');
const { getPriority } = require('node:os');
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const input = Buffer.alloc(600, 120);
const signature = sign('sha256', input, privateKey);
const message = {
  type: 'welcome', peerId: 'p'.repeat(22), sessionId: 's'.repeat(22), tenant: 'acme',
  expiresAt: 1767225900000, serverTime: 1767225600000, resumeToken: 'r'.repeat(43),
  iceServers: [{ urls: ['stun:turn.example.com:3478'] }, { urls: ['turn:turn.example.com:3478?transport=udp', 'turns:turn.example.com:5349?transport=tcp'], username: '1767229200:' + 's'.repeat(22), credential: 'c'.repeat(28) }],
  limits: { maxMessageBytes: 65536, maxRoomsPerConnection: 16, maxPeersPerRoom: 100, messagesPerSecond: 100, burst: 200, resumeGraceMs: 15000 },
};
// A random cycle through 16 Mi slots (Sattolo), followed one dependent load at a time.
const ring = new Uint32Array(1 << 24);
for (let i = 0; i < ring.length; i++) ring[i] = i;
let x = 2463534242;
for (let i = ring.length - 1; i > 0; i--) {
  x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
  const j = (x >>> 0) % i;
  const t = ring[i]; ring[i] = ring[j]; ring[j] = t;
}
let at = 0;
const chase = (n) => { const t = performance.now(); for (let i = 0; i < n; i++) at = ring[at]; return ((performance.now() - t) * 1e6) / n; };
const batch = (fn, n) => { const t = performance.now(); for (let i = 0; i < n; i++) fn(); return ((performance.now() - t) * 1000) / n; };
const median = (a) => a.sort((x, y) => x - y)[a.length >> 1];
const rsa = [], json = [], loads = [], calls = [];
let sink = 0;
for (let r = 0; r < 21; r++) {
  rsa.push(batch(() => { sink += verify('sha256', input, publicKey, signature) ? 1 : 0; }, 50));
  json.push(batch(() => { sink += JSON.parse(JSON.stringify(message)).expiresAt; }, 1000));
  loads.push(chase(50000));
  calls.push(batch(() => { sink += getPriority(0); }, 2000));
}
sink += at;
// The first batches warm up the JIT: the median of the last 15.
process.send({ type: 'speed', rs256VerifyUs: +median(rsa.slice(6)).toFixed(2), jsonRoundTripUs: +median(json.slice(6)).toFixed(3), memoryLoadNs: +median(loads.slice(6)).toFixed(1), syscallUs: +median(calls.slice(6)).toFixed(3), sink: sink > 0 }, () => process.exit(0));
`;

/**
 * Runs the probe on every CPU in `cpus` at once.
 *
 * @param {string[]} cpus
 * @param {string} cwd
 * @returns {Promise<Record<string, Speed>>} by CPU
 */
export async function probeSpeed(cpus, cwd) {
  const results = await probeEachCpu('speed probe', PROBE, [], 'speed', {
    cpus,
    cwd,
    timeoutMs: 60_000,
  });
  /** @type {Record<string, Speed>} */
  const out = {};
  for (const [cpu, r] of Object.entries(results))
    out[cpu] = {
      rs256VerifyUs: r.rs256VerifyUs,
      jsonRoundTripUs: r.jsonRoundTripUs,
      memoryLoadNs: r.memoryLoadNs,
      syscallUs: r.syscallUs,
    };
  return out;
}
