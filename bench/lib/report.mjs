// The results table and the goal check of a benchmark run (issue 7's goals; never asserted by
// `npm test`).

const NAMES = {
  callgate: 'Callgate',
  peerjs: 'PeerJS',
  socketio: 'Socket.IO',
  express: 'Express (seed)',
  ceiling: 'bare server',
};

/**
 * @param {any} v
 * @param {number} [digits]
 */
function fmt(v, digits = 0) {
  if (v === undefined || v === null || Number.isNaN(v)) return '—';
  if (typeof v !== 'number') return String(v);
  return v.toLocaleString('en-US', {
    maximumFractionDigits: digits,
    minimumFractionDigits: digits,
  });
}

/**
 * @param {number | undefined} a
 * @param {number | undefined} b
 */
function ratio(a, b) {
  if (a === undefined || b === undefined || !b || Number.isNaN(a) || Number.isNaN(b)) return '—';
  return `${(a / b).toFixed(2)}x`;
}

/**
 * Rows: [scenario, metric, better, getter(resultOfOneServer), digits].
 *
 * @type {Array<[string, string, string, '↑' | '↓' | '', (r: any) => number | undefined, number]>}
 */
const ROWS = [
  [
    'connect',
    '(1) connect, RS256-authenticated for Callgate',
    'connects/s',
    '↑',
    (r) => r.connectsPerSecond,
    0,
  ],
  ['connect', '', 'server µs / connection', '↓', (r) => r.serverUsPerConnection, 0],
  ['connect', '', 'of which in the kernel, µs', '↓', (r) => r.serverSystemUsPerConnection, 0],
  ['connect', '', 'generator µs / connection', '', (r) => r.generatorUsPerConnection, 0],
  [
    'memory',
    '(2) idle memory',
    'KiB RSS / conn, first step (10k)',
    '↓',
    (r) => r.steps?.[0]?.kibPerConnection,
    2,
  ],
  [
    'memory',
    '',
    'KiB RSS / conn, last step (19.9k)',
    '↓',
    (r) => r.steps?.at(-1)?.kibPerConnection,
    2,
  ],
  ['relay', '(3) direct relay, closed loop', 'messages/s', '↑', (r) => r.perSecond, 0],
  ['relay', '', 'server µs / message', '↓', (r) => r.serverUsPerMessage, 2],
  ['relay', '', 'p50 ms', '↓', (r) => r.latencyMs?.p50, 2],
  ['relay', '', 'p99 ms', '↓', (r) => r.latencyMs?.p99, 2],
  ['relay', '', 'server CPU used', '', (r) => r.serverCpuUtil, 2],
  [
    'relay_w4',
    '(3b) direct relay, 4 in flight per client',
    'messages/s',
    '↑',
    (r) => r.perSecond,
    0,
  ],
  ['relay_w4', '', 'server µs / message', '↓', (r) => r.serverUsPerMessage, 2],
  ['relay_w4', '', 'p99 ms', '↓', (r) => r.latencyMs?.p99, 2],
];
for (const rate of ['200', '500', '5000', '20000'])
  ROWS.push(
    [
      `openloop_${rate}`,
      `(4) open loop ${Number(rate).toLocaleString('en-US')}/s`,
      'p50 ms',
      '↓',
      (r) => r.latencyMs?.p50,
      2,
    ],
    [`openloop_${rate}`, '', 'p99 ms', '↓', (r) => r.latencyMs?.p99, 2],
    [`openloop_${rate}`, '', 'p999 ms', '↓', (r) => r.latencyMs?.p999, 2],
    // Where the latency above goes: from the actual send (server, kernel, the generator's
    // receiving) and how late the generator sent (its 1 ms timer and its own pauses).
    [`openloop_${rate}`, '', 'p99 ms from the actual send', '↓', (r) => r.pathMs?.p99, 2],
    [`openloop_${rate}`, '', 'generator sent late by, p99 ms', '', (r) => r.sendLatenessMs?.p99, 2],
    [`openloop_${rate}`, '', 'server µs / message', '↓', (r) => r.serverUsPerMessage, 2],
  );
for (const size of ['10', '100'])
  ROWS.push(
    [
      `fanout_${size}`,
      `(5) fan-out, rooms of ${size}`,
      'deliveries/s',
      '↑',
      (r) => r.deliveriesPerSecond,
      0,
    ],
    [`fanout_${size}`, '', 'server µs / delivery', '↓', (r) => r.serverUsPerDelivery, 2],
    [`fanout_${size}`, '', 'p99 ms', '↓', (r) => r.latencyMs?.p99, 2],
    [`fanout_${size}`, '', 'server CPU used', '', (r) => r.serverCpuUtil, 2],
  );
ROWS.push(
  [
    'turn',
    '(6) TURN credentials (Callgate: bearer RS256; Express: no auth)',
    'requests/s',
    '↑',
    (r) => r.rps,
    0,
  ],
  ['turn', '', 'p99 ms', '↓', (r) => r.latency?.p99, 1],
  ['turn', '', 'server µs / request', '↓', (r) => r.serverUsPerRequest, 1],
  ['mint', '(7) token minting, POST /v1/tokens (RS256)', 'requests/s', '↑', (r) => r.rps, 0],
  ['mint', '', 'p99 ms', '↓', (r) => r.latency?.p99, 1],
);

/**
 * The Markdown table of a run: one column per server, then Callgate's ratio to each peer.
 *
 * @param {any} out
 */
export function renderTable(out) {
  const sc = out.scenarios;
  const peers = ['peerjs', 'socketio', 'express'].filter((p) =>
    Object.values(sc).some((s) => /** @type {any} */ (s)[p]),
  );
  // The bare server (servers/ceiling.mjs; no ratio): the most the generator can show here.
  const columns = [...peers, ...(Object.values(sc).some((s) => s.ceiling) ? ['ceiling'] : [])];
  const head = [
    'scenario',
    'metric',
    '',
    NAMES.callgate,
    ...columns.map((p) => /** @type {any} */ (NAMES)[p]),
    ...peers.map((p) => `Callgate / ${/** @type {any} */ (NAMES)[p]}`),
  ];
  const lines = [
    `| ${head.join(' | ')} |`,
    `|${head.map((_, i) => (i < 3 ? ' --- ' : ' ---: ')).join('|')}|`,
  ];
  let last = '';
  for (const [key, title, metric, better, get, digits] of ROWS) {
    const s = sc[key];
    if (!s) continue;
    const cg = s.callgate ? get(s.callgate) : undefined;
    const vals = columns.map((p) => (s[p] ? get(s[p]) : undefined));
    const label = key !== last ? title || key : '';
    last = key;
    lines.push(
      `| ${[label, metric, better, fmt(cg, digits), ...vals.map((v) => fmt(v, digits)), ...vals.slice(0, peers.length).map((v) => ratio(cg, v))].join(' | ')} |`,
    );
  }
  const m = out.machine;
  const goals = (out.goals ?? []).map(
    (/** @type {any} */ g) =>
      `- ${g.ok === null ? '?' : g.ok ? 'met' : 'NOT met'}: ${g.goal} — ${g.detail}`,
  );
  return [
    `Callgate benchmark, ${out.mode} run, ${out.date} (${out.seconds} s)`,
    `Machine: ${m.cpus} × ${m.cpuModel}, ${m.memoryGiB} GiB, Node ${m.node}, Linux ${m.kernel}, fd limit ${m.fdLimit}; server on CPU ${m.serverCpu}, generator on CPU ${m.generatorCpu}${m.pinned ? ' (taskset)' : ' (not pinned)'}; load average before ${m.loadAverageBefore.join(' / ')}, after ${(m.loadAverageAfter ?? []).join(' / ')}${m.stealPercent ? `; hypervisor steal during the run ${m.stealPercent.serverCpu}% on the server's CPU, ${m.stealPercent.generatorCpu}% on the generator's` : ''}`,
    ...(out.diagnostics
      ? [
          `Diagnostic run, not the benchmark: ${Object.entries(out.diagnostics)
            .map(([k, v]) => `${k}=${v}`)
            .join(', ')}`,
        ]
      : []),
    ...(m.pauses ? [pausesLine(m)] : []),
    ...(m.speed ? [speedLine(m)] : []),
    ...(starved(out.scenarios).length
      ? [
          '',
          `Warning: in ${starved(out.scenarios).join(', ')} the server used under 80% of its core: the machine (or the generator) limited the run, so those throughputs understate the server.`,
        ]
      : []),
    '',
    ...lines,
    '',
    ...goals,
    ...(out.errors.length
      ? [
          '',
          'Errors:',
          ...out.errors.map((/** @type {any} */ e) => `- ${e.scenario} ${e.server}: ${e.error}`),
        ]
      : []),
  ].join('\n');
}

/**
 * A probe's figures for the run's CPUs (server's, then generator's), or "not measured".
 *
 * @param {any} m the run's machine
 * @param {Record<string, any> | undefined} byCpu
 * @param {(figures: any) => string} describe
 */
function perCpu(m, byCpu, describe) {
  if (!byCpu) return 'not measured';
  return [m.serverCpu, m.generatorCpu]
    .filter((cpu, i, a) => a.indexOf(cpu) === i && byCpu[cpu])
    .map((cpu) => `CPU ${cpu} ${describe(byCpu[cpu])}`)
    .join(', ');
}

/**
 * The host's pauses (lib/pauses.mjs) as one line: busy loops on both CPUs, before and after.
 *
 * @param {any} m the run's machine
 */
function pausesLine(m) {
  /** @param {any} p */
  const one = (p) =>
    perCpu(
      m,
      p,
      (c) => `lost ${fmt(c.lostMsPerSecond, 1)} ms/s (longest ${fmt(c.longestMs, 1)} ms)`,
    );
  return (
    `Host pauses seen by a busy loop on each CPU, both busy at once: before the run ${one(m.pauses.before)}; ` +
    `after ${one(m.pauses.after)}. They land on whichever server runs at the time and show in its tail latency.`
  );
}

/**
 * The host's speed (lib/speed.mjs) as one line: a fixed piece of work on both CPUs, before and
 * after.
 *
 * @param {any} m the run's machine
 */
function speedLine(m) {
  /** @param {any} p */
  const one = (p) =>
    perCpu(
      m,
      p,
      (c) =>
        `${fmt(c.rs256VerifyUs, 1)} µs per RS256 verification, ${fmt(c.jsonRoundTripUs, 2)} µs per JSON round trip, ${fmt(c.memoryLoadNs, 0)} ns per load from memory` +
        (c.syscallUs === undefined ? '' : `, ${fmt(c.syscallUs, 2)} µs per system call`),
    );
  return (
    `Host speed, the same work on each CPU, both busy at once (median batch): before the run ${one(m.speed.before)}; ` +
    `after ${one(m.speed.after)}. A host that runs slow without pausing moves every server's figures together.`
  );
}

/**
 * Closed-loop measurements whose server did not get (or need) most of its core.
 *
 * @param {any} sc
 */
function starved(sc) {
  /** @type {string[]} */
  const out = [];
  for (const key of ['relay', 'relay_w4', 'fanout_10', 'fanout_100'])
    for (const [server, r] of Object.entries(sc[key] ?? {}))
      if (
        server !== 'ceiling' &&
        typeof (/** @type {any} */ (r).serverCpuUtil) === 'number' &&
        /** @type {any} */ (r).serverCpuUtil < 0.8
      )
        out.push(`${key}/${server}`);
  return out;
}

/**
 * The issue's goals, each with the figures it compares (ratios from the same run).
 *
 * @param {any} sc
 */
export function evaluateGoals(sc) {
  /** @type {Array<{ goal: string, ok: boolean | null, detail: string }>} */
  const goals = [];
  /**
   * @param {string} goal
   * @param {boolean | null} ok
   * @param {string} detail
   */
  const add = (goal, ok, detail) => goals.push({ goal, ok, detail });
  const r = sc.relay;
  if (r?.callgate && r?.peerjs) {
    const x = r.callgate.perSecond / r.peerjs.perSecond;
    add(
      'relay (P=100) ≥ 1.2x PeerJS messages/s',
      x >= 1.2,
      `${fmt(r.callgate.perSecond)} vs ${fmt(r.peerjs.perSecond)} msg/s = ${x.toFixed(2)}x`,
    );
  }
  const o = sc.openloop_20000;
  if (o?.callgate && (o?.socketio || o?.peerjs)) {
    const c = o.callgate.latencyMs.p99;
    const s = o.socketio?.latencyMs.p99;
    const p = o.peerjs?.latencyMs.p99;
    const ok = (s === undefined || c <= s / 2) && (p === undefined || c <= p);
    add(
      'open loop 20k/s p99 ≤ ½ Socket.IO and ≤ PeerJS',
      ok,
      `p99 ${c} ms vs ` +
        [
          s === undefined ? 'Socket.IO not run' : `Socket.IO ${s} ms`,
          p === undefined ? 'PeerJS not run' : `PeerJS ${p} ms`,
        ].join(', ') +
        (s === undefined || p === undefined ? ' (judged only against the peers run)' : '') +
        (o.ceiling
          ? `; the generator against a bare relay (its floor here): p99 ${o.ceiling.latencyMs.p99} ms`
          : ''),
    );
  }
  const mem = sc.memory?.callgate?.steps?.at(-1);
  if (mem)
    add(
      'idle memory ≤ 8 KiB RSS per authenticated connection',
      mem.kibPerConnection <= 8,
      `${mem.kibPerConnection} KiB at ${fmt(mem.connections)} connections`,
    );
  const c = sc.connect?.callgate;
  const ceiling = sc.connect?.ceiling;
  if (c) {
    /** @type {any[]} */
    const rounds = c.roundResults ?? [c];
    const failed = rounds.reduce((n, r) => n + r.failed, 0);
    add(
      '≥ 4,000 RS256-authenticated connects/s',
      c.connectsPerSecond >= 4000 && failed === 0,
      `${fmt(c.connectsPerSecond)} connects/s (${failed} failed), ${fmt(c.serverUsPerConnection)} µs ` +
        `of server CPU each (one core: ${fmt(Math.round(1e6 / c.serverUsPerConnection))}/s)` +
        (rounds.length > 1
          ? `; the median of ${rounds.length} interleaved rounds (${rounds.map((r) => fmt(r.connectsPerSecond)).join(', ')}/s)`
          : '') +
        (ceiling
          ? `; the generator's ceiling here: ${fmt(ceiling.connectsPerSecond)}/s against a bare ` +
            `upgrade answer, generator CPU ${Math.round(ceiling.generatorCpuUtil * 100)}%`
          : ''),
    );
  }
  const t = sc.turn;
  if (t?.callgate && t?.express) {
    const x = t.callgate.rps / t.express.rps;
    add(
      'TURN endpoint with bearer auth ≥ 1.5x Express without auth',
      x >= 1.5,
      `${fmt(t.callgate.rps)} vs ${fmt(t.express.rps)} req/s = ${x.toFixed(2)}x`,
    );
  }
  const f = sc.fanout_100;
  if (f?.callgate) {
    const s = f.socketio?.deliveriesPerSecond;
    const x = s ? f.callgate.deliveriesPerSecond / s : undefined;
    add(
      'fan-out (rooms of 100) ≥ 1.5x Socket.IO and ≥ 100k deliveries/s',
      (x === undefined || x >= 1.5) && f.callgate.deliveriesPerSecond >= 100_000,
      `${fmt(f.callgate.deliveriesPerSecond)} deliveries/s${x ? ` = ${x.toFixed(2)}x Socket.IO (${fmt(s)})` : ''}`,
    );
  }
  return goals;
}
