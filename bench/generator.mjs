// The load generator: one process, pinned by the harness to its own core, driven over IPC.
//
//   harness → { type: 'job', job }         set up (connect, join) and answer { type: 'ready' };
//                                          a connect generator may be given one job after another
//   harness → { type: 'load', rate? }       start the load (relay, openloop, fanout); the open
//                                          loop again later with another rate
//   harness → { type: 'measure-start' }     reset counters; answer { type: 'marked' }
//   harness → { type: 'measure-stop' }      answer { type: 'measured', result }
//   harness → { type: 'run' }               connect / http jobs: run once, answer { type: 'done', result }
//   harness → { type: 'stop' }              close everything and exit
//
// Every loop is bounded: the harness stops each job after a fixed time, and a generator exits
// by itself when the harness goes away or after `job.maxLifetimeMs`.
import { performance } from 'node:perf_hooks';
import { createRequire } from 'node:module';
import { adapters } from './lib/adapters.mjs';
import { Samples, round } from './lib/stats.mjs';

/** @typedef {import('./lib/adapters.mjs').Client} Client */
/** @typedef {import('./lib/adapters.mjs').Adapter} Adapter */

/**
 * @typedef {object} Job
 * @property {'connect'|'relay'|'openloop'|'fanout'|'http'} kind
 * @property {string} server          adapter name
 * @property {string} host
 * @property {number} port
 * @property {string[]} [tokens]      one per connection (Callgate)
 * @property {string[]} addresses     local addresses to spread connections over
 * @property {number} perAddress      connections per local address
 * @property {number} [addressBase]   this generator's first position in the address spread
 * @property {number} indexBase       first connection index (unique across generators)
 * @property {number} [count]         connect: connections
 * @property {number} [concurrency]   connect: handshakes in flight
 * @property {boolean} [keep]         connect: keep the connections open until `stop`
 * @property {number} [pairs]         relay / openloop
 * @property {number} [window]        relay / fanout: messages in flight per sender / room
 * @property {number} [rate]          openloop: messages per second, all connections together
 * @property {number} [roomSize]      fanout
 * @property {number} [rooms]         fanout
 * @property {number} [payloadBytes]  padding in each message's data
 * @property {number} [maxLifetimeMs]
 * @property {object} [http]          http: autocannon options (+ `bearerTokens`)
 */

const send = (/** @type {object} */ m) => process.send?.(m);
process.on('disconnect', () => process.exit(0));

/** @type {Client[]} */
let clients = [];
let received = 0;
let acks0 = 0;
const latency = new Samples();
/** Open loop: from when each message was actually sent (not scheduled) to its arrival. */
const path = new Samples();
/** Open loop: how late each message was sent (actual minus scheduled send time). */
const lateness = new Samples();
/** @type {(() => void) | null} */
let startLoad = null;
/** @type {(() => void) | null} */
let stopLoad = null;
/** @type {Job} */
let job;
/** Exits the generator if the harness forgets it (`job.maxLifetimeMs` after its latest job). */
let life = /** @type {NodeJS.Timeout | undefined} */ (undefined);

process.on('message', (/** @type {{ type: string, job?: Job, rate?: number }} */ m) => {
  void handle(m).catch((err) => {
    send({ type: 'error', message: String(err?.stack ?? err) });
  });
});

/** @param {{ type: string, job?: Job, rate?: number }} m */
async function handle(m) {
  if (m.type === 'job') {
    job = /** @type {Job} */ (m.job);
    clearTimeout(life);
    life = setTimeout(() => process.exit(3), job.maxLifetimeMs ?? 600_000);
    life.unref();
    if (job.kind === 'connect') {
      // A generator given one connect job after another (the harness's re-warm, then its
      // measured round) collects what the earlier one left (its tokens, its job message)
      // before it answers, so that none of it is collected among the measured connects.
      /** @type {{ gc?: () => void }} */ (globalThis).gc?.();
      return send({ type: 'ready' });
    }
    if (job.kind === 'http') return send({ type: 'ready' });
    await setup();
    settle();
    return send({ type: 'ready', connections: clients.length });
  }
  if (m.type === 'run') {
    const result = job.kind === 'http' ? await runHttp() : await runConnect();
    return send({ type: 'done', result });
  }
  if (m.type === 'load') {
    // The open loop may be given another rate while loaded: its schedule starts over at it.
    if (m.rate !== undefined) {
      if (job.kind !== 'openloop') throw new Error('a rate is for the open loop only');
      job.rate = m.rate;
    }
    startLoad?.();
    return send({ type: 'loading' });
  }
  if (m.type === 'measure-start') {
    received = 0;
    acks0 = totalAcks();
    latency.reset();
    path.reset();
    lateness.reset();
    return send({ type: 'marked', at: performance.now() });
  }
  if (m.type === 'measure-stop') {
    const result = {
      received,
      acks: totalAcks() - acks0,
      latency: latency.summary(),
      ...(job.kind === 'openloop' ? { path: path.summary(), lateness: lateness.summary() } : {}),
    };
    return send({ type: 'measured', at: performance.now(), result });
  }
  if (m.type === 'stop') {
    stopLoad?.();
    for (const c of clients) c.ws.destroy();
    setTimeout(() => process.exit(0), 50);
  }
}

/**
 * After the setup, before any load: drops the tokens (only the connects needed them) and runs a
 * full collection (the harness starts generators with --expose-gc). Left alone, the generator's
 * old generation reached V8's limit a few seconds into the load only when it had held
 * Callgate's 2,000 tokens, and the mark-compact, with its incremental marking before it
 * (4–6 ms), fell in a measured window: a pause of the instrument that the peers' runs did not
 * have (BENCHMARKS.md, "Open loop").
 */
function settle() {
  delete job.tokens;
  /** @type {{ gc?: () => void }} */ (globalThis).gc?.();
}

function totalAcks() {
  let n = 0;
  for (const c of clients) n += c.acks;
  return n;
}

/** @returns {Adapter} */
function adapter() {
  const a = adapters[job.server];
  if (!a) throw new Error(`unknown server ${job.server}`);
  return a;
}

/** @param {number} i connection index within this generator */
function openOne(i) {
  const global = job.indexBase + i;
  const slot = Math.floor(((job.addressBase ?? 0) + i) / job.perAddress);
  const addr = job.addresses[slot % job.addresses.length];
  return adapter().open({
    host: job.host,
    port: job.port,
    index: global,
    ...(addr ? { localAddress: addr } : {}),
    ...(job.tokens ? { token: job.tokens[i] } : {}),
  });
}

/**
 * Opens `n` connections with `concurrency` handshakes in flight; per-connect latency sampled.
 *
 * @param {number} n
 * @param {number} concurrency
 * @param {Samples} [times]
 */
async function openMany(n, concurrency, times) {
  /** @type {Client[]} */
  const out = new Array(n);
  let next = 0;
  let failed = 0;
  let retried = 0;
  /** @type {string | undefined} */
  let firstError;
  const worker = async () => {
    while (next < n) {
      const i = next++;
      const t0 = performance.now();
      // A server that sheds load (429/503 with Retry-After, as Callgate does while its event loop
      // lags) is retried like a real client would, up to 5 times; each retry is counted.
      for (let attempt = 0; ; attempt++) {
        try {
          out[i] = await openOne(i);
          times?.add(performance.now() - t0);
          break;
        } catch (err) {
          const msg = String(/** @type {Error} */ (err).message);
          if (attempt < 5 && / (429|503) /.test(msg)) {
            retried++;
            await new Promise((r) => setTimeout(r, 250 + Math.random() * 500));
            continue;
          }
          failed++;
          firstError ??= msg;
          break;
        }
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { clients: out.filter(Boolean), failed, retried, firstError };
}

const PAD = 'x'.repeat(4096);

/**
 * A message's data: `t`, the time it was due to be sent (ms, performance.now()), padding, and
 * in the open loop `s`, when it was actually sent (whole µs).
 *
 * @param {number} t
 * @param {number} [sentAt]
 */
function data(t, sentAt) {
  const s = sentAt === undefined ? '' : `"s":${Math.round(sentAt * 1000)},`;
  return `{"t":${t.toFixed(3)},${s}"p":"${PAD.slice(0, job.payloadBytes ?? 180)}"}`;
}

/** @param {string} text */
function stampOf(text) {
  const i = text.indexOf('"t":');
  return +text.slice(i + 4, text.indexOf(',', i));
}

/** @param {string} text @param {string} key */
function intField(text, key) {
  const i = text.indexOf(key);
  return parseInt(text.slice(i + key.length, i + key.length + 12), 10);
}

async function setup() {
  const a = adapter();
  if (job.kind === 'relay' || job.kind === 'openloop') {
    const pairs = /** @type {number} */ (job.pairs);
    const r = await openMany(pairs * 2, 64);
    if (r.failed > 0) throw new Error(`${r.failed} connections failed: ${r.firstError}`);
    clients = r.clients;
    // Clients 2k and 2k+1 are partners and share room p<k> (Callgate relays only within a room).
    await parallel(clients, 64, (c, i) => a.join(c, `p${job.indexBase / 2 + (i >> 1)}`));
    if (job.kind === 'relay') setupRelay(a);
    else setupOpenLoop(a);
  } else if (job.kind === 'fanout') {
    const size = /** @type {number} */ (job.roomSize);
    const rooms = /** @type {number} */ (job.rooms);
    const r = await openMany(size * rooms, 64);
    if (r.failed > 0) throw new Error(`${r.failed} connections failed: ${r.firstError}`);
    clients = r.clients;
    await parallel(clients, 64, (c, i) => a.join(c, `r${Math.floor(i / size)}`));
    setupFanout(a, size, rooms);
  }
}

/**
 * @template T
 * @param {T[]} items
 * @param {number} concurrency
 * @param {(item: T, i: number) => Promise<void>} fn
 */
async function parallel(items, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(/** @type {T} */ (items[i]), i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}

/** Closed loop: every client keeps `window` messages in flight to its partner. */
function setupRelay(/** @type {Adapter} */ a) {
  let running = false;
  clients.forEach((c, i) => {
    const partner = /** @type {Client} */ (clients[i ^ 1]);
    c.onMessage = (text) => {
      const now = performance.now();
      latency.add(now - stampOf(text));
      received++;
      if (running) a.send(c, partner.id, data(now));
    };
  });
  startLoad = () => {
    running = true;
    const w = job.window ?? 1;
    clients.forEach((c, i) => {
      const partner = /** @type {Client} */ (clients[i ^ 1]);
      for (let k = 0; k < w; k++) a.send(c, partner.id, data(performance.now()));
    });
  };
  stopLoad = () => {
    running = false;
  };
}

/**
 * Open loop: `rate` messages per second spread round-robin over the clients, each stamped with
 * its scheduled send time (so a stalled server shows as latency, not as a lower send rate:
 * no coordinated omission).
 */
function setupOpenLoop(/** @type {Adapter} */ a) {
  clients.forEach((c) => {
    c.onMessage = (text) => {
      const now = performance.now();
      latency.add(now - stampOf(text));
      path.add(now - intField(text, '"s":') / 1000);
      received++;
    };
  });
  /** @type {NodeJS.Timeout | undefined} */
  let timer;
  startLoad = () => {
    clearInterval(timer); // a new rate: the schedule starts over
    const rate = /** @type {number} */ (job.rate);
    const start = performance.now();
    const interval = 1000 / rate;
    let sent = 0;
    const n = clients.length;
    timer = setInterval(() => {
      const due = Math.floor((performance.now() - start) / interval);
      while (sent < due) {
        const i = sent % n;
        const c = /** @type {Client} */ (clients[i]);
        const at = start + sent * interval;
        const now = performance.now();
        lateness.add(now - at);
        a.send(c, /** @type {Client} */ (clients[i ^ 1]).id, data(at, now));
        sent++;
      }
    }, 1);
  };
  stopLoad = () => clearInterval(timer);
}

/**
 * Room fan-out, closed loop per room: `window` publishes in flight per room; a publish is
 * complete when every other member has it, and then the room's next member publishes.
 */
function setupFanout(
  /** @type {Adapter} */ a,
  /** @type {number} */ size,
  /** @type {number} */ rooms,
) {
  const RING = 64;
  const counts = Array.from({ length: rooms }, () => new Int32Array(RING));
  const seq = new Int32Array(rooms);
  let running = false;
  const members = (/** @type {number} */ r) => clients.slice(r * size, (r + 1) * size);
  const memberLists = Array.from({ length: rooms }, (_, r) => members(r));
  const publish = (/** @type {number} */ r) => {
    const q = seq[r]++;
    const list = /** @type {Client[]} */ (memberLists[r]);
    const from = /** @type {Client} */ (list[q % size]);
    const t = performance.now();
    a.publish(
      from,
      `r${r}`,
      `{"r":${r},"q":${q},"t":${t.toFixed(3)},"p":"${PAD.slice(0, job.payloadBytes ?? 180)}"}`,
      list,
    );
  };
  for (const c of clients)
    c.onMessage = (text) => {
      const now = performance.now();
      latency.add(now - stampOf(text));
      received++;
      const r = intField(text, '"r":');
      const q = intField(text, '"q":');
      const ring = /** @type {Int32Array} */ (counts[r]);
      if (++ring[q % RING] === size - 1) {
        ring[q % RING] = 0;
        if (running) publish(r);
      }
    };
  startLoad = () => {
    running = true;
    const w = Math.min(job.window ?? 2, RING / 2);
    for (let r = 0; r < rooms; r++) for (let k = 0; k < w; k++) publish(r);
  };
  stopLoad = () => {
    running = false;
  };
}

async function runConnect() {
  const times = new Samples();
  const t0 = performance.now();
  const r = await openMany(/** @type {number} */ (job.count), job.concurrency ?? 64, times);
  const ms = performance.now() - t0;
  // A generator may run several connect jobs in turn (the harness's re-warm, then the measured
  // round): the connections a `keep` job opened stay open, with every earlier one, until `stop`.
  if (job.keep) for (const c of r.clients) clients.push(c);
  else for (const c of r.clients) c.ws.destroy();
  return {
    connected: r.clients.length,
    failed: r.failed,
    retried: r.retried,
    firstError: r.firstError,
    ms: round(ms),
    latency: times.summary(),
  };
}

async function runHttp() {
  const require = createRequire(new URL('./peers/', import.meta.url));
  const { bearerTokens, ...opts } = /** @type {any} */ (job.http);
  /** @type {any} */
  let autocannon;
  try {
    autocannon = require('autocannon');
  } catch {
    // Not installed (CI's smoke run installs no peers): a small closed loop of our own.
    return runHttpBuiltin(opts, bearerTokens);
  }
  let n = 0;
  const options = {
    ...opts,
    ...(bearerTokens
      ? {
          // Each connection presents its own client's token, as each browser would.
          setupClient: (/** @type {any} */ client) => {
            const token = bearerTokens[n++ % bearerTokens.length];
            client.setHeaders({ ...opts.headers, authorization: `Bearer ${token}` });
          },
        }
      : {}),
  };
  const res = await autocannon(options);
  const ok = Object.entries(res.statusCodeStats ?? {})
    .filter(([code]) => code.startsWith('2'))
    .reduce((s, [, v]) => s + Number(/** @type {any} */ (v).count), 0);
  return {
    ok,
    non2xx: res.non2xx,
    errors: res.errors,
    statusCodes: res.statusCodeStats,
    durationS: res.duration,
    rps: round(ok / res.duration, 1),
    latency: {
      p50: res.latency.p50,
      p99: res.latency.p99,
      p999: res.latency.p99_9,
      max: res.latency.max,
    },
  };
}

/**
 * The fallback HTTP load: `connections` keep-alive clients, each sending its next request when
 * the last one is answered, for `duration` seconds.
 *
 * @param {{ url: string, method?: string, headers?: Record<string, string>, body?: string,
 *   connections: number, duration: number }} o
 * @param {string[] | undefined} bearerTokens
 */
async function runHttpBuiltin(o, bearerTokens) {
  const { Agent, request } = await import('node:http');
  const agent = new Agent({ keepAlive: true, maxSockets: o.connections });
  const times = new Samples();
  /** @type {Record<string, { count: number }>} */
  const statusCodes = {};
  let ok = 0;
  let errors = 0;
  const t0 = performance.now();
  const end = t0 + o.duration * 1000;
  const one = (/** @type {Record<string, string>} */ headers) =>
    new Promise((resolve) => {
      const s = performance.now();
      const req = request(o.url, { method: o.method ?? 'GET', headers, agent }, (res) => {
        res.resume();
        res.on('end', () => {
          const code = String(res.statusCode);
          (statusCodes[code] ??= { count: 0 }).count++;
          if (code.startsWith('2')) ok++;
          times.add(performance.now() - s);
          resolve(undefined);
        });
      });
      req.on('error', () => {
        errors++;
        resolve(undefined);
      });
      req.end(o.body);
    });
  await Promise.all(
    Array.from({ length: o.connections }, async (_, i) => {
      const headers = { ...o.headers };
      if (bearerTokens) headers.authorization = `Bearer ${bearerTokens[i % bearerTokens.length]}`;
      while (performance.now() < end) await one(headers);
    }),
  );
  agent.destroy();
  const durationS = (performance.now() - t0) / 1000;
  const l = times.summary();
  return {
    ok,
    non2xx: times.count - ok,
    errors,
    statusCodes,
    durationS: round(durationS),
    rps: round(ok / durationS, 1),
    latency: { p50: l.p50, p99: l.p99, p999: l.p999, max: l.max },
    client: 'builtin',
  };
}
