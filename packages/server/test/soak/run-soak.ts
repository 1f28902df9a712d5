/**
 * A bounded soak on loopback: N signaling connections in M rooms publish messages with
 * per-sender sequence numbers while, all the time, tokens expire and are refreshed in-band,
 * peers leave and rejoin, connections are cut and resume, and a few peers let their tokens
 * expire and come back as new peers. Every receiver checks each sender's sequence: a gap is a
 * lost message, a repeat a duplicate. The server runs in its own process (soak-server.ts) and
 * reports its RSS and event-loop delay (perf_hooks.monitorEventLoopDelay).
 *
 * Cuts happen between traffic rounds, after the in-flight messages have landed: the protocol
 * has no client acknowledgements, so a frame on the wire at the instant a TCP connection dies is
 * gone, and what resume promises is every message sent after the server noticed the drop
 * (design.md "Resume"). The soak checks exactly that promise: lost must be 0 for live and
 * resumed peers.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import WebSocket from 'ws';
import type { ServerMessage } from '@callgate/protocol';

export interface SoakOptions {
  connections: number;
  rooms: number;
  durationMs: number;
  /** Publishes per live connection per round. */
  burst?: number;
  /** Token lifetime in seconds (refreshed in-band at 80%; default 20). */
  tokenTtlSeconds?: number;
  /** Share of connections cut (and resumed next round) per churn round. */
  cutFraction?: number;
  /** Share of connections that leave (and rejoin next round) per churn round. */
  leaveFraction?: number;
  /** Share of connections that never refresh: closed 4401 at expiry, they reconnect as new peers. */
  expireFraction?: number;
  /** Progress lines (by-hand runs). */
  log?: (line: string) => void;
}

export interface SoakReport {
  connections: number;
  rooms: number;
  durationMs: number;
  rounds: number;
  sent: number;
  acked: number;
  /** Publishes whose socket closed before the ack (non-refreshers reaching expiry mid-burst). */
  unconfirmed: number;
  delivered: number;
  lost: number;
  duplicated: number;
  refreshes: number;
  resumes: number;
  resumeFailures: number;
  leavesAndRejoins: number;
  expiredAndReconnected: number;
  unexpectedCloses: number;
  errors: number;
  /** The first problems seen (error answers, unexpected closes, gaps), for diagnosis. */
  problems: string[];
  serverRssStartBytes: number;
  serverRssConnectedBytes: number;
  serverRssEndBytes: number;
  /** Live heap after a full GC, with everyone connected and at the end (a leak shows here). */
  serverHeapConnectedBytes: number;
  serverHeapEndBytes: number;
  serverEventLoopDelayP99Ms: number;
  serverEventLoopDelayMaxMs: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ServerHandle {
  child: ChildProcess;
  port: number;
  apiKey: string;
  ask<T>(type: string): Promise<T>;
}

async function startServer(
  overrides: Record<string, unknown>,
): Promise<ServerHandle & { rss: number }> {
  const child = fork(
    new URL('./soak-server.ts', import.meta.url).pathname,
    [JSON.stringify(overrides)],
    {
      execArgv: ['--conditions=source', '--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    },
  );
  const ready = await new Promise<{ port: number; apiKey: string; rssBytes: number }>(
    (resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('soak server did not start')), 30_000);
      child.once(
        'message',
        (m: { type: string; port: number; apiKey: string; rssBytes: number }) => {
          clearTimeout(timer);
          resolve(m);
        },
      );
      child.once('exit', (code) => reject(new Error(`soak server exited ${code}`)));
    },
  );
  const ask = <T>(type: string) =>
    new Promise<T>((resolve) => {
      const on = (m: { type: string }) => {
        if (m.type === type || (type === 'start' && m.type === 'started')) {
          child.off('message', on);
          resolve(m as T);
        }
      };
      child.on('message', on);
      child.send({ type });
    });
  return { child, port: ready.port, apiKey: ready.apiKey, ask, rss: ready.rssBytes };
}

type PeerState = 'connecting' | 'live' | 'cut' | 'closed';

/** What a pending request resolves with when its socket closes first. */
const CLOSED = { type: 'error', code: 'internal_error', message: 'socket closed' } as ServerMessage;

class SoakPeer {
  readonly index: number;
  readonly userId: string;
  readonly room: string;
  readonly refreshes: boolean;
  state: PeerState = 'connecting';
  ws: WebSocket | undefined;
  token = '';
  /** The token's expiry (ms). */
  expiresAt = 0;
  sessionId: string | undefined;
  peerId = '';
  resumeToken = '';
  joined = false;
  seq = 0;
  nextId = 0;
  readonly pending = new Map<string, { resolve(m: ServerMessage): void }>();
  /** Receiver side: last sequence seen per `${from}|${room}`. */
  readonly last = new Map<string, number>();
  #welcome: ((m: ServerMessage) => void) | undefined;

  constructor(
    index: number,
    rooms: number,
    refreshes: boolean,
    private readonly ctx: SoakContext,
  ) {
    this.index = index;
    this.userId = `u${index}`;
    this.room = `room-${index % rooms}`;
    this.refreshes = refreshes;
  }

  /**
   * A new token for this peer's session from the backend API (POST /v1/tokens), over a bounded
   * keep-alive pool, retried with backoff like a real backend client would.
   */
  async mint(): Promise<void> {
    const body = JSON.stringify({
      sub: this.userId,
      rooms: { [this.room]: ['join', 'publish', 'presence'] },
      ttlSeconds: this.ctx.ttl,
      ...(this.sessionId ? { sessionId: this.sessionId } : {}),
    });
    for (let attempt = 0; ; attempt++) {
      try {
        const { status, text } = await post(this.ctx, '/v1/tokens', body);
        if (status !== 201) throw new Error(`mint failed: ${status} ${text}`);
        const parsed = JSON.parse(text) as { token: string; sessionId: string; expiresAt: number };
        this.token = parsed.token;
        this.expiresAt = parsed.expiresAt;
        this.sessionId = parsed.sessionId;
        return;
      } catch (err) {
        if (attempt >= 4 || this.ctx.stopping) throw err;
        await sleep(100 * 2 ** attempt);
      }
    }
  }

  /** Opens a socket (resuming when `resume`), waits for `welcome`. */
  async connect(resume: boolean): Promise<ServerMessage & { type: 'welcome' }> {
    const protocols = ['callgate.v1', `bearer.${this.token}`];
    if (resume) protocols.push(`resume.${this.resumeToken}`);
    const ws = new WebSocket(`${this.ctx.wsBase}/v1/signal`, protocols, {
      perMessageDeflate: false,
    });
    this.ws = ws;
    this.state = 'connecting';
    const welcome = new Promise<ServerMessage>((resolve, reject) => {
      this.#welcome = resolve;
      ws.once('error', reject);
      ws.once('close', (code) => reject(new Error(`closed ${code} before welcome`)));
    });
    ws.on('message', (data) => this.#onMessage(JSON.parse(data.toString()) as ServerMessage));
    ws.on('error', () => {});
    ws.on('close', (code, reason) => this.#onClose(ws, code, reason.toString()));
    const w = (await welcome) as ServerMessage & { type: 'welcome' };
    this.peerId = w.peerId;
    this.resumeToken = w.resumeToken;
    this.state = 'live';
    return w;
  }

  request(message: Record<string, unknown>): Promise<ServerMessage> {
    const id = `q${++this.nextId}`;
    return new Promise((resolve) => {
      this.pending.set(id, { resolve });
      this.ws!.send(JSON.stringify({ ...message, id }));
    });
  }

  async join(): Promise<void> {
    const r = await this.request({ type: 'join', room: this.room });
    if (r.type !== 'ack') throw new Error(`join failed: ${JSON.stringify(r)}`);
    this.joined = true;
  }

  async leave(): Promise<void> {
    const r = await this.request({ type: 'leave', room: this.room });
    if (r.type !== 'ack') throw new Error(`leave failed: ${JSON.stringify(r)}`);
    this.joined = false;
    // What this receiver hears in the room starts over when it rejoins.
    for (const k of this.last.keys()) if (k.endsWith(`|${this.room}`)) this.last.delete(k);
  }

  async publishBurst(n: number): Promise<void> {
    for (let i = 0; i < n; i++) {
      if (this.state !== 'live' || !this.joined) return;
      const seq = ++this.seq;
      this.ctx.report.sent++;
      const r = await this.request({
        type: 'publish',
        room: this.room,
        data: { s: this.index, n: seq },
      });
      if (r === CLOSED) {
        // The socket went away mid-burst (a non-refresher's expiry).
        this.ctx.report.unconfirmed++;
        return;
      }
      if (r.type === 'ack') this.ctx.report.acked++;
      else if (r.type === 'error') {
        this.ctx.report.errors++;
        this.ctx.log?.(`publish error ${r.code} from ${this.userId}`);
      }
    }
  }

  /**
   * Reconnects after a cut with the resume token, as the SDK does: with a fresh token (same
   * session) when the one held expires soon, since a cut may outlast it.
   */
  async resume(): Promise<boolean> {
    if (this.expiresAt - Date.now() < (this.ctx.ttl * 1000) / 2) await this.mint();
    const w = await this.connect(true);
    this.joined = true;
    return (w as { resumed?: boolean }).resumed === true && w.peerId === this.peerId;
  }

  /** A network blip: the TCP connection dies without a close frame. */
  cut(): void {
    this.state = 'cut';
    (this.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
  }

  #onMessage(m: ServerMessage): void {
    const report = this.ctx.report;
    switch (m.type) {
      case 'welcome':
        this.#welcome?.(m);
        return;
      case 'ack':
      case 'pong':
      case 'error': {
        const id = (m as { id?: string }).id;
        const p = id === undefined ? undefined : this.pending.get(id);
        if (p) {
          this.pending.delete(id!);
          p.resolve(m);
        } else if (m.type === 'error' && m.code !== 'resume_failed') {
          report.errors++;
          this.ctx.log?.(`error ${m.code} on ${this.userId}`);
        } else if (m.type === 'error') report.resumeFailures++;
        return;
      }
      case 'message': {
        report.delivered++;
        const data = m.data as { s: number; n: number };
        const key = `${m.from}|${m.room}`;
        const last = this.last.get(key);
        if (last !== undefined) {
          if (data.n <= last) report.duplicated++;
          else if (data.n > last + 1) {
            report.lost += data.n - last - 1;
            this.ctx.log?.(`gap: ${this.userId} from s${data.s} ${last} -> ${data.n}`);
          }
        }
        this.last.set(key, Math.max(data.n, last ?? 0));
        return;
      }
      case 'token_expiring':
        if (this.refreshes) void this.#refresh();
        return;
      default:
        return;
    }
  }

  async #refresh(): Promise<void> {
    try {
      await this.mint();
      if (this.state !== 'live') return; // the next connect uses the new token
      const r = await this.request({ type: 'refresh', token: this.token });
      if (r.type === 'ack') this.ctx.report.refreshes++;
      else if (r !== CLOSED) {
        this.ctx.report.errors++;
        this.ctx.log?.(`refresh answered ${JSON.stringify(r)} on ${this.userId}`);
      }
    } catch (err) {
      if (this.ctx.stopping) return;
      this.ctx.report.errors++;
      this.ctx.log?.(`refresh failed for ${this.userId}: ${(err as Error).message}`);
    }
  }

  #onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    for (const p of this.pending.values()) p.resolve(CLOSED);
    this.pending.clear();
    if (this.state === 'cut' || this.ctx.stopping) return;
    this.joined = false;
    if (!this.refreshes && code === 4401 && reason === 'token_expired') {
      // Expected for non-refreshers: a new token, a new peer, a fresh start for receivers.
      this.state = 'closed';
      void (async () => {
        try {
          this.sessionId = undefined;
          await this.mint();
          await this.connect(false);
          this.last.clear();
          await this.join();
          this.ctx.report.expiredAndReconnected++;
        } catch (err) {
          if (this.ctx.stopping) return;
          this.ctx.report.errors++;
          this.ctx.log?.(`reconnect failed for ${this.userId}: ${(err as Error).message}`);
        }
      })();
      return;
    }
    this.state = 'closed';
    this.ctx.report.unexpectedCloses++;
    this.ctx.log?.(`unexpected close ${code} ${reason} on ${this.userId}`);
  }
}

interface SoakContext {
  agent: Agent;
  port: number;
  base: string;
  wsBase: string;
  apiKey: string;
  ttl: number;
  report: SoakReport;
  stopping: boolean;
  log: ((line: string) => void) | undefined;
}

function post(
  ctx: SoakContext,
  path: string,
  body: string,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: ctx.port,
        path,
        method: 'POST',
        agent: ctx.agent,
        headers: {
          authorization: `Bearer ${ctx.apiKey}`,
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Picks `fraction` of `items` at random (at least one when fraction > 0 and items exist). */
function pick<T>(items: T[], fraction: number): T[] {
  if (fraction <= 0 || items.length === 0) return [];
  const n = Math.max(1, Math.round(items.length * fraction));
  return [...items].sort(() => Math.random() - 0.5).slice(0, n);
}

async function inBatches<T>(
  items: T[],
  size: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const ttl = options.tokenTtlSeconds ?? 20;
  const burst = options.burst ?? 2;
  const server = await startServer({
    'auth.minTokenTtlSeconds': 5,
    'auth.accessTokenTtlSeconds': 60,
    'auth.clockToleranceSeconds': 5,
    'auth.mintRatePerSecond': 100_000,
    'signal.handshakesPerSecondPerIp': 1_000_000,
    'signal.maxConnectionsPerIp': 1_000_000,
    'signal.maxPeersPerRoom': 100_000,
    'signal.resumeGraceMs': 30_000,
    'signal.maxEventLoopLagMs': 0,
    'signal.tokenExpiringLeadSeconds': 60,
  });
  const report: SoakReport = {
    connections: options.connections,
    rooms: options.rooms,
    durationMs: options.durationMs,
    rounds: 0,
    sent: 0,
    acked: 0,
    unconfirmed: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    refreshes: 0,
    resumes: 0,
    resumeFailures: 0,
    leavesAndRejoins: 0,
    expiredAndReconnected: 0,
    unexpectedCloses: 0,
    errors: 0,
    problems: [],
    serverRssStartBytes: server.rss,
    serverRssConnectedBytes: 0,
    serverRssEndBytes: 0,
    serverHeapConnectedBytes: 0,
    serverHeapEndBytes: 0,
    serverEventLoopDelayP99Ms: 0,
    serverEventLoopDelayMaxMs: 0,
  };
  const ctx: SoakContext = {
    agent: new Agent({ keepAlive: true, maxSockets: 32 }),
    port: server.port,
    base: `http://127.0.0.1:${server.port}`,
    wsBase: `ws://127.0.0.1:${server.port}`,
    apiKey: server.apiKey,
    ttl,
    report,
    stopping: false,
    log: (line) => {
      if (report.problems.length < 20) report.problems.push(line);
      options.log?.(line);
    },
  };
  const expireEvery =
    options.expireFraction === 0 ? 0 : Math.round(1 / (options.expireFraction ?? 0.03));
  const peers = Array.from(
    { length: options.connections },
    (_, i) => new SoakPeer(i, options.rooms, expireEvery === 0 || i % expireEvery !== 1, ctx),
  );
  try {
    const t0 = Date.now();
    await inBatches(peers, 100, async (p) => {
      await p.mint();
      await p.connect(false);
      await p.join();
    });
    options.log?.(`${peers.length} connected and joined in ${Date.now() - t0} ms`);
    const connected = await server.ask<{ rssBytes: number; heapUsedBytes: number }>('report');
    report.serverRssConnectedBytes = connected.rssBytes;
    report.serverHeapConnectedBytes = connected.heapUsedBytes;
    await server.ask('start');

    let cut: SoakPeer[] = [];
    let left: SoakPeer[] = [];
    const started = Date.now();
    const steady = () => peers.filter((p) => p.refreshes && p.state === 'live' && p.joined);
    while (Date.now() - started < options.durationMs) {
      report.rounds++;
      // Resume the connections cut last round (their buffered messages replay in order).
      await inBatches(cut, 100, async (p) => {
        if (await p.resume()) report.resumes++;
      });
      await inBatches(left, 100, async (p) => {
        await p.join();
        report.leavesAndRejoins++;
      });
      // Traffic: every live, joined connection publishes its burst.
      await Promise.all(peers.map((p) => p.publishBurst(burst)));
      await sleep(150); // in-flight broadcasts land
      // Churn for the next round.
      cut = pick(steady(), options.cutFraction ?? 0.02);
      for (const p of cut) p.cut();
      left = pick(steady(), options.leaveFraction ?? 0.02);
      await Promise.all(left.map((p) => p.leave()));
      await sleep(100); // the server notices the drops and parks those peers
      if (report.rounds % 10 === 0)
        options.log?.(
          `round ${report.rounds}: sent ${report.sent} delivered ${report.delivered} lost ${report.lost} dup ${report.duplicated} refreshes ${report.refreshes} resumes ${report.resumes}`,
        );
    }
    // Bring everyone back, one last round, let it land.
    await inBatches(cut, 100, async (p) => {
      if (await p.resume()) report.resumes++;
    });
    await inBatches(left, 100, async (p) => {
      await p.join();
      report.leavesAndRejoins++;
    });
    await Promise.all(peers.map((p) => p.publishBurst(burst)));
    await sleep(500);
    ctx.stopping = true;
    const end = await server.ask<{
      rssBytes: number;
      heapUsedBytes: number;
      eventLoopDelayP99Ms: number;
      eventLoopDelayMaxMs: number;
    }>('report');
    report.serverRssEndBytes = end.rssBytes;
    report.serverHeapEndBytes = end.heapUsedBytes;
    report.serverEventLoopDelayP99Ms = Math.round(end.eventLoopDelayP99Ms * 10) / 10;
    report.serverEventLoopDelayMaxMs = Math.round(end.eventLoopDelayMaxMs * 10) / 10;
    return report;
  } finally {
    ctx.stopping = true;
    ctx.agent.destroy();
    for (const p of peers) p.ws?.terminate();
    const exited = new Promise((r) => server.child.once('exit', r));
    server.child.send({ type: 'stop' });
    await Promise.race([exited, sleep(5000)]);
    if (server.child.exitCode === null) server.child.kill('SIGKILL');
  }
}
