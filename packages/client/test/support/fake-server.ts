import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { randomBytes } from 'node:crypto';
import { WebSocketServer, type WebSocket } from 'ws';
import {
  BEARER_PREFIX,
  ErrorCodes,
  PROTOCOL,
  RESUME_PREFIX,
  parseClientMessage,
  type AckMessage,
  type ClientMessage,
  type ClientMessageType,
  type ErrorCode,
  type IceServer,
  type PeerInfo,
  type ServerMessage,
  type SignalLimits,
  type WelcomeMessage,
} from '@callgate/protocol';

/**
 * An in-process `callgate.v1` server for the SDK's tests, in the spirit of centrifuge-js's
 * fakeServer.ts: it speaks the real protocol (frames are checked with `parseClientMessage`,
 * answers are typed `ServerMessage`s) and every decision a test cares about is scriptable —
 * which tokens to accept, what `welcome` says, whether a resume is honoured, what a join
 * snapshot holds, when to send `token_expiring` or `going_away`, how to close (any code, or a
 * TCP cut without a close frame). It records every connection attempt with its subprotocols
 * and every message received.
 */

/** One upgrade request, accepted or not. */
export interface ConnectionAttempt {
  index: number;
  path: string;
  /** The subprotocol list as offered. */
  protocols: string[];
  token: string | undefined;
  resumeToken: string | undefined;
}

/** A refusal decided by `authorize`: a close right after the handshake, as the real server does. */
export interface Refusal {
  code: number;
  reason: string;
}

export const DEFAULT_LIMITS: SignalLimits = {
  maxMessageBytes: 65_536,
  maxRoomsPerConnection: 16,
  maxPeersPerRoom: 100,
  messagesPerSecond: 100,
  burst: 200,
  resumeGraceMs: 10_000,
};

export const DEFAULT_ICE: IceServer[] = [
  { urls: ['stun:turn.test:3478'] },
  { urls: ['turn:turn.test:3478?transport=udp'], username: '1:sid', credential: 'c1' },
];

/** A fresh peer id in the server's format (22 base64url characters). */
export function newPeerId(): string {
  return randomBytes(16).toString('base64url');
}

/** One accepted WebSocket. */
export class FakeConnection {
  readonly attempt: ConnectionAttempt;
  readonly ws: WebSocket;
  readonly received: ClientMessage[] = [];
  /** Frames that failed `parseClientMessage`. */
  readonly invalid: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  welcome: WelcomeMessage | undefined;
  #waiters: Array<() => void> = [];
  #server: FakeServer;

  constructor(server: FakeServer, attempt: ConnectionAttempt, ws: WebSocket) {
    this.#server = server;
    this.attempt = attempt;
    this.ws = ws;
    this.closed = new Promise((resolve) => {
      ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString('utf8') });
        this.#wake();
      });
    });
    ws.on('error', () => {});
    ws.on('message', (data, isBinary) => {
      const text = isBinary ? '' : Buffer.isBuffer(data) ? data.toString('utf8') : String(data);
      const parsed = parseClientMessage(text);
      if (!parsed.ok) {
        this.invalid.push(text);
        this.#wake();
        return;
      }
      this.received.push(parsed.message);
      server.received.push({ connection: attempt.index, message: parsed.message });
      this.#wake();
      if (!server.onMessage?.(this, parsed.message) && server.autoRespond)
        this.respond(parsed.message);
    });
  }

  get peerId(): string | undefined {
    return this.welcome?.peerId;
  }

  get open(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  send(message: ServerMessage | string): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Sends `welcome` (fields from the server's settings, then `overrides`). */
  sendWelcome(overrides: Partial<WelcomeMessage> = {}): WelcomeMessage {
    const s = this.#server;
    const serverTime = s.serverTime();
    const welcome: WelcomeMessage = {
      type: 'welcome',
      peerId: newPeerId(),
      sessionId: 'c2Vzc2lvbi0xMjM0NTY3OA',
      tenant: 'acme',
      expiresAt: serverTime + s.tokenTtlMs,
      serverTime,
      iceServers: s.iceServers,
      resumeToken: `rt${s.resumeTokens.size + 1}x${randomBytes(6).toString('hex')}`,
      limits: s.limits,
      ...overrides,
    };
    s.resumeTokens.set(welcome.resumeToken, welcome.peerId);
    this.welcome = welcome;
    this.send(welcome);
    return welcome;
  }

  /** This connection as other members see it. */
  get info(): PeerInfo {
    return { peerId: this.peerId ?? '', userId: `user${this.attempt.index}`, metadata: {} };
  }

  /** The default answer to a request: what the real server says when everything is allowed. */
  respond(m: ClientMessage): void {
    const s = this.#server;
    const id = m.id !== undefined ? { id: m.id } : {};
    if (s.relay && s.route(this, m)) return;
    switch (m.type) {
      case 'join': {
        const peers = s.snapshots.get(m.room);
        return this.send({ type: 'ack', ...id, room: m.room, ...(peers ? { peers } : {}) });
      }
      case 'leave':
        return this.send({ type: 'ack', ...id, room: m.room });
      case 'send':
        return this.send({ type: 'ack', ...id });
      case 'publish':
        return this.send({ type: 'ack', ...id, room: m.room });
      case 'refresh':
        return this.send({
          type: 'ack',
          ...id,
          expiresAt: s.serverTime() + s.tokenTtlMs,
          iceServers: s.refreshIceServers ?? s.iceServers,
        });
      case 'ping':
        return this.send({ type: 'pong', ...id });
    }
  }

  ack(request: ClientMessage, extra: Omit<AckMessage, 'type' | 'id'> = {}): void {
    this.send({ type: 'ack', ...(request.id !== undefined ? { id: request.id } : {}), ...extra });
  }

  error(request: ClientMessage, code: ErrorCode, message = ErrorCodes[code].message): void {
    this.send({
      type: 'error',
      ...(request.id !== undefined ? { id: request.id } : {}),
      code,
      message,
    });
  }

  /** Closes with a close frame. */
  close(code: number, reason = ''): void {
    this.ws.close(code, reason);
  }

  /** Cuts the TCP connection without a close frame: the client sees 1006. */
  drop(): void {
    (this.ws as unknown as { _socket: Duplex })._socket.destroy();
  }

  /** Waits for the next received message of `type` (searching from `from`, default: all so far). */
  async next<T extends ClientMessageType>(
    type: T,
    pred: (m: Extract<ClientMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<Extract<ClientMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.received.find(
        (m): m is Extract<ClientMessage, { type: T }> =>
          m.type === type && !this.#taken.has(m) && pred(m as Extract<ClientMessage, { type: T }>),
      );
      if (found) {
        this.#taken.add(found);
        return found;
      }
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(
          `no ${type} within ${timeoutMs} ms; got ${JSON.stringify(this.received.map((r) => r.type))}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  readonly #taken = new Set<ClientMessage>();

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

export class FakeServer {
  readonly attempts: ConnectionAttempt[] = [];
  readonly connections: FakeConnection[] = [];
  readonly received: Array<{ connection: number; message: ClientMessage }> = [];
  /** Issued resume tokens and the peer each resumes. */
  readonly resumeTokens = new Map<string, string>();
  /** Join snapshots by room; a room not listed is acked without `peers` (no presence). */
  readonly snapshots = new Map<string, PeerInfo[]>();

  // ---- behaviour, changeable at any time ----------------------------------------------------
  /** Decides on each attempt; default: accept, except tokens listed in `rejectTokens`. */
  authorize: (attempt: ConnectionAttempt) => Refusal | null = (a) =>
    a.token === undefined
      ? { code: 4401, reason: 'token_missing' }
      : (this.rejectTokens.get(a.token) ?? null);
  /** Tokens to refuse after the handshake, with the close to send. */
  readonly rejectTokens = new Map<string, Refusal>();
  /** Answer HTTP with this status instead of upgrading (the client sees 1006). */
  refuseUpgradeStatus: number | undefined;
  /** Send `welcome` on accept (with resume handling); false leaves it to `onConnection`. */
  autoWelcome = true;
  /** Honour known resume tokens (same peer, `resumed: true`); false fails every resume. */
  honourResume = true;
  /** Answer requests with the default acks. */
  autoRespond = true;
  /** The server's clock for `serverTime` and `expiresAt`. */
  serverTime: () => number = () => Date.now();
  tokenTtlMs = 300_000;
  iceServers: IceServer[] = DEFAULT_ICE;
  /** ICE servers of refresh acks (defaults to `iceServers`). */
  refreshIceServers: IceServer[] | undefined;
  limits: SignalLimits = DEFAULT_LIMITS;
  /**
   * Behave like a small real server: rooms with members (join snapshots of the others,
   * presence to the others), `send` and `publish` delivered between connections.
   */
  relay = false;
  /** Called for each accepted connection, after the automatic welcome (if any). */
  onConnection: ((c: FakeConnection) => void) | undefined;
  /** Called for each valid message; return true to suppress the automatic answer. */
  onMessage: ((c: FakeConnection, m: ClientMessage) => boolean | void) | undefined;

  readonly #http: Server;
  readonly #wss: WebSocketServer;
  #url = '';
  #waiters: Array<() => void> = [];

  private constructor() {
    this.#wss = new WebSocketServer({
      noServer: true,
      handleProtocols: (protocols) => (protocols.has(PROTOCOL) ? PROTOCOL : false),
    });
    this.#http = createServer((_req, res) => res.writeHead(404).end());
    this.#http.on('upgrade', (req, socket, head) => this.#upgrade(req, socket, head));
  }

  /** Listens on 127.0.0.1, port 0. */
  static async start(): Promise<FakeServer> {
    const s = new FakeServer();
    await new Promise<void>((resolve) => s.#http.listen(0, '127.0.0.1', resolve));
    const { port } = s.#http.address() as AddressInfo;
    s.#url = `ws://127.0.0.1:${port}`;
    return s;
  }

  /** The base URL (`ws://127.0.0.1:<port>`); the SDK appends `/v1/signal`. */
  get url(): string {
    return this.#url;
  }

  /** The latest connection. */
  get last(): FakeConnection {
    const c = this.connections.at(-1);
    if (!c) throw new Error('no connection yet');
    return c;
  }

  /** Waits until there are more than `count` connections and returns the newest. */
  async nextConnection(count = this.connections.length, timeoutMs = 3000): Promise<FakeConnection> {
    await this.#until(() => this.connections.length > count, `connection #${count + 1}`, timeoutMs);
    return this.connections[count]!;
  }

  /** Waits until `count` attempts (accepted or not) have been made. */
  async waitForAttempts(count: number, timeoutMs = 3000): Promise<void> {
    await this.#until(() => this.attempts.length >= count, `${count} attempts`, timeoutMs);
  }

  /** Sends `going_away {retryAfterMs}` on every open connection. */
  goingAway(retryAfterMs: number): void {
    for (const c of this.connections) if (c.open) c.send({ type: 'going_away', retryAfterMs });
  }

  readonly #members = new Map<string, Set<FakeConnection>>();

  /** Relay mode: handles join/leave/send/publish between connections; false for the rest. */
  route(from: FakeConnection, m: ClientMessage): boolean {
    const id = m.id !== undefined ? { id: m.id } : {};
    const others = (room: string) =>
      [...(this.#members.get(room) ?? [])].filter((c) => c !== from && c.open);
    switch (m.type) {
      case 'join': {
        const peers = others(m.room).map((c) => c.info);
        let set = this.#members.get(m.room);
        if (!set) this.#members.set(m.room, (set = new Set()));
        set.add(from);
        from.send({ type: 'ack', ...id, room: m.room, peers });
        for (const o of others(m.room))
          o.send({ type: 'presence', room: m.room, joined: [from.info], left: [] });
        return true;
      }
      case 'leave':
        this.#members.get(m.room)?.delete(from);
        from.send({ type: 'ack', ...id, room: m.room });
        for (const o of others(m.room))
          o.send({ type: 'presence', room: m.room, joined: [], left: [from.peerId ?? ''] });
        return true;
      case 'send': {
        const to = this.connections.find((c) => c.open && c.peerId === m.to);
        if (!to) {
          from.error(m, 'peer_not_found');
          return true;
        }
        to.send({ type: 'message', from: from.peerId ?? '', data: m.data });
        from.send({ type: 'ack', ...id });
        return true;
      }
      case 'publish':
        for (const o of others(m.room))
          o.send({ type: 'message', from: from.peerId ?? '', room: m.room, data: m.data });
        from.send({ type: 'ack', ...id, room: m.room });
        return true;
      default:
        return false;
    }
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.ws.terminate();
    this.#wss.close();
    await new Promise<void>((resolve) => this.#http.close(() => resolve()));
  }

  #upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const header = req.headers['sec-websocket-protocol'];
    const protocols = (header ?? '')
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== '');
    const bearer = protocols.find((p) => p.startsWith(BEARER_PREFIX));
    const resume = protocols.find((p) => p.startsWith(RESUME_PREFIX));
    const attempt: ConnectionAttempt = {
      index: this.attempts.length,
      path: req.url ?? '',
      protocols,
      token: bearer?.slice(BEARER_PREFIX.length),
      resumeToken: resume?.slice(RESUME_PREFIX.length),
    };
    this.attempts.push(attempt);
    this.#wake();
    if (this.refuseUpgradeStatus !== undefined) {
      socket.end(
        `HTTP/1.1 ${this.refuseUpgradeStatus} Refused\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
      );
      return;
    }
    this.#wss.handleUpgrade(req, socket, head, (ws) => {
      const refusal = this.authorize(attempt);
      if (refusal) {
        ws.on('error', () => {});
        ws.close(refusal.code, refusal.reason);
        return;
      }
      const conn = new FakeConnection(this, attempt, ws);
      this.connections.push(conn);
      if (this.autoWelcome) this.#welcome(conn);
      this.onConnection?.(conn);
      this.#wake();
    });
  }

  /** The real server's resume rule: a known token resumes its peer, anything else is new. */
  #welcome(conn: FakeConnection): void {
    const rt = conn.attempt.resumeToken;
    if (rt === undefined) {
      conn.sendWelcome();
      return;
    }
    const peerId = this.resumeTokens.get(rt);
    this.resumeTokens.delete(rt);
    if (peerId !== undefined && this.honourResume) {
      conn.sendWelcome({ peerId, resumed: true });
      return;
    }
    conn.sendWelcome({ resumed: false });
    conn.send({ type: 'error', code: 'resume_failed', message: ErrorCodes.resume_failed.message });
  }

  async #until(pred: () => boolean, what: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`fake server: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}
