#!/usr/bin/env node
// The benchmark harness: Callgate against the PeerJS server, Socket.IO and the seed's Express
// TURN endpoint, on the same scenarios, the same generator and the same machine, in one run.
//
//   node bench/run.mjs [--smoke | --quick] [--servers=callgate,peerjs,socketio,express,ceiling] [--only=relay,fanout]
//                      [--out=DIR] [--cpu-prof | --alloc-prof | --perf] [--heap-snapshot] [--source] [--no-install]
//                      [--connect-warmup=N] [--connect-rewarm=N] [--connect-rounds=N] [--warmup-ms=N]
//                      [--open-rates=N,...] [--open-rounds=N] [--fanout-rounds=N]
//                      [--memory-steps=N,...]
//
// Servers run on CPU 0 and the generator (and this harness) on CPU 1, pinned with taskset;
// traffic stays on loopback. Server CPU is read from /proc/<pid>/stat around each measurement
// window, memory from /proc/<pid>/status after a forced GC. Every server and generator is
// stopped by PID at the end of its scenario, on error too.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { execFileSync, spawn } from 'node:child_process';
import { cpus, totalmem, loadavg, release, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { Child, cpuMicros, cpuSplitMicros, rssBytes, canPin } from './lib/procs.mjs';
import { round } from './lib/stats.mjs';
import { probePauses } from './lib/pauses.mjs';
import { probeSpeed } from './lib/speed.mjs';
import { renderTable, evaluateGoals } from './lib/report.mjs';

const ROOT = new URL('..', import.meta.url).pathname;
const argv = process.argv.slice(2);
const flag = (/** @type {string} */ name) => argv.includes(`--${name}`);
const opt = (/** @type {string} */ name) =>
  argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);

const SMOKE = flag('smoke');
// --quick: the full sizes in one round per scenario (connects, the open loop at 20k/s and fan-out
// run one round per server instead of up to three, three and two): about four and a half minutes
// instead of six, with every ratio decided by one phase of the host.
const QUICK = flag('quick');
if (SMOKE && QUICK) throw new Error('--smoke and --quick: one at a time');
/** Run Callgate from its TypeScript sources (tsx) instead of building it first. */
const FROM_SOURCE = flag('source');
const CPU_PROF = flag('cpu-prof');
// --alloc-prof: a sampled allocation profile of the same windows instead (bench/tools/alloc-summary.mjs).
const ALLOC_PROF = flag('alloc-prof');
// --perf: `perf record -g` of the server over the same windows (native code, the collector and
// the kernel by symbol: `perf report -i FILE`); add BENCH_NODE_ARGS=--perf-basic-prof for the
// names of JavaScript functions.
const PERF = flag('perf');
if ([CPU_PROF, ALLOC_PROF, PERF].filter(Boolean).length > 1)
  throw new Error('--cpu-prof, --alloc-prof and --perf: one at a time');
const SERVER_CPU = '0';
const GEN_CPU = cpus().length > 1 ? '1' : '0';
/** Callgate, or the other build of it in an A/B run (`callgate-base`, see SERVER_DEFS). */
const isCallgate = (/** @type {string} */ name) => name === 'callgate' || name === 'callgate-base';
const servers = (opt('servers') ?? 'callgate,peerjs,socketio,express,ceiling').split(',');
const only = opt('only')?.split(',');
const outDir = opt('out') ?? join(ROOT, 'bench/results');

/** @typedef {Record<string, Record<string, number>>} Rounds */
/** Scenario sizes: the full suite (about six minutes) and the smoke run (seconds). */
const P = SMOKE
  ? {
      connectN: 40,
      memorySteps: [60, 120],
      memoryGenerators: 2,
      relayPairs: 4,
      openPairs: 10,
      openRates: [200, 500],
      fanoutConnections: 100,
      fanoutSizes: [10, 100],
      // Scenario 1's sweeps spread over the run, and a server with fewer rounds than others,
      // as in the full run (bench/smoke.test.ts checks where they fall).
      rounds: /** @type {Rounds} */ ({
        connect: { '*': 2 },
        openloop_500: { '*': 3, ceiling: 1 },
      }),
      // As the full run: more windows per round at the open loop's top rate, and the lower
      // rate measured in each server's middle round (bench/smoke.test.ts checks both).
      windowsPer: /** @type {Rounds} */ ({ openloop_500: { '*': 4 } }),
      connectRewarm: 20,
      warmupMs: 300,
      openWarmupMs: 300,
      rateSettleMs: 200,
      windowMs: 300,
      openWindowMs: 300,
      windows: 3,
      pauseProbeMs: 300,
      httpSeconds: 1,
      httpConnections: 4,
      settleMs: 200,
    }
  : {
      connectN: 5000,
      memorySteps: [10_000, 19_900],
      memoryGenerators: 4,
      relayPairs: 100,
      openPairs: 1000,
      openRates: [5000, 20_000],
      fanoutConnections: 1000,
      fanoutSizes: [10, 100],
      // Rounds per scenario ('*': every server; one where not given), interleaved across the
      // servers (C P S B C P S B ...), each figure the median round or window of them all. A
      // server whose figure in a scenario decides no goal, and is far from any, runs one
      // (a round of scenario 1 costs 3–7 s, of fan-out 7–8, of the open loop 14–18, 18–22 with
      // its lower rate).
      rounds: /** @type {Rounds} */ ({
        // Scenario 1 measures about a second per round, and a host's slow phase lasts minutes:
        // three rounds and the median. Socket.IO's connects have no goal; the bare server's
        // rounds are the generator's ceiling, which the goal's reading needs (and cost 3.5 s).
        // PeerJS's connects have no goal either (one round, as Socket.IO's).
        connect: { '*': 3, socketio: 1, peerjs: 1 },
        // Three rounds of five windows at 20k/s, whose p99 has a goal and is the figure a
        // host's pauses move most (fifteen windows per server). With nine windows, on a host
        // losing up to 97 ms a second, the median window of Callgate and of PeerJS were both
        // lightly disturbed ones, and which came out lower was the host's draw (BENCHMARKS.md,
        // "Open loop in the fourteenth session"). Until the sixteenth session these were five
        // rounds of three windows: the same windows, with two rounds' start-up, connects and
        // warm-up (about 5.5 s each) fewer per server. Socket.IO's p99 is 10–50 times Callgate's
        // against a goal of two: one round; the bare server, the generator's floor (no goal), one.
        openloop_20000: { '*': 3, socketio: 1, ceiling: 1 },
        // Two rounds of rooms of 100 and the median of their six windows: a server's fan-out
        // rate held steady within a round but moved by up to 2x between rounds minutes apart
        // (Callgate's rooms of 10 at 93–108k/s in one, 151–185k/s in the next four;
        // BENCHMARKS.md, "Fan-out rounds"), so one round per server let one host phase decide
        // the ratio to Socket.IO. PeerJS (no rooms; no goal) and rooms of 10 (no goal): one.
        fanout_100: { '*': 2, peerjs: 1 },
      }),
      connectRewarm: 3000,
      warmupMs: 1500,
      // The open loop's p99 needs the server's optimizing compiler done: its background jobs
      // share the pinned core with the event loop and took 10–55 ms each there, and Callgate,
      // with more code on its message path, still re-optimized hot functions 1.5 s into the
      // load (its first window of each round measured ~0.2 ms above its others; from 3.5 s on,
      // no longer). Throughput scenarios report the median of three windows and keep a 1.5 s warm-up.
      openWarmupMs: 3500,
      // The open loop's lower rates are measured in the same server process as its top rate,
      // after its windows (each server's middle round): the server's heap is collected in full,
      // as before any load, and the lower rate runs two seconds before the first window (10,000
      // messages at 5k/s, for what the collection made V8 throw away to be optimised again).
      rateSettleMs: 2000,
      // Three windows of 1.5 s in the throughput scenarios (40,000 messages or more each, the
      // slowest server's on the slowest host seen), of 2 s in the open loop (40,000 at 20k/s, a
      // p99 from its 400 slowest); five per round at the open loop's top rate.
      windowMs: 1500,
      openWindowMs: 2000,
      windows: 3,
      // Socket.IO three (its p99 is far from the goal's bound).
      windowsPer: /** @type {Rounds} */ ({ openloop_20000: { '*': 5, socketio: 3 } }),
      pauseProbeMs: 3000,
      // Five seconds of requests after a second's warm-up: the TURN goal's ratio has been 2.2–3x
      // against 1.5 in every run.
      httpSeconds: 5,
      httpConnections: 32,
      settleMs: 2000,
    };

// --memory-steps=2000,4000 overrides the idle-memory steps (e.g. for a quick heap snapshot).
const memorySteps = opt('memory-steps');
if (memorySteps) P.memorySteps = memorySteps.split(',').map(Number);
/**
 * A whole-number option, or undefined when it is not given.
 *
 * @param {string} name
 * @param {number} min
 */
function wholeOpt(name, min) {
  const raw = opt(name);
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!(Number.isInteger(n) && n >= min))
    throw new Error(`--${name} wants a whole number >= ${min}, got ${raw}`);
  return n;
}
// --connect-warmup=200 sets the warm-up round of scenario (1) (default: as many as measured).
const connectWarmup = wholeOpt('connect-warmup', 0);
// --connect-rewarm=N: connects after the collection that follows the warm-up, kept open through
// the measured round (scenarioConnect); 0 measures straight after the collection.
const connectRewarm = wholeOpt('connect-rewarm', 0);
if (QUICK) P.rounds = {};
// Rounds for every server, overriding P.rounds: --connect-rounds=N (scenario 1; the median round
// is reported), --open-rounds=N (scenario 4 at its top rate; a lower rate is measured once, in a
// server's middle round) and --fanout-rounds=N (scenario 5 at every room size; the median window
// of all is reported).
/** @type {Record<string, number | undefined>} */
const roundsGiven = {
  connect: wholeOpt('connect-rounds', 1),
  openloop: wholeOpt('open-rounds', 1),
  fanout: wholeOpt('fanout-rounds', 1),
};
/**
 * Interleaved rounds of a scenario (`openloop_20000`, `fanout_100`, ...) for a server.
 *
 * @param {string} scenario
 * @param {string} server
 */
function roundsOf(scenario, server) {
  const given = roundsGiven[scenario.replace(/_.*$/, '')];
  if (given !== undefined) return given;
  return perServer(P.rounds, scenario, server) ?? 1;
}

/**
 * A scenario's figure for a server from a table such as `P.rounds` ('*': every server), or
 * undefined. `callgate-base`, the other build in an A/B run, has Callgate's.
 *
 * @param {Rounds} table
 * @param {string} scenario
 * @param {string} server
 */
function perServer(table, scenario, server) {
  const r = table[scenario];
  return r?.[isCallgate(server) ? 'callgate' : server] ?? r?.['*'];
}
// --warmup-ms=N: the load before the first measured window of scenarios 3-5 (open loop too).
const warmupMs = wholeOpt('warmup-ms', 0);
if (warmupMs !== undefined) {
  P.warmupMs = warmupMs;
  P.openWarmupMs = warmupMs;
}
// --open-rates=20000 runs the open loop at these rates only.
const openRates = opt('open-rates');
if (openRates) P.openRates = openRates.split(',').map(Number);

/** @type {Record<string, { script: string, nodeArgs: string[], env?: Record<string, string> }>} */
const SERVER_DEFS = {
  callgate: {
    script: 'bench/servers/callgate.mjs',
    nodeArgs: ['--expose-gc', '--conditions=source', '--import', 'tsx'],
  },
  'callgate-dist': {
    script: 'bench/servers/callgate.mjs',
    nodeArgs: ['--expose-gc'],
    env: { CALLGATE_BUILD: 'dist' },
  },
  peerjs: { script: 'bench/servers/peerjs.mjs', nodeArgs: ['--expose-gc'] },
  // A bare server (servers/ceiling.mjs) in scenarios (1) and (4): the generator's ceiling in
  // connects/s and its latency floor in the open loop.
  ceiling: { script: 'bench/servers/ceiling.mjs', nodeArgs: ['--expose-gc'] },
  socketio: { script: 'bench/servers/socketio.mjs', nodeArgs: ['--expose-gc'] },
  // Another build of Callgate, for an A/B run interleaved with this one: BENCH_BASE is the root
  // of a second checkout, built (`npm run build`) with its dependencies installed, e.g.
  //   BENCH_BASE=/tmp/base node bench/run.mjs --servers=callgate,callgate-base --only=connect
  // Its figures are in the JSON only (the report's tables and goals are about `callgate`).
  // BENCH_BASE_NODE_ARGS: node flags for `callgate-base` alone; with BENCH_BASE naming this
  // checkout, an A/B of runtime flags on the same build.
  ...(process.env.BENCH_BASE
    ? {
        // Run by this checkout's bench server (servers/callgate.mjs), so that it opens the run's
        // data directory as `callgate` does whatever the base's own bench script did. The base
        // must be new enough for that script: the same module paths and `createCallgate` API,
        // and every configuration key it sets (loadConfig refuses unknown keys, so an older
        // base fails at start, not quietly).
        'callgate-base': {
          script: 'bench/servers/callgate.mjs',
          nodeArgs: [
            '--expose-gc',
            ...(process.env.BENCH_BASE_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
          ],
          env: { CALLGATE_SERVER_DIR: resolve(process.env.BENCH_BASE, 'packages/server/dist') },
        },
      }
    : {}),
  express: {
    script: 'bench/servers/express-turn.cjs',
    nodeArgs: [],
    env: { TURN_SECRET: randomBytes(32).toString('base64') },
  },
};

// Source addresses: connections are spread over 127.0.0.x, a new block for every run, so that
// ports in TIME_WAIT from an earlier run never collide with a later run's binds.
let nextAddress = 10;
/** @param {number} connections */
function addressesFor(connections) {
  // Callgate allows 1000 live connections per client address by default (signal.maxConnectionsPerIp).
  const perAddress = 900;
  const n = Math.max(1, Math.ceil(connections / perAddress));
  if (nextAddress + n > 254) nextAddress = 10;
  const list = Array.from({ length: n }, (_, i) => `127.0.0.${nextAddress + i}`);
  nextAddress += n;
  return { addresses: list, perAddress };
}

const sleep = (/** @type {number} */ ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Callgate's data directory for this run, one per build: every start of a server reopens it, as
 * a restarted server in service reopens its own, so its signing keys (and the tokens minted
 * under them, see tokensFor) outlive a process. Removed when the harness exits, however it
 * exits (the signal handlers in lib/procs.mjs exit through `process.exit`): it holds private
 * signing keys.
 *
 * @type {Map<string, string>}
 */
const dataDirs = new Map();
/** @param {string} name */
function dataDirOf(name) {
  let dir = dataDirs.get(name);
  if (!dir) dataDirs.set(name, (dir = mkdtempSync(join(tmpdir(), `${name}-bench-`))));
  return dir;
}
process.on('exit', () => {
  for (const dir of dataDirs.values()) rmSync(dir, { recursive: true, force: true });
});

/**
 * Starts a server under test on the server core and waits until it listens.
 *
 * @param {string} name
 */
async function startServer(name) {
  const def = SERVER_DEFS[name === 'callgate' && callgateBuild === 'dist' ? 'callgate-dist' : name];
  if (!def) throw new Error(`unknown server ${name}`);
  // BENCH_NODE_ARGS: extra node flags for the server under test (e.g. --trace-gc), for diagnosis.
  const extra = process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? [];
  const child = new Child(`${name} server`, [...def.nodeArgs, ...extra, def.script], {
    cpu: SERVER_CPU,
    cwd: ROOT,
    env: { ...def.env, ...(isCallgate(name) ? { BENCH_DATA_DIR: dataDirOf(name) } : {}) },
  });
  try {
    const ready = await child.next('ready', 60_000);
    // Tokens are minted by one Callgate process and presented to the next (tokensFor): a
    // server that did not reopen the run's data directory has other keys and would refuse them.
    if (isCallgate(name) && ready.dataDir !== dataDirOf(name))
      throw new Error(
        `${name} reports data directory ${JSON.stringify(ready.dataDir)}, not the run's ${dataDirOf(name)} (BENCH_DATA_DIR)`,
      );
    return {
      name,
      child,
      pid: child.pid,
      port: /** @type {number} */ (ready.port),
      apiKey: /** @type {string | undefined} */ (ready.apiKey),
    };
  } catch (err) {
    await child.stop();
    throw err;
  }
}

/** @typedef {Awaited<ReturnType<typeof startServer>>} Server */

/**
 * With --cpu-prof: records a CPU profile of the server over `fn` only (the measured window, not
 * start-up or token minting) into <out>/profiles/<label>.cpuprofile for Callgate and
 * <label>-<server>.cpuprofile for a peer; with --alloc-prof, a sampled allocation profile of the
 * same window (.heapprofile).
 *
 * @template T
 * @param {Server} s
 * @param {string} label
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function profiled(s, label, fn) {
  if (PERF) return perfRecorded(s, label, fn);
  if (!CPU_PROF && !ALLOC_PROF) return fn();
  const [kind, ext] = CPU_PROF ? ['profile', 'cpuprofile'] : ['alloc', 'heapprofile'];
  const file = profileFile(s, label, ext);
  await s.child.request({ type: `${kind}-start` }, `${kind}-started`);
  try {
    return await fn();
  } finally {
    await s.child.request({ type: `${kind}-stop`, file }, `${kind}-stopped`, 60_000);
    console.error(`profile: ${file}`);
  }
}

/** Profiles written so far per file name: a scenario run in rounds gets one file per round. */
const profileFiles = new Map();

/**
 * Where a profile of one measured window goes: `profiles/<label>[-<server>][-<round>].<ext>`
 * (no server part for Callgate, no round part for the first round).
 *
 * @param {Server} s
 * @param {string} label
 * @param {string} ext
 */
function profileFile(s, label, ext) {
  mkdirSync(join(outDir, 'profiles'), { recursive: true });
  const base = s.name === 'callgate' ? label : `${label}-${s.name}`;
  const nth = (profileFiles.get(`${base}.${ext}`) ?? 0) + 1;
  profileFiles.set(`${base}.${ext}`, nth);
  return join(outDir, 'profiles', `${base}${nth > 1 ? `-${nth}` : ''}.${ext}`);
}

/**
 * `fn` with `perf record` attached to the server for its duration (--perf).
 *
 * @template T
 * @param {Server} s
 * @param {string} label
 * @param {() => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function perfRecorded(s, label, fn) {
  const file = profileFile(s, label, 'perf.data');
  const perf = spawn('perf', ['record', '-F', '4000', '-g', '-p', String(s.pid), '-o', file], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  perf.stderr.on('data', (d) => (err += d));
  /** @type {Error | undefined} */
  let spawnError;
  perf.once('error', (e) => (spawnError = e));
  const exited = new Promise((resolve) => perf.once('close', resolve));
  await sleep(300); // perf attaches to every thread before the window starts
  if (spawnError)
    throw new Error(`perf record failed: ${spawnError.message} (apt-get install -y linux-perf)`);
  if (perf.exitCode !== null || perf.signalCode !== null)
    throw new Error(`perf record failed: ${err.trim()}`);
  try {
    return await fn();
  } finally {
    perf.kill('SIGINT');
    // perf writes out its buffers after SIGINT; a perf that hangs is killed, not waited for.
    const killer = setTimeout(() => perf.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(killer);
    // perf ends itself with the SIGINT it was sent once its file is written.
    if (perf.exitCode === 0 || perf.signalCode === 'SIGINT') console.error(`perf: ${file}`);
    else console.error(`perf record ended with ${perf.exitCode ?? perf.signalCode}: ${err.trim()}`);
  }
}

/**
 * The generator's young generation, fixed (MB per semi-space). Left to V8, its size follows what
 * survived the generator's setup: Callgate's job message carries an access token per
 * connection, which grew it to 16 MB, while for the peers it stayed at 8 MB. A scavenge of the
 * larger one stopped the generator for up to twice as long (1.5–2.8 ms against 1.0–1.5), and
 * every message in flight meanwhile took that into its latency: Callgate's open-loop tail was
 * measured with a slower instrument than the peers'. Fixed, the generator collects garbage
 * alike whichever server it drives (BENCHMARKS.md, "Open loop").
 */
const GEN_SEMI_SPACE_MB = 8;

/** @param {{ server?: string } & Record<string, unknown>} job */
async function startGenerator(job) {
  // BENCH_GEN_ARGS: extra node flags for the generators (e.g. --trace-gc), for diagnosis.
  const extra = process.env.BENCH_GEN_ARGS?.split(' ').filter(Boolean) ?? [];
  const flags = [
    `--min-semi-space-size=${GEN_SEMI_SPACE_MB}`,
    `--max-semi-space-size=${GEN_SEMI_SPACE_MB}`,
    // Once its connections are open, the generator drops what only the setup needed (Callgate's
    // tokens) and collects its heap in full (generator.mjs, `settle`), so that no generator's
    // mark-compact falls in a measured window.
    '--expose-gc',
    ...extra,
  ];
  const g = new Child('generator', [...flags, 'bench/generator.mjs'], { cpu: GEN_CPU, cwd: ROOT });
  try {
    return await assignJob(g, job);
  } catch (err) {
    await g.stop();
    throw err;
  }
}

/**
 * Gives a running generator its (next) job and waits until it is ready. A connect generator
 * takes one job after another, keeping the connections of each `keep` job open.
 *
 * @param {Child} g
 * @param {{ server?: string } & Record<string, unknown>} job
 */
async function assignJob(g, job) {
  // The generator speaks a server's protocol by name: the other build of Callgate speaks
  // Callgate's.
  const server = job.server !== undefined && isCallgate(job.server) ? 'callgate' : job.server;
  await g.request(
    { type: 'job', job: { maxLifetimeMs: 300_000, ...job, server } },
    'ready',
    120_000,
  );
  return g;
}

/**
 * A full collection in the server (two, with --expose-gc; servers/common.mjs). Also what settles
 * a server between its setup and its measurement.
 */
function collectServer(/** @type {Server} */ s) {
  return s.child.request({ type: 'gc' }, 'gc-done', 30_000);
}

/** Server memory after a forced full GC, from /proc (RSS) and the process (heap). */
async function serverMemory(/** @type {Server} */ s) {
  const m = await collectServer(s);
  await sleep(100);
  return { rss: rssBytes(s.pid), heapUsed: /** @type {number} */ (m.heapUsed) };
}

/**
 * Tokens minted for a scenario's rounds, by server and use (`connect`, `pairs`, ...), with the
 * earliest expiry among them.
 *
 * @type {Map<string, { tokens: string[], expires: number }>}
 */
const minted = new Map();
/**
 * Reused while they have this long left. Callgate tells a connection its token is expiring a
 * minute before `exp` (`token_expiring`, signal.tokenExpiringLeadSeconds), which the generator
 * takes for an error; a step holds its tokens for 25 s at most (the open loop's middle round):
 * two minutes leave a margin.
 */
const TOKEN_MARGIN_MS = 120_000;

/**
 * `n` Callgate access tokens for `use` (undefined for a peer), minted by a Callgate process of
 * their own before the measured one starts, and reused by later rounds while they last. So no
 * measured process mints: minting costs the server about 0.5 ms of CPU per token (13,000 for a
 * round of scenario 1, six seconds), and its garbage would be the first round's alone. The
 * processes share the run's data directory (dataDirOf), so the measured one has the keys, and
 * every connect still verifies its token in full: a new process starts with an empty
 * verified-token cache.
 *
 * @param {string} name
 * @param {string} use
 * @param {number} n
 * @param {(i: number) => Record<string, string[]>} rooms the same for every call with `use`
 */
async function tokensFor(name, use, n, rooms) {
  if (!isCallgate(name)) return undefined;
  const key = `${name} ${use} ${n}`;
  const had = minted.get(key);
  if (had && had.expires - Date.now() >= TOKEN_MARGIN_MS) return had.tokens;
  const tokens = await withServer(name, (s) => mintTokens(s, n, rooms));
  const expires = Math.min(...tokens.map((t, i) => expiryOf(t, `${use} token ${i}`)));
  minted.set(key, { tokens, expires });
  return tokens;
}

/**
 * A token's expiry (ms since the epoch), from its `exp` claim.
 *
 * @param {string} token
 * @param {string} what names the token in an error
 */
function expiryOf(token, what) {
  /** @type {{ exp?: unknown }} */
  let claims;
  try {
    claims = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
  } catch (err) {
    throw new Error(`${what}: not a JWT with a JSON payload (${errorText(err)})`);
  }
  if (typeof claims.exp !== 'number') throw new Error(`${what} has no exp`);
  return claims.exp * 1000;
}

/**
 * Mints `n` Callgate access tokens through `POST /v1/tokens` (16 requests in flight).
 *
 * @param {Server} s
 * @param {number} n
 * @param {(i: number) => Record<string, string[]>} rooms
 */
async function mintTokens(s, n, rooms) {
  /** @type {string[]} */
  const out = new Array(n);
  let next = 0;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const res = await fetch(`http://127.0.0.1:${s.port}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sub: `user-${i}`, rooms: rooms(i) }),
      });
      if (res.status !== 201) throw new Error(`mint failed: ${res.status} ${await res.text()}`);
      out[i] = /** @type {{ token: string }} */ (await res.json()).token;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  return out;
}

/**
 * Runs `fn` with a fresh server, stopping it (and anything `fn` registered) by PID afterwards.
 *
 * @template T
 * @param {string} name
 * @param {(s: Server, own: (c: Child) => Child) => Promise<T>} fn
 * @returns {Promise<T>}
 */
async function withServer(name, fn) {
  const s = await startServer(name);
  /** @type {Child[]} */
  const children = [];
  try {
    return await fn(s, (c) => {
      children.push(c);
      return c;
    });
  } finally {
    // The server first: its side closes first, so no client port is left in TIME_WAIT.
    await s.child.stop(3000);
    await Promise.all(children.map((c) => c.stop()));
  }
}

/**
 * Load on, warm up, then the measurement windows (measureWindows): server CPU from /proc around
 * each, counts and latency from the generator.
 *
 * @param {Server} s
 * @param {Child} g
 */
async function measureWindow(
  s,
  g,
  /** @type {string} */ label,
  /** @type {'throughput' | 'latency'} */ by = 'throughput',
) {
  // Every server collects its heap in full before the load, as the generator does (settle in
  // generator.mjs): what a server's setup left in its old generation is not steady-state work,
  // and its mark-compact fell in the first measured window. Callgate's setup is the heaviest
  // (an RS256 handshake per connection; until the fifteenth session an HTTP token mint per
  // connection in the same process too): at 20k/s its first window of
  // each round had an 11–16 ms stall (an incremental-marking step and the finalize) that the
  // peers' did not, while at steady load its old generation does not grow at all.
  await collectServer(s);
  await g.request({ type: 'load' }, 'loading');
  await sleep(by === 'latency' ? P.openWarmupMs : P.warmupMs);
  return measureWindows(s, g, label, by);
}

/**
 * The measurement windows of a loaded server, back to back (`P.windows`, or as many as
 * `P.windowsPer` gives the scenario); the median one (by throughput, or by p99 for the open
 * loop) is reported, so one stall caused by another process or by the host (see pauses.mjs) does
 * not decide a figure. Every window is kept in the JSON.
 *
 * @param {Server} s
 * @param {Child} g
 * @param {string} label the scenario
 * @param {'throughput' | 'latency'} by
 */
async function measureWindows(s, g, label, by) {
  const count = perServer(P.windowsPer, label, s.name) ?? P.windows;
  const ms = by === 'latency' ? P.openWindowMs : P.windowMs;
  const windows = await profiled(s, label, async () => {
    const out = [];
    for (let i = 0; i < count; i++) out.push(await measureNow(s, g, ms));
    return out;
  });
  return { ...medianWindow(windows, by), windows };
}

/** @typedef {Awaited<ReturnType<typeof measureNow>>} Window */

/**
 * The median of `windows` by throughput, or by p99 for a latency scenario.
 *
 * @param {Window[]} windows
 * @param {'throughput' | 'latency'} by
 * @returns {Window}
 */
function medianWindow(windows, by) {
  const key = (/** @type {Window} */ w) => (by === 'latency' ? w.latencyMs.p99 : w.perSecond);
  const sorted = [...windows].sort((a, b) => key(a) - key(b));
  return /** @type {Window} */ (sorted[Math.floor(sorted.length / 2)]);
}

/**
 * Another round of a windowed scenario (the open loop, fan-out) for the same server: the
 * windows of every round together, and their median (by p99 or by throughput).
 *
 * @param {any} before the result so far
 * @param {any} next this round's
 * @param {'throughput' | 'latency'} by
 */
function mergeRounds(before, next, by) {
  const windows = [...before.windows, ...next.windows];
  return {
    ...next,
    ...medianWindow(windows, by),
    windows,
    rounds: (before.rounds ?? 1) + 1,
  };
}

/**
 * Another round of scenario (1) for the same server: the round with the median connects/s
 * is reported, and every round is kept (`roundResults`).
 *
 * @param {any} before the result so far
 * @param {any} next this round's
 */
function mergeConnectRounds(before, next) {
  const all = [...(before.roundResults ?? [before]), next];
  const sorted = [...all].sort((a, b) => a.connectsPerSecond - b.connectsPerSecond);
  const median = sorted[Math.floor((sorted.length - 1) / 2)];
  return { ...median, rounds: all.length, roundResults: all };
}

/**
 * @param {Server} s
 * @param {Child} g
 * @param {number} ms
 */
async function measureNow(s, g, ms) {
  const mark = await g.request({ type: 'measure-start' }, 'marked');
  const cpu0 = cpuMicros(s.pid);
  const g0 = cpuMicros(g.pid);
  const t0 = performance.now();
  await sleep(ms);
  const cpu1 = cpuMicros(s.pid);
  const g1 = cpuMicros(g.pid);
  const t1 = performance.now();
  const m = await g.request({ type: 'measure-stop' }, 'measured');
  const seconds = (m.at - mark.at) / 1000;
  const r = m.result;
  return {
    seconds: round(seconds),
    received: r.received,
    acks: r.acks,
    perSecond: round(r.received / seconds, 0),
    serverCpuUtil: round((cpu1 - cpu0) / ((t1 - t0) * 1000), 3),
    generatorCpuUtil: round((g1 - g0) / ((t1 - t0) * 1000), 3),
    serverUsPerMessage: r.received > 0 ? round((cpu1 - cpu0) / r.received, 2) : null,
    latencyMs: r.latency,
    ...(r.path ? { pathMs: r.path, sendLatenessMs: r.lateness } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/** (1) N authenticated connects, 64 handshakes in flight: connects/s and server CPU per connect. */
async function scenarioConnect(/** @type {string} */ name) {
  const n = P.connectN;
  const warm = connectWarmup ?? n;
  const rewarm = connectRewarm ?? P.connectRewarm;
  // Every connect presents a token of its own (no verified-token cache hit): the measured
  // round's first, then the warm-up's, then the re-warm's.
  const tokens = await tokensFor(name, 'connect', n + warm + rewarm, () => ({ lobby: ['join'] }));
  return withServer(name, async (s, own) => {
    /**
     * A connect job for this server: `count` connects numbered from `first` (unique across the
     * generators, and the place of their tokens), on a fresh block of source addresses.
     *
     * @param {number} first
     * @param {number} count
     * @param {{ concurrency: number, keep?: boolean }} o
     */
    const connectJob = (first, count, o) => ({
      kind: 'connect',
      server: name,
      host: '127.0.0.1',
      port: s.port,
      count,
      ...o,
      indexBase: first,
      ...addressesFor(count),
      ...(tokens ? { tokens: tokens.slice(first, first + count) } : {}),
    });
    // A warm-up round of connects, closed again before the measured round. It is as large as
    // the measured round: V8 keeps optimising (on its own threads, which count as server CPU)
    // for thousands of connects, and with the 200 warm-up connects of earlier rounds the
    // measured window held that compiling too (BENCHMARKS.md, "Connects").
    const w = own(await startGenerator(connectJob(n, warm, { concurrency: 32 })));
    await w.request({ type: 'run' }, 'done', 120_000);
    await w.stop();
    // The setup's garbage (every server's warm-up connections) is
    // collected before the measured round, as before the other scenarios' load (measureWindow);
    // what the measured connects themselves leave is still collected within it.
    await collectServer(s);
    await sleep(200);
    // That full collection finds dead what the setup and the warm-up left (every warm-up
    // connection; until the fifteenth session the token mints' HTTP requests too), among them the last objects of shapes the optimised
    // code had seen; V8 throws such code away ("weak objects": 90 functions for Callgate, the
    // connect path's among them), and without more the measured round ran its first thousands
    // of connects in unoptimised code and recompiled it (9% of its CPU in the compiler, by
    // `--perf`). A server in service keeps its connections and its code through a collection.
    // So a re-warm round follows (`--connect-rewarm`, 3,000 connects, its own tokens), whose
    // connections stay open through the measured round, as a server in service has some open:
    // none of it is garbage in the window. Paired runs, every server alike: Callgate 204–214 µs
    // per connect with it, 244–300 without; PeerJS 122–126 against 160–180.
    const measured = connectJob(0, n, { concurrency: 64, keep: true });
    /** @type {Child} */
    let g;
    /** What the re-warm opened (and left open), and what it could not. */
    const rewarmed = { connected: 0, failed: 0 };
    if (rewarm > 0) {
      g = own(await startGenerator(connectJob(n + warm, rewarm, { concurrency: 32, keep: true })));
      const { result: r } = await g.request({ type: 'run' }, 'done', 120_000);
      rewarmed.connected = r.connected;
      rewarmed.failed = r.failed;
      await sleep(200);
      // The measured connects come from the same generator, its connect path optimised by the
      // re-warm too: a fresh process compiled it inside the measured window, and against the
      // bare server it cost 174–194 µs per connect (a ceiling of 4,063–5,259/s in the 01:21,
      // 01:33 and 01:45 runs) where a warm one costs 108–112 (7,830–8,438/s).
      await assignJob(g, measured);
    } else g = own(await startGenerator(measured));
    const { server, generator, ms, result } = await profiled(s, 'connect', async () => {
      const s0 = cpuSplitMicros(s.pid);
      const g0 = cpuSplitMicros(g.pid);
      const t0 = performance.now();
      const { result } = await g.request({ type: 'run' }, 'done', 120_000);
      const spent = (/** @type {number} */ pid, /** @type {typeof s0} */ before) => {
        const after = cpuSplitMicros(pid);
        return {
          total: after.user + after.system - before.user - before.system,
          system: after.system - before.system,
          faults: after.minorFaults - before.minorFaults,
        };
      };
      return {
        server: spent(s.pid, s0),
        generator: spent(g.pid, g0),
        ms: performance.now() - t0,
        result,
      };
    });
    const perConnection = (/** @type {number} */ micros) =>
      round(micros / Math.max(1, result.connected), 1);
    return {
      connections: result.connected,
      // Connections the re-warm left open through the measured round.
      openBefore: rewarmed.connected,
      ...(rewarmed.failed > 0 ? { rewarmFailed: rewarmed.failed } : {}),
      failed: result.failed,
      retried: result.retried,
      ...(result.firstError ? { firstError: result.firstError } : {}),
      connectsPerSecond: round(result.connected / (result.ms / 1000), 0),
      serverUsPerConnection: perConnection(server.total),
      // Of which in the kernel (accept, the loopback TCP path of every write): the part a
      // server's own code does not decide.
      serverSystemUsPerConnection: perConnection(server.system),
      // Page faults are one of the kernel's dearer entries on a virtualized host.
      serverPageFaultsPerConnection: perConnection(server.faults),
      serverCpuUtil: round(server.total / (result.ms * 1000), 3),
      generatorCpuUtil: round(generator.total / (ms * 1000), 3),
      generatorUsPerConnection: perConnection(generator.total),
      generatorSystemUsPerConnection: perConnection(generator.system),
      generatorPageFaultsPerConnection: perConnection(generator.faults),
      connectLatencyMs: result.latency,
    };
  });
}

/** (2) Idle memory per connection at each step (RSS after a forced GC, minus the baseline). */
async function scenarioMemory(/** @type {string} */ name) {
  const top = /** @type {number} */ (P.memorySteps.at(-1));
  const perUser = 10; // Callgate's default connections per user: one token serves ten.
  const userTokens = await tokensFor(name, 'lobby', Math.ceil(top / perUser), () => ({
    lobby: ['join'],
  }));
  return withServer(name, async (s, own) => {
    const base = await serverMemory(s);
    const { addresses, perAddress } = addressesFor(top);
    let have = 0;
    const steps = [];
    for (const step of P.memorySteps) {
      const add = step - have;
      const gens = P.memoryGenerators;
      const per = Math.ceil(add / gens);
      const t0 = performance.now();
      let retried = 0;
      await Promise.all(
        Array.from({ length: gens }, async (_, k) => {
          const from = have + k * per;
          const count = Math.min(per, step - from);
          if (count <= 0) return;
          const tokens = userTokens
            ? Array.from(
                { length: count },
                (_, i) => /** @type {string} */ (userTokens[Math.floor((from + i) / perUser)]),
              )
            : undefined;
          // Each generator's slice keeps its own place in the address spread.
          const g = own(
            await startGenerator({
              kind: 'connect',
              server: name,
              host: '127.0.0.1',
              port: s.port,
              count,
              concurrency: 32,
              keep: true,
              indexBase: from,
              addresses,
              addressBase: from,
              perAddress,
              ...(tokens ? { tokens } : {}),
            }),
          );
          const { result } = await g.request({ type: 'run' }, 'done', 180_000);
          if (result.failed > 0)
            throw new Error(`${result.failed} connects failed: ${result.firstError}`);
          retried += result.retried;
        }),
      );
      const connectMs = performance.now() - t0;
      have = step;
      await sleep(P.settleMs);
      const mem = await serverMemory(s);
      if (flag('heap-snapshot') && name === 'callgate') {
        mkdirSync(join(outDir, 'profiles'), { recursive: true });
        const file = join(outDir, 'profiles', `memory-${step}.heapsnapshot`);
        await s.child.request({ type: 'heap-snapshot', file }, 'heap-snapshot-done', 120_000);
        console.error(`heap snapshot: ${file}`);
      }
      steps.push({
        connections: step,
        connectSeconds: round(connectMs / 1000, 1),
        retriedConnects: retried,
        rssMiB: round(mem.rss / 2 ** 20, 1),
        kibPerConnection: round((mem.rss - base.rss) / 1024 / step, 2),
        heapKibPerConnection: round((mem.heapUsed - base.heapUsed) / 1024 / step, 2),
      });
    }
    return { baselineRssMiB: round(base.rss / 2 ** 20, 1), steps };
  });
}

/** Tokens for pair rooms: connection i is in room p<floor(i/2)> with `join` and `send`. */
const pairRooms = (/** @type {number} */ i) => ({ [`p${i >> 1}`]: ['join', 'send'] });

/**
 * (3) Direct-message relay, closed loop: `window` messages in flight per client (1 for the
 * goal; 4 is a trickle-ICE-like burst, where several messages for one peer meet in one turn).
 */
async function scenarioRelay(/** @type {string} */ name, window = 1) {
  const pairs = P.relayPairs;
  const tokens = await tokensFor(name, 'pairs', pairs * 2, pairRooms);
  return withServer(name, async (s, own) => {
    const g = own(
      await startGenerator({
        kind: 'relay',
        server: name,
        host: '127.0.0.1',
        port: s.port,
        pairs,
        window,
        indexBase: 0,
        ...addressesFor(pairs * 2),
        ...(tokens ? { tokens } : {}),
      }),
    );
    return {
      pairs,
      window,
      ...(await measureWindow(s, g, window === 1 ? 'relay' : `relay_w${window}`)),
    };
  });
}

/**
 * (4) Open loop at a fixed rate over 2,000 connections: latency percentiles, by scenario
 * (`openloop_<rate>`). With `lower` rates, the same server and connections are measured at each
 * of them after `rate`'s windows: a process started, connected and warmed up once for all of them.
 *
 * @param {string} name
 * @param {number} rate
 * @param {number[]} [lower]
 * @returns {Promise<Record<string, any>>}
 */
async function scenarioOpenLoop(name, rate, lower = []) {
  const pairs = P.openPairs;
  const tokens = await tokensFor(name, 'pairs', pairs * 2, pairRooms);
  return withServer(name, async (s, own) => {
    const g = own(
      await startGenerator({
        kind: 'openloop',
        server: name,
        host: '127.0.0.1',
        port: s.port,
        pairs,
        rate,
        indexBase: 0,
        ...addressesFor(pairs * 2),
        ...(tokens ? { tokens } : {}),
      }),
    );
    const figures = (/** @type {number} */ r, /** @type {object} */ windows) => ({
      rate: r,
      connections: pairs * 2,
      ...windows,
    });
    /** @type {Record<string, any>} */
    const out = {
      [`openloop_${rate}`]: figures(rate, await measureWindow(s, g, `openloop_${rate}`, 'latency')),
    };
    for (const r of lower) {
      // A lower rate that fails costs its own figure only: the top rate's windows are kept, and
      // the error is recorded under the lower rate's scenario (the plan loop).
      try {
        // What the top rate left in the server's old generation is collected first, as before
        // any load (measureWindow); the second at the new rate re-optimises what it threw away.
        await collectServer(s);
        await g.request({ type: 'load', rate: r }, 'loading');
        await sleep(P.rateSettleMs);
        out[`openloop_${r}`] = figures(r, await measureWindows(s, g, `openloop_${r}`, 'latency'));
      } catch (err) {
        out[`openloop_${r}`] = err instanceof Error ? err : new Error(String(err));
      }
    }
    return out;
  });
}

/** (5) Room fan-out, closed loop, four publishes in flight per room. */
async function scenarioFanout(/** @type {string} */ name, /** @type {number} */ size) {
  const rooms = Math.max(1, Math.floor(P.fanoutConnections / size));
  const n = rooms * size;
  const tokens = await tokensFor(name, `rooms of ${size}`, n, (i) => ({
    [`r${Math.floor(i / size)}`]: ['join', 'publish'],
  }));
  return withServer(name, async (s, own) => {
    const g = own(
      await startGenerator({
        kind: 'fanout',
        server: name,
        host: '127.0.0.1',
        port: s.port,
        roomSize: size,
        rooms,
        window: 4,
        indexBase: 0,
        ...addressesFor(n),
        ...(tokens ? { tokens } : {}),
      }),
    );
    return fanoutFigures({
      roomSize: size,
      rooms,
      ...(await measureWindow(s, g, `fanout_${size}`)),
    });
  });
}

/**
 * Fan-out's names for its (median) window's figures: deliveries, where the other scenarios
 * count messages.
 *
 * @template {{ perSecond: number, serverUsPerMessage: number | null }} T
 * @param {T} m
 */
function fanoutFigures(m) {
  return { ...m, deliveriesPerSecond: m.perSecond, serverUsPerDelivery: m.serverUsPerMessage };
}

/**
 * Runs autocannon from the generator core against a server: a short warm-up, then the
 * measured run, with server CPU from /proc around it.
 *
 * @param {Server} s
 * @param {(c: Child) => Child} own
 * @param {{ label: string, [k: string]: unknown }} http autocannon options and a label
 */
async function httpRun(s, own, { label, ...http }) {
  const run = async (/** @type {number} */ seconds) => {
    const g = own(
      await startGenerator({
        kind: 'http',
        server: s.name,
        host: '127.0.0.1',
        port: s.port,
        addresses: [],
        perAddress: 1,
        indexBase: 0,
        http: { ...http, duration: seconds },
      }),
    );
    const cpu0 = cpuMicros(s.pid);
    const { result } = await g.request({ type: 'run' }, 'done', (seconds + 30) * 1000);
    const cpu1 = cpuMicros(s.pid);
    await g.stop();
    return {
      ...result,
      serverUsPerRequest: result.ok > 0 ? round((cpu1 - cpu0) / result.ok, 1) : null,
    };
  };
  await run(1);
  return profiled(s, `http_${label}`, () => run(P.httpSeconds));
}

/** (6) TURN credentials: Callgate with bearer auth vs the seed's Express endpoint without. */
async function scenarioTurn(/** @type {string} */ name) {
  // One token per autocannon connection, as each browser would present its own.
  const tokens = await tokensFor(name, 'turn', P.httpConnections, () => ({ lobby: ['join'] }));
  return withServer(name, async (s, own) => {
    if (name === 'express')
      return httpRun(s, own, {
        label: 'turn',
        url: `http://127.0.0.1:${s.port}/api/turn-credentials`,
        connections: P.httpConnections,
      });
    if (!tokens) throw new Error('no tokens for Callgate');
    const probe = await fetch(`http://127.0.0.1:${s.port}/v1/turn/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens[0]}` },
    });
    await probe.arrayBuffer();
    if (probe.status !== 200) throw new Error(`POST /v1/turn/credentials answered ${probe.status}`);
    return {
      route: 'POST /v1/turn/credentials',
      ...(await httpRun(s, own, {
        label: 'turn',
        url: `http://127.0.0.1:${s.port}/v1/turn/credentials`,
        method: 'POST',
        connections: P.httpConnections,
        bearerTokens: tokens,
      })),
    };
  });
}

/** (7) Token minting: POST /v1/tokens with an API key (RS256 signing). */
async function scenarioMint(/** @type {string} */ name) {
  return withServer(name, async (s, own) =>
    httpRun(s, own, {
      label: 'mint',
      url: `http://127.0.0.1:${s.port}/v1/tokens`,
      method: 'POST',
      connections: Math.min(16, P.httpConnections),
      headers: { authorization: `Bearer ${s.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'bench-user', rooms: { lobby: ['join', 'send'] } }),
    }),
  );
}

// ---------------------------------------------------------------------------------------------

/** How Callgate runs: 'dist' (built here with tsc -b) or 'source' (tsx). */
let callgateBuild = 'source';

function buildCallgate() {
  if (FROM_SOURCE || !servers.includes('callgate')) return;
  try {
    execFileSync(
      process.execPath,
      [join(ROOT, 'node_modules/typescript/bin/tsc'), '-b', 'packages/server'],
      { cwd: ROOT, stdio: 'pipe' },
    );
    callgateBuild = 'dist';
  } catch (err) {
    const out = String(/** @type {{ stdout?: Buffer }} */ (err).stdout ?? '').slice(0, 2000);
    console.error(`tsc -b packages/server failed; running Callgate from source (tsx):\n${out}`);
  }
}

function ensurePeers() {
  const need =
    servers.some((s) => !isCallgate(s)) || !only || only.some((o) => o === 'turn' || o === 'mint');
  if (!need || flag('no-install')) return;
  if (
    existsSync(join(ROOT, 'bench/peers/node_modules/autocannon/package.json')) &&
    existsSync(join(ROOT, 'bench/peers/node_modules/socket.io/package.json')) &&
    existsSync(join(ROOT, 'bench/peers/node_modules/peer/package.json')) &&
    existsSync(join(ROOT, 'bench/peers/node_modules/express/package.json'))
  )
    return;
  console.error(
    'installing the peers into bench/peers/node_modules (npm ci --prefix bench/peers)...',
  );
  execFileSync('npm', ['ci', '--prefix', join(ROOT, 'bench/peers'), '--no-audit', '--no-fund'], {
    stdio: 'inherit',
  });
}

function machine() {
  const c = cpus();
  let nofile = '';
  try {
    nofile = execFileSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' }).trim();
  } catch {
    // unknown
  }
  return {
    cpus: c.length,
    cpuModel: c[0]?.model ?? 'unknown',
    memoryGiB: round(totalmem() / 2 ** 30, 1),
    node: process.version,
    kernel: release(),
    fdLimit: nofile,
    pinned: canPin(),
    serverCpu: SERVER_CPU,
    generatorCpu: GEN_CPU,
    loadAverageBefore: loadavg().map((x) => round(x, 2)),
    /** @type {number[]} */
    loadAverageAfter: [],
    /**
     * Time the hypervisor gave the server's and the generator's CPU to other guests over the
     * run, in % of that CPU's time (/proc/stat "steal"): a figure far above zero means a shared
     * host, and run-to-run spread to match.
     * @type {{ serverCpu: number, generatorCpu: number } | null}
     */
    stealPercent: null,
    /**
     * Pauses a busy loop on each of the two CPUs saw, both CPUs busy at once, before and after
     * the scenarios (lib/pauses.mjs): time the host took that steal may not show.
     * @type {{ before: Record<string, import('./lib/pauses.mjs').Pauses>, after?: Record<string, import('./lib/pauses.mjs').Pauses> } | null}
     */
    pauses: null,
    /**
     * How fast each CPU did a fixed piece of work (an RS256 verification, a JSON round trip, a
     * dependent load from memory), both busy at once, before and after the scenarios (lib/speed.mjs): a host that runs slow
     * without pausing.
     * @type {{ before: Record<string, import('./lib/speed.mjs').Speed>, after?: Record<string, import('./lib/speed.mjs').Speed> } | null}
     */
    speed: null,
  };
}

/**
 * One CPU's line of /proc/stat: its steal and total time in ticks (null where unreadable).
 * @param {string} cpu
 */
function cpuTicks(cpu) {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith(`cpu${cpu} `));
    const f = (line ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    if (f.length < 8 || f.some((x) => !Number.isFinite(x))) return null;
    return { steal: /** @type {number} */ (f[7]), total: f.reduce((a, b) => a + b, 0) };
  } catch {
    return null;
  }
}

/**
 * @param {{ steal: number, total: number } | null} a
 * @param {{ steal: number, total: number } | null} b
 */
function stealBetween(a, b) {
  if (!a || !b || b.total <= a.total) return NaN;
  return round(((b.steal - a.steal) / (b.total - a.total)) * 100, 1);
}

function versions() {
  /** @type {Record<string, string>} */
  const v = {};
  for (const [name, dir] of [
    ['peer', 'bench/peers/node_modules/peer'],
    ['socket.io', 'bench/peers/node_modules/socket.io'],
    ['express', 'bench/peers/node_modules/express'],
    ['autocannon', 'bench/peers/node_modules/autocannon'],
    ['ws', 'node_modules/ws'],
  ]) {
    try {
      v[/** @type {string} */ (name)] = JSON.parse(
        readFileSync(join(ROOT, /** @type {string} */ (dir), 'package.json'), 'utf8'),
      ).version;
    } catch {
      // not installed
    }
  }
  return v;
}

/** What a failed step records: the error's message, at most 2,000 characters. */
function errorText(/** @type {unknown} */ err) {
  return String(/** @type {Error} */ (err).message ?? err).slice(0, 2000);
}

/** The diagnostic environment variables that are set, or undefined when none is. */
function diagnosticEnv() {
  const set = [
    'BENCH_NODE_ARGS',
    'BENCH_GEN_ARGS',
    'BENCH_OVERRIDES',
    'BENCH_BASE',
    'BENCH_BASE_NODE_ARGS',
  ].filter((k) => process.env[k]);
  /** @type {Record<string, string>} */
  const d = Object.fromEntries(set.map((k) => [k, /** @type {string} */ (process.env[k])]));
  // A profiler's sampling costs the server CPU in the very windows it records.
  const profiler = ['cpu-prof', 'alloc-prof', 'perf'].find(flag);
  if (profiler) d.profiler = `--${profiler}`;
  return Object.keys(d).length > 0 ? d : undefined;
}

async function main() {
  const diagnostics = diagnosticEnv();
  ensurePeers();
  buildCallgate();
  const results = {
    date: new Date().toISOString(),
    mode: SMOKE ? 'smoke' : QUICK ? 'quick' : 'full',
    callgateBuild,
    // Diagnostic settings in force (extra node flags, Callgate configuration overrides): a run
    // made with any of them is a diagnosis, not the benchmark, and its report says so.
    ...(diagnostics ? { diagnostics } : {}),
    machine: machine(),
    versions: versions(),
    /** @type {Record<string, any>} */
    scenarios: {},
    /** @type {Array<{ scenario: string, server: string, error: string }>} */
    errors: [],
    /** Each step's wall time, in plan order: where a run's minutes go. */
    /** @type {Array<{ scenario: string, server: string, seconds: number, also?: string[], failed?: boolean }>} */
    steps: [],
  };
  const started = performance.now();
  const probeCpus = SERVER_CPU === GEN_CPU ? [SERVER_CPU] : [SERVER_CPU, GEN_CPU];
  /** @type {NonNullable<typeof results.machine.pauses>} */
  const pauses = { before: await probePauses(probeCpus, P.pauseProbeMs, ROOT) };
  results.machine.pauses = pauses;
  /** @type {NonNullable<typeof results.machine.speed>} */
  const speed = { before: await probeSpeed(probeCpus, ROOT) };
  results.machine.speed = speed;
  const ticks0 = { server: cpuTicks(SERVER_CPU), generator: cpuTicks(GEN_CPU) };
  const want = (/** @type {string} */ s) => !only || only.includes(s);
  const ws = servers.filter((s) => s !== 'express' && s !== 'ceiling');
  // The bare server runs after the servers it bounds. Not in the closed-loop relay: there the
  // server is the bottleneck, and a bare relay in plain JS is no faster than Callgate's.
  const withCeiling = [...ws, ...servers.filter((x) => x === 'ceiling')];
  // Each step: the scenario, the server, the run, and for a scenario run in rounds, how a
  // round is merged into the rounds before it. A run answers its scenario's result, or (the
  // open loop) a result per scenario it measured, keyed by scenario, that one among them.
  /** @typedef {[string, string, () => Promise<any>, ((before: any, next: any) => any)?, boolean?]} Step */
  /**
   * The run, in groups of steps: one sweep of a scenario run in rounds, or one step. Scenario
   * 1's sweeps go in between groups (below), never inside another scenario's sweep.
   *
   * @type {Step[][]}
   */
  const groups = [];
  /**
   * A scenario's rounds, interleaved across `list` (C P S B C P S B ...): each server's rounds
   * are spread over the same stretch of time, so one slow phase of the host (they come and go
   * over minutes) does not decide one server's figure alone. A server with fewer rounds than
   * the others has them spread over the sweeps evenly (three of five: the first, the third
   * and the fifth; one: the middle one).
   *
   * @param {string} scenario
   * @param {string[]} list
   * @param {(server: string, round: number, rounds: number) => Promise<any>} run
   * @param {(before: any, next: any) => any} merge
   * @param {boolean} [multi] the run answers a result per scenario (Step)
   * @returns {Step[][]} the sweeps, each a step per server with a round in it
   */
  const interleaved = (scenario, list, run, merge, multi = false) => {
    const most = Math.max(0, ...list.map((s) => roundsOf(scenario, s)));
    /** @type {Step[][]} */
    const sweeps = Array.from({ length: most }, () => []);
    // Servers in list order, so each sweep keeps that order.
    for (const s of list) {
      const k = roundsOf(scenario, s);
      for (let i = 0; i < k; i++)
        sweeps[Math.floor(((i + 0.5) * most) / k)]?.push([
          scenario,
          s,
          () => run(s, i, k),
          merge,
          multi,
        ]);
    }
    return sweeps;
  };
  // Scenario 1's sweeps are spread over the run (below) rather than run back to back: a round
  // measures about a second, and a slow phase of the host can last the minute that three
  // consecutive sweeps take (at 04:32 every server's connects cost 1.3–1.4x what they had in
  // the runs before, the speed probe before the run at 33.7 µs per RS256 verification against
  // 22.9–24.7, and after it at 24.4).
  const connectSweeps = want('connect')
    ? interleaved('connect', withCeiling, scenarioConnect, mergeConnectRounds)
    : [];
  if (want('relay')) for (const s of ws) groups.push([['relay', s, () => scenarioRelay(s)]]);
  if (want('relay') || want('relay_w4'))
    for (const s of ws) groups.push([['relay_w4', s, () => scenarioRelay(s, 4)]]);
  if (want('openloop')) {
    // The top rate in rounds; the lower ones in the middle round of each server, after the top
    // rate's windows, in the same process (scenarioOpenLoop).
    const [top, ...lower] = [...new Set(P.openRates)].sort((a, b) => b - a);
    if (top !== undefined)
      groups.push(
        ...interleaved(
          `openloop_${top}`,
          withCeiling,
          (s, i, k) => scenarioOpenLoop(s, top, i === Math.floor((k - 1) / 2) ? lower : []),
          (before, next) => mergeRounds(before, next, 'latency'),
          true,
        ),
      );
  }
  if (want('fanout'))
    for (const size of P.fanoutSizes)
      groups.push(
        ...interleaved(
          `fanout_${size}`,
          ws,
          (s) => scenarioFanout(s, size),
          (before, next) => fanoutFigures(mergeRounds(before, next, 'throughput')),
        ),
      );
  if (want('turn'))
    for (const s of servers.filter((x) => x === 'callgate' || x === 'express'))
      groups.push([['turn', s, () => scenarioTurn(s)]]);
  if (want('mint') && servers.includes('callgate'))
    groups.push([['mint', 'callgate', () => scenarioMint('callgate')]]);
  // Scenario 1's sweeps at even places between the groups, from the start of the run to the end
  // of the groups so far (before the memory scenario, whose TIME_WAIT sockets would weigh on
  // connects). With nothing else to run (--only=connect) they run back to back.
  const n = connectSweeps.length;
  const before = groups.length;
  for (let k = n - 1; k >= 0; k--)
    groups.splice(n > 1 ? Math.round((k * before) / (n - 1)) : 0, 0, connectSweeps[k] ?? []);
  // Last: its ~60,000 connections leave the kernel busy with TIME_WAIT for a minute after.
  if (want('memory')) for (const s of ws) groups.push([['memory', s, () => scenarioMemory(s)]]);
  const plan = groups.flat();

  for (const [scenario, server, fn, merge, multi] of plan) {
    const t0 = performance.now();
    const seconds = () => round((performance.now() - t0) / 1000, 1);
    process.stderr.write(`${scenario} ${server} ... `);
    try {
      const r = await fn();
      // Each part with how it merges into earlier rounds: the step's own scenario does, another (a
      // lower rate of the open loop) is measured once. An Error part is that scenario's error.
      const parts = Object.entries(multi ? r : { [scenario]: r }).map(([sc, part]) => ({
        sc,
        part,
        before: results.scenarios[sc]?.[server],
        rounds: sc === scenario ? merge : undefined,
      }));
      // Every part checked before any is written, so a step is kept whole or not at all.
      for (const { sc, part, before, rounds } of parts)
        if (!(part instanceof Error) && before !== undefined && !rounds)
          throw new Error(`${sc} ran twice for ${server} and has no rounds to merge`);
      for (const { sc, part, before, rounds } of parts) {
        if (part instanceof Error) {
          results.errors.push({ scenario: sc, server, error: errorText(part) });
          process.stderr.write(`(${sc} FAILED: ${errorText(part)}) `);
          continue;
        }
        (results.scenarios[sc] ??= {})[server] =
          before === undefined ? part : rounds?.(before, part);
      }
      const took = seconds();
      const also = parts.map((p) => p.sc).filter((sc) => sc !== scenario);
      results.steps.push({ scenario, server, seconds: took, ...(also.length ? { also } : {}) });
      process.stderr.write(`${took} s${also.length ? ` (with ${also.join(', ')})` : ''}\n`);
    } catch (err) {
      const msg = errorText(err);
      results.errors.push({ scenario, server, error: msg });
      results.steps.push({ scenario, server, seconds: seconds(), failed: true });
      process.stderr.write(`FAILED: ${msg}\n`);
    }
  }
  // The scenarios' figures are kept whatever happens to the probes after them.
  try {
    pauses.after = await probePauses(probeCpus, P.pauseProbeMs, ROOT);
    speed.after = await probeSpeed(probeCpus, ROOT);
  } catch (err) {
    const msg = errorText(err);
    results.errors.push({ scenario: 'host probes after the run', server: '-', error: msg });
    process.stderr.write(`host probes after the run FAILED: ${msg}\n`);
  }
  const total = round((performance.now() - started) / 1000, 1);
  results.machine.loadAverageAfter = loadavg().map((x) => round(x, 2));
  const serverSteal = stealBetween(ticks0.server, cpuTicks(SERVER_CPU));
  const generatorSteal = stealBetween(ticks0.generator, cpuTicks(GEN_CPU));
  if (Number.isFinite(serverSteal) && Number.isFinite(generatorSteal))
    results.machine.stealPercent = { serverCpu: serverSteal, generatorCpu: generatorSteal };
  const out = { ...results, seconds: total, goals: evaluateGoals(results.scenarios) };
  mkdirSync(outDir, { recursive: true });
  const stamp = out.date.replace(/[:]/g, '-').replace(/\..*$/, '');
  const base = join(outDir, `${SMOKE ? 'smoke-' : ''}${stamp}`);
  const table = renderTable(out);
  writeFileSync(`${base}.json`, JSON.stringify(out, null, 2) + '\n');
  writeFileSync(`${base}.md`, table + '\n');
  console.log(table);
  console.log(`\nwritten: ${base}.json, ${base}.md (${total} s)`);
  process.exitCode = results.errors.length > 0 ? 1 : 0;
}

await main();
