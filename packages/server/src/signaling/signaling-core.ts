import type { UpgradeRequest } from './fast-upgrade.js';
import type { Duplex } from 'node:stream';
import {
  CloseCode,
  ErrorCodes,
  PROTOCOL,
  SERVER_SENDER,
  parseClientMessage,
  type ClientMessage,
  type ErrorCode,
  type IceServer,
  type ServerMessage,
  type SignalLimits,
  type WelcomeMessage,
} from '@callgate/protocol';
import type { Services } from '../services.js';
import type { CallgateConfig } from '../config/config.js';
import type { Clock } from '../util/clock.js';
import { createRateLimiter } from '../util/rate-limiter.js';
import { createLagMonitor, type LagMonitor } from '../util/event-loop-lag.js';
import { randomId } from '../util/random-id.js';
import { clientAddress } from '../app.js';
import { redactUrl } from '../log/create-logger.js';
import { TokenError } from '../auth/token-error.js';
import type { VerifiedAccessToken } from '../auth/verify-access-token.js';
import type { Bus, ControlEvent } from './bus.js';
import { inspectUpgrade, refuseUpgrade, type HandshakeOffer } from './handshake.js';
import { Peer, frame } from './peer.js';
import { Outbox } from './outbox.js';
import { rawMember } from './raw-json.js';
import { WireSocket, WireState, type WireListener, type WireOptions } from './websocket.js';
import { dispatch, peerInfo } from './handlers.js';

export const SIGNAL_PATH = '/v1/signal';

/** How long a closing socket may take to finish its close handshake before it is terminated. */
const CLOSE_TIMEOUT_MS = 2000;
/**
 * Under load, how long a queued frame may wait for the rest of the turn's socket reads before
 * it is written (outbox.ts): long enough to coalesce a burst, short enough not to show in
 * latency. With headroom frames are written at the end of the read that made them.
 */
const MAX_WRITE_DELAY_MS = 0.2;
/** `Retry-After` (seconds) for handshakes refused while the event loop lags (catalogue H87). */
const OVERLOAD_RETRY_AFTER_S = 2;

/**
 * A handshake past its checks, waiting on its token's verification: what the upgrade needs to
 * go on, or to refuse. It keeps the request's URL (for the log), not the request and its
 * headers, which carry the token.
 */
interface PendingUpgrade {
  readonly socket: Duplex;
  readonly head: Buffer;
  readonly offer: HandshakeOffer;
  /** Gives the client address's connection slot back (once). */
  readonly release: () => void;
  readonly remote: string;
  readonly url: string | undefined;
}

/**
 * The signaling server of design.md ("Signaling protocol callgate.v1"): authenticates the
 * upgrade, then checks expiry, revocation, rate and scope on every message; refresh, resume,
 * heartbeats, limits and drain. Peers on other nodes are reached only through the {@link Bus}.
 */
export class SignalingCore {
  readonly services: Services;
  readonly bus: Bus;
  readonly clock: Clock;
  readonly config: CallgateConfig['signal'];
  readonly #wire: WireOptions;
  readonly #peers = new Map<string, Peer>();
  readonly #byResume = new Map<string, Peer>();
  readonly #byUser = new PeerIndex();
  readonly #bySession = new PeerIndex();
  readonly #handshakeLimiter: ReturnType<typeof createRateLimiter>;
  readonly #heartbeat: NodeJS.Timeout;
  readonly #limits: SignalLimits;
  readonly #toleranceMs: number;
  /** Live sockets plus handshakes in progress, per client address (catalogue D60). */
  readonly #byIp = new Map<string, number>();
  readonly #lag: LagMonitor | undefined;
  /** Frames coalesced per socket: per read with headroom, per turn under load (outbox.ts). */
  readonly #outbox = new Outbox<Peer>((peer, data) => this.#writeNow(peer, data), {
    maxDelayMs: MAX_WRITE_DELAY_MS,
  });

  constructor(services: Services, bus: Bus) {
    this.services = services;
    this.bus = bus;
    this.clock = services.clock;
    this.config = services.config.signal;
    this.#toleranceMs = services.config.auth.clockToleranceSeconds * 1000;
    // Compression is never negotiated: no inflate bombs (catalogue D53), no CPU per frame.
    this.#wire = { maxPayload: this.config.maxMessageBytes, closeTimeoutMs: CLOSE_TIMEOUT_MS };
    this.#handshakeLimiter = createRateLimiter({
      ratePerSecond: this.config.handshakesPerSecondPerIp,
      burst: this.config.handshakesPerSecondPerIp * 2,
      clock: this.clock,
    });
    this.#limits = {
      maxMessageBytes: this.config.maxMessageBytes,
      maxRoomsPerConnection: this.config.maxRoomsPerConnection,
      maxPeersPerRoom: this.config.maxPeersPerRoom,
      messagesPerSecond: this.config.messagesPerSecond,
      burst: this.config.messageBurst,
      resumeGraceMs: this.config.resumeGraceMs,
    };
    // At most a second apart: with each peer's ping phase random (#accept), a sweep pings about
    // sweepMs / pingIntervalMs of the peers, never all of them at once.
    const sweepMs = Math.max(
      50,
      Math.min(1000, this.config.pingIntervalMs / 4, this.config.pongTimeoutMs / 2),
    );
    this.#heartbeat = setInterval(() => this.#sweep(), sweepMs);
    this.#heartbeat.unref();
    if (this.config.maxEventLoopLagMs > 0) this.#lag = createLagMonitor();
    bus.onControl((event) => this.#onControl(event));
  }

  get log() {
    return this.services.log;
  }

  /** Live and parked peers on this node. */
  get size(): number {
    return this.#peers.size;
  }

  // ---------------------------------------------------------------------------------------
  // Handshake

  /** The HTTP server's `upgrade` listener. Checks run in design.md's order before any frame. */
  handleUpgrade(req: UpgradeRequest, socket: Duplex, head: Buffer): void {
    // Listeners that outlive the handshake are made outside this scope (destroyOnError,
    // #holdSlot): a closure made here would keep `req` (headers, token) alive with the socket.
    socket.on('error', destroyOnError);
    const query = signalQuery(req.url);
    if (query === undefined) return refuseUpgrade(socket, { status: 404, code: 'not_found' });
    if (query === null) return refuseUpgrade(socket, { status: 400, code: 'bad_request' });
    const remote = clientAddress(req, this.services.config.server.trustProxy);
    if (this.services.draining)
      return refuseUpgrade(socket, {
        status: 503,
        code: 'draining',
        headers: { 'retry-after': '2' },
      });
    // Overload (catalogue H87, OWASP toobusy): a lagging loop would make every connection
    // worse; new handshakes are shed before any crypto, live sockets are left alone.
    const lagMs = this.#lag?.lagMs() ?? 0;
    if (lagMs > this.config.maxEventLoopLagMs) {
      this.log.warn(
        { event: 'ws_refused', code: 'overloaded', remote, lagMs: Math.round(lagMs) },
        'handshake refused',
      );
      return refuseUpgrade(socket, {
        status: 503,
        code: 'overloaded',
        headers: { 'retry-after': String(OVERLOAD_RETRY_AFTER_S) },
      });
    }
    if (this.config.allowedOrigins.length > 0) {
      const origin = req.headers.origin;
      if (origin === undefined || !this.config.allowedOrigins.includes(origin)) {
        this.log.warn(
          { event: 'ws_refused', code: 'origin_forbidden', remote },
          'handshake refused',
        );
        return refuseUpgrade(socket, { status: 403, code: 'origin_forbidden' });
      }
    }
    const waitMs = this.#handshakeLimiter.take(remote);
    if (waitMs > 0) {
      this.log.warn({ event: 'ws_refused', code: 'rate_limited', remote }, 'handshake refused');
      return refuseUpgrade(socket, {
        status: 429,
        code: 'rate_limited',
        headers: { 'retry-after': String(Math.max(1, Math.ceil(waitMs / 1000))) },
      });
    }
    const offer = inspectUpgrade(req, query, this.config.allowQueryToken);
    if ('status' in offer) {
      this.log.warn(
        {
          event: 'ws_refused',
          code: offer.code,
          status: offer.status,
          remote,
          path: redactUrl(req.url),
        },
        'handshake refused',
      );
      return refuseUpgrade(socket, offer);
    }
    // Connections per address, counted from here until the socket closes (catalogue D60).
    const open = this.#byIp.get(remote) ?? 0;
    if (open >= this.config.maxConnectionsPerIp) {
      this.log.warn(
        { event: 'ws_refused', code: 'too_many_connections', remote, open },
        'handshake refused',
      );
      return refuseUpgrade(socket, {
        status: 429,
        code: 'too_many_connections',
        headers: { 'retry-after': '5' },
      });
    }
    const pending: PendingUpgrade = {
      socket,
      head,
      offer,
      release: this.#holdSlot(remote, open),
      remote,
      url: req.url,
    };
    // A token of the server's own keyring is verified here and now (no promise, no later
    // turn); one naming an external issuer needs its key set, and is awaited.
    const verifyNow = this.services.verifyToken.now;
    if (verifyNow !== undefined) {
      let verified: VerifiedAccessToken | undefined;
      try {
        verified = verifyNow(offer.token);
      } catch (err) {
        return this.#refuseToken(err, pending);
      }
      if (verified !== undefined) return this.#admit(verified, pending);
    }
    void this.services.verifyToken(offer.token).then(
      (verified) => this.#admit(verified, pending),
      (err: unknown) => this.#refuseToken(err, pending),
    );
  }

  /** A verified token: the upgrade, then the connection's setup and its welcome. */
  #admit(verified: VerifiedAccessToken, p: PendingUpgrade): void {
    this.#upgrade(p, (ws) => this.#accept(ws, verified, p.offer, p.remote));
  }

  /** A token that failed verification: logged, then closed with its code right after the 101. */
  #refuseToken(err: unknown, p: PendingUpgrade): void {
    const code: ErrorCode = err instanceof TokenError ? err.code : 'token_invalid';
    this.log.warn(
      {
        event: 'ws_auth_failed',
        code,
        detail: err instanceof TokenError ? err.detail : 'error',
        remote: p.remote,
        path: redactUrl(p.url),
      },
      'signaling auth failure',
    );
    // Complete the handshake only to close at once, so a browser can read the reason
    // (design.md "Handshake"); no frame from this client is ever read.
    this.#upgrade(p, (ws) => ws.close(ErrorCodes[code].close ?? CloseCode.TokenInvalid, code));
  }

  /** Takes one of the address's connection slots; the function returned gives it back once. */
  #holdSlot(remote: string, open: number): () => void {
    this.#byIp.set(remote, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const n = (this.#byIp.get(remote) ?? 1) - 1;
      if (n <= 0) this.#byIp.delete(remote);
      else this.#byIp.set(remote, n);
    };
  }

  #upgrade({ socket, head, offer, release }: PendingUpgrade, then: (ws: WireSocket) => void): void {
    // The address's connection slot is held until the socket is gone, however it ends.
    socket.once('close', release);
    if (socket.destroyed) return release();
    if (this.services.draining)
      return refuseUpgrade(socket, {
        status: 503,
        code: 'draining',
        headers: { 'retry-after': '2' },
      });
    // Select `callgate.v1` only; never echo `bearer.<token>` (RFC 6455 §4.2.2, catalogue D47).
    const ws = WireSocket.accept(
      socket,
      offer.key,
      offer.protocolOffered ? PROTOCOL : undefined,
      this.#wire,
    );
    // The first frames `then` sends (welcome, or a close) leave with the 101 in one write.
    then(ws);
    ws.start(head);
  }

  #accept(
    ws: WireSocket,
    verified: VerifiedAccessToken,
    offer: HandshakeOffer,
    remote: string,
  ): void {
    const claims = verified.claims;
    const now = this.clock.now();
    // Resume: same identity, a known resume token, within the grace (design.md "Resume").
    let resumeFailed = false;
    if (offer.resumeToken !== undefined) {
      const old = this.#byResume.get(offer.resumeToken);
      if (
        old &&
        old.tenant === claims.tid &&
        old.userId === claims.sub &&
        old.sessionId === claims.sid &&
        old.claims.iss === claims.iss &&
        !old.closing
      ) {
        void this.#resume(old, ws, verified, remote);
        return;
      }
      resumeFailed = true;
    }

    const userKey = `${claims.tid}\u0000${claims.sub}`;
    if (this.#byUser.count(userKey) >= this.config.maxConnectionsPerUser) {
      if (this.config.replaceDuplicateConnections) {
        const oldest = this.#byUser
          .peers(userKey)
          .sort((a, b) => a.connectedAt - b.connectedAt)[0]!;
        void this.closePeer(oldest, CloseCode.Replaced, 'replaced');
      } else {
        this.log.warn(
          {
            event: 'ws_refused',
            code: 'too_many_connections',
            tenant: claims.tid,
            sub: claims.sub,
            remote,
          },
          'connection limit',
        );
        ws.close(CloseCode.RateLimited, 'too_many_connections');
        return;
      }
    }

    const peer = new Peer({
      peerId: randomId(),
      connId: randomId(9),
      claims,
      resumeToken: randomId(32),
      socket: ws,
      remote,
      now,
      burst: this.config.messageBurst,
    });
    // A random phase within the first interval: connections opened together (a deploy, a
    // benchmark, a network coming back) are not all pinged in the same sweep.
    peer.lastPingAt = Date.now() - Math.random() * this.config.pingIntervalMs;
    this.#peers.set(peer.peerId, peer);
    this.#byResume.set(peer.resumeToken, peer);
    this.#byUser.add(userKey, peer);
    this.#bySession.add(`${claims.tid}\u0000${claims.sid}`, peer);
    this.bus.attach(peer.tenant, peer.peerId, (f) => this.#deliver(peer, f));
    this.#bindSocket(peer, ws);
    this.#scheduleTokenTimers(peer);
    this.sendTo(peer, this.#welcome(peer, resumeFailed ? false : undefined));
    if (resumeFailed)
      this.sendTo(peer, {
        type: 'error',
        code: 'resume_failed',
        message: ErrorCodes.resume_failed.message,
      });
    // Out now: the 101 and these frames leave in one write.
    this.#outbox.flushOne(peer);
    this.#logOpen(peer, undefined);
  }

  /** The `ws_open` line of a new connection, or of a resume with how many frames it replayed. */
  #logOpen(peer: Peer, replayed: number | undefined): void {
    this.log.info(
      {
        event: 'ws_open',
        conn: peer.connId,
        peerId: peer.peerId,
        tenant: peer.tenant,
        sub: peer.userId,
        sid: peer.sessionId,
        remote: peer.remote,
        resumed: replayed !== undefined,
        ...(replayed !== undefined ? { replayed } : {}),
      },
      replayed !== undefined ? 'signaling resumed' : 'signaling connected',
    );
  }

  async #resume(
    peer: Peer,
    ws: WireSocket,
    verified: VerifiedAccessToken,
    remote: string,
  ): Promise<void> {
    const previous = peer.socket;
    // Keep buffering until `welcome` is out, so nothing overtakes it or is lost meanwhile.
    peer.buffer ??= [];
    peer.socket = ws;
    if (previous) previous.terminate(); // a half-open old socket: replaced silently, nobody sees `left`
    clearTimeout(peer.graceTimer);
    peer.graceTimer = undefined;
    peer.connId = randomId(9);
    peer.remote = remote;
    peer.awaitingPongSince = 0;
    peer.forgetIds();
    this.#byResume.delete(peer.resumeToken);
    peer.resumeToken = randomId(32);
    this.#byResume.set(peer.resumeToken, peer);
    this.#bindSocket(peer, ws);
    // The presented token may grant fewer rooms than the old one: those are left first.
    await this.#applyClaims(peer, verified);
    if (peer.closing) return void ws.close(CloseCode.PolicyViolation, 'resume_failed');
    const buffered = peer.buffer ?? [];
    peer.buffer = null;
    peer.bufferBytes = 0;
    this.sendTo(peer, { ...this.#welcome(peer, true), rooms: [...peer.rooms] });
    for (const f of buffered) this.#write(peer, f);
    this.#logOpen(peer, buffered.length);
  }

  #welcome(peer: Peer, resumed: boolean | undefined): WelcomeMessage {
    return {
      type: 'welcome',
      peerId: peer.peerId,
      sessionId: peer.sessionId,
      tenant: peer.tenant,
      expiresAt: peer.expMs,
      serverTime: this.clock.now(),
      iceServers: this.#iceServers(peer),
      resumeToken: peer.resumeToken,
      limits: this.#limits,
      ...(resumed !== undefined ? { resumed } : {}),
    };
  }

  #iceServers(peer: Peer): IceServer[] {
    return (
      this.services.iceServersFor?.({
        tenant: peer.tenant,
        sessionId: peer.sessionId,
        userId: peer.userId,
      }) ?? []
    );
  }

  #bindSocket(peer: Peer, ws: WireSocket): void {
    // Frames queued for a previous socket are not replayed on this one (welcome comes first).
    this.#outbox.discard(peer);
    ws.owner = peer;
    ws.listener = this.#events;
  }

  /** What every peer's socket reports (one object for all of them: no closures per socket). */
  readonly #events: WireListener = {
    wireText: (ws, text) => {
      const peer = ws.owner as Peer;
      if (peer.socket === ws) this.#onMessage(peer, text);
    },
    wireBinary: (ws) => {
      const peer = ws.owner as Peer;
      if (peer.socket === ws && !peer.closing)
        void this.closePeer(peer, CloseCode.UnsupportedData, 'binary_not_supported');
    },
    wirePong: (ws) => {
      const peer = ws.owner as Peer;
      if (peer.socket === ws) peer.awaitingPongSince = 0;
    },
    // With headroom the read's frames leave now; under load they wait at most
    // MAX_WRITE_DELAY_MS for the rest of a long turn (outbox.ts).
    wireRead: () => this.#outbox.readDone(),
    // A socket that is no longer its peer's, or whose peer is closing, closes itself.
    wireFailure: (ws, code, reason) => {
      const peer = ws.owner as Peer;
      if (peer.socket !== ws || peer.closing) return false;
      void this.closePeer(peer, code, reason);
      return true;
    },
    wireClose: (ws, code, reason) => {
      const peer = ws.owner as Peer;
      if (peer.socket !== ws) return;
      this.log.info(
        {
          event: 'ws_close',
          conn: peer.connId,
          peerId: peer.peerId,
          tenant: peer.tenant,
          sub: peer.userId,
          code,
          reason: reason.slice(0, 64),
        },
        'signaling closed',
      );
      peer.socket = null;
      this.#outbox.discard(peer);
      if (peer.closing) return;
      // 1006: the connection dropped without a close frame: keep the peer for a resume.
      if (code === 1006 && this.config.resumeGraceMs > 0 && !this.services.draining)
        this.#park(peer);
      else void this.#remove(peer);
    },
  };

  // ---------------------------------------------------------------------------------------
  // Messages

  #onMessage(peer: Peer, text: string): void {
    if (peer.closing) return;
    const now = this.clock.now();
    // Every message: expiry, revocation (cached claims, O(1)), then rate (design.md).
    if (now >= peer.expMs + this.#toleranceMs)
      return void this.closePeer(peer, CloseCode.TokenInvalid, 'token_expired');
    // Revocation: looked up again only when the list changed since this peer last passed.
    const revocations = this.services.revocations;
    if (peer.revocationVersion !== revocations.version) {
      if (revocations.isRevoked(peer.tenant, peer.sessionId, peer.claims.jti))
        return void this.closePeer(peer, CloseCode.Forbidden, 'token_revoked');
      peer.revocationVersion = revocations.version;
    }
    peer.bucket = Math.min(
      this.config.messageBurst,
      // A clock stepped backwards must not drain the bucket (elapsed time is never negative).
      peer.bucket + (Math.max(0, now - peer.bucketAt) * this.config.messagesPerSecond) / 1000,
    );
    peer.bucketAt = now;
    if (peer.bucket < 1) {
      peer.strikes++;
      if (peer.strikes >= this.config.rateLimitStrikes)
        return void this.closePeer(peer, CloseCode.RateLimited, 'rate_limited');
      // Parse only to echo the request's id, so the client can settle that request.
      const limited = parseClientMessage(text);
      const limitedId = limited.ok ? limited.message.id : limited.error.id;
      return this.sendTo(peer, {
        type: 'error',
        ...(limitedId !== undefined ? { id: limitedId } : {}),
        code: 'rate_limited',
        message: ErrorCodes.rate_limited.message,
      });
    }
    peer.bucket -= 1;
    peer.strikes = 0;

    const parsed = parseClientMessage(text);
    if (!parsed.ok) {
      peer.invalid++;
      if (peer.invalid >= this.config.maxInvalidMessages)
        return void this.closePeer(peer, CloseCode.ProtocolViolation, 'protocol_violation');
      return this.sendTo(peer, { type: 'error', ...parsed.error });
    }
    // Replay (catalogue E68): an `id` seen in this connection's recent window is not processed
    // again; the sender learns why (docs/protocol.md "Message ids").
    const id = parsed.message.id;
    if (id !== undefined) {
      if (peer.hasSeenId(id))
        return this.sendTo(peer, {
          type: 'error',
          id,
          code: 'duplicate_id',
          message: ErrorCodes.duplicate_id.message,
        });
      peer.rememberId(id);
    }
    // Messages of one peer are handled in order even when a handler awaits (join).
    const message = parsed.message;
    if (peer.queue) peer.queue = peer.queue.then(() => this.#run(peer, message, text));
    else {
      const r = this.#run(peer, message, text);
      if (r) {
        const q: Promise<void> = r.then(() => {
          if (peer.queue === q) peer.queue = undefined;
        });
        peer.queue = q;
      }
    }
  }

  #run(peer: Peer, message: ClientMessage, text: string): Promise<void> | undefined {
    if (peer.closing) return undefined;
    try {
      const r = dispatch(this, peer, message, text);
      if (r instanceof Promise)
        return r.catch((err: unknown) => this.#internalError(peer, message.id, err));
    } catch (err) {
      this.#internalError(peer, message.id, err);
    }
    return undefined;
  }

  #internalError(peer: Peer, id: string | undefined, err: unknown): void {
    this.log.error(
      { event: 'handler_error', conn: peer.connId, err: { message: (err as Error).message } },
      'handler failed',
    );
    this.sendTo(peer, {
      type: 'error',
      ...(id !== undefined ? { id } : {}),
      code: 'internal_error',
      message: ErrorCodes.internal_error.message,
    });
  }

  /**
   * A `message` frame stamped by the server: `from` is always the authenticated peer (E64).
   * Built as a string: the sender's metadata is serialized once per token, not per message,
   * and `data` is copied as the client wrote it (JSON that has just been parsed, found by
   * {@link rawMember}) rather than serialized again; the result parses to
   * { type, from, room?, data, fromMetadata? }.
   *
   * @param text the frame `data` was parsed from
   */
  messageFrame(peer: Peer, room: string | undefined, data: unknown, text: string): string {
    const md = peer.metadataJson();
    const raw = rawMember(text, 'data');
    return (
      `{"type":"message","from":${JSON.stringify(peer.peerId)}` +
      (room !== undefined ? `,"room":${JSON.stringify(room)}` : '') +
      `,"data":${raw ?? JSON.stringify(data) ?? 'null'}` +
      (md !== undefined ? `,"fromMetadata":${md}}` : '}')
    );
  }

  /** Sends a server message to a local peer's socket (acks, errors, welcome). */
  sendTo(peer: Peer, message: ServerMessage): void {
    this.#write(peer, frame(message));
  }

  /** The bus sink: the socket when live, the resume buffer when parked. */
  #deliver(peer: Peer, f: string): void {
    if (peer.buffer !== null) {
      peer.buffer.push(f);
      peer.bufferBytes += f.length;
      if (
        peer.buffer.length > this.config.resumeBufferMessages ||
        peer.bufferBytes > this.config.resumeBufferBytes
      ) {
        // Nothing is dropped silently: the peer is released, and its resume will fail.
        this.log.info(
          { event: 'resume_buffer_overflow', peerId: peer.peerId, tenant: peer.tenant },
          'resume buffer full',
        );
        void this.#remove(peer);
      }
      return;
    }
    this.#write(peer, f);
  }

  #write(peer: Peer, f: string): void {
    const ws = peer.socket;
    if (ws === null || ws.state !== WireState.Open || peer.closing) return;
    this.#outbox.push(peer, this.#outbox.encode(f));
  }

  /** The outbox's sink: one write of this turn's frames; a slow consumer is closed (1008). */
  #writeNow(peer: Peer, data: Buffer): void {
    const ws = peer.socket;
    if (ws === null || ws.state !== WireState.Open || peer.closing) return;
    const raw = ws.socket;
    if (!raw.writable) return;
    ws.send(data);
    if (raw.writableLength > this.config.maxBufferedBytes)
      void this.closePeer(peer, CloseCode.PolicyViolation, 'slow_consumer');
  }

  // ---------------------------------------------------------------------------------------
  // Rooms, refresh, timers

  async leaveRoom(peer: Peer, room: string): Promise<void> {
    peer.rooms.delete(room);
    if (await this.bus.leave(peer.tenant, room, peer.peerId))
      this.bus.deliverToRoom(
        peer.tenant,
        room,
        frame({ type: 'presence', room, joined: [], left: [peer.peerId] }),
        {
          requirePermission: 'presence',
        },
      );
  }

  /** In-band refresh (design.md "Refresh"). */
  async refresh(peer: Peer, token: string, id: string | undefined): Promise<void> {
    let verified: VerifiedAccessToken;
    try {
      verified = await this.services.verifyToken(token);
    } catch (err) {
      const code: ErrorCode = err instanceof TokenError ? err.code : 'token_invalid';
      this.log.warn(
        {
          event: 'refresh_failed',
          conn: peer.connId,
          code,
          detail: err instanceof TokenError ? err.detail : 'error',
        },
        'refresh failed',
      );
      // An external issuer's keys could not be fetched: the current token is still good, so
      // the connection stays and the client retries the refresh (docs/external-issuers.md).
      if (code === 'issuer_unavailable')
        return this.sendTo(peer, {
          type: 'error',
          ...(id !== undefined ? { id } : {}),
          code,
          message: ErrorCodes[code].message,
        });
      return this.closePeer(peer, ErrorCodes[code].close ?? CloseCode.TokenInvalid, code);
    }
    const c = verified.claims;
    // `iss` too: two trusted issuers mapping to one tenant may share `sub` and `sid` values.
    if (
      c.sub !== peer.userId ||
      c.tid !== peer.tenant ||
      c.sid !== peer.sessionId ||
      c.iss !== peer.claims.iss
    )
      return this.closePeer(peer, CloseCode.Forbidden, 'identity_changed');
    await this.#applyClaims(peer, verified);
    this.sendTo(peer, {
      type: 'ack',
      ...(id !== undefined ? { id } : {}),
      expiresAt: peer.expMs,
      iceServers: this.#iceServers(peer),
      rooms: [...peer.rooms],
    });
  }

  /** New claims: rooms no longer granted are left (others see `left`), permissions updated. */
  async #applyClaims(peer: Peer, verified: VerifiedAccessToken): Promise<void> {
    peer.claims = verified.claims;
    peer.revocationVersion = -1;
    peer.expMs = verified.claims.exp * 1000;
    peer.metadata = verified.claims.md ?? {};
    this.#scheduleTokenTimers(peer);
    for (const room of [...peer.rooms]) {
      if (!peer.can(room, 'join')) await this.leaveRoom(peer, room);
      else this.bus.updatePermissions(peer.tenant, room, peer.peerId, peer.permissions(room));
    }
  }

  /**
   * One timer per peer (not one per notice): it fires about a minute before exp, or at 80% of a
   * short lifetime (design.md "Refresh"), to send `token_expiring`, then again at exp plus the
   * clock tolerance to close the connection.
   */
  #scheduleTokenTimers(peer: Peer): void {
    clearTimeout(peer.tokenTimer);
    const lifetimeMs = (peer.claims.exp - peer.claims.iat) * 1000;
    const leadMs = Math.min(this.config.tokenExpiringLeadSeconds * 1000, lifetimeMs * 0.2);
    this.#armTokenTimer(peer, this.#onTokenExpiring, peer.expMs - leadMs);
  }

  /** The peer's token timer, to call `callback(peer)` when the injected clock reads `atMs`. */
  #armTokenTimer(peer: Peer, callback: (peer: Peer) => void, atMs: number): void {
    peer.tokenTimer = setTimeout(callback, Math.max(0, atMs - this.clock.now()), peer);
    peer.tokenTimer.unref();
  }

  // Shared by every peer's timer (the peer is the timer's argument): no closure per connection.
  readonly #onTokenExpiring = (peer: Peer): void => {
    if (peer.closing) return;
    // A parked peer gets no notice; its resume schedules the timer again.
    if (peer.socket) this.sendTo(peer, { type: 'token_expiring', expiresAt: peer.expMs });
    this.#armTokenTimer(peer, this.#onTokenExpiry, peer.expMs + this.#toleranceMs);
  };

  readonly #onTokenExpiry = (peer: Peer): void => {
    if (peer.closing) return;
    if (this.clock.now() >= peer.expMs + this.#toleranceMs - 5)
      void this.closePeer(peer, CloseCode.TokenInvalid, 'token_expired');
    // The injected clock is behind the timers: wait for it.
    else this.#armTokenTimer(peer, this.#onTokenExpiry, peer.expMs + this.#toleranceMs);
  };

  // ---------------------------------------------------------------------------------------
  // Leaving

  /** Server-initiated close: the peer leaves at once (no resume), the socket gets `code`. */
  async closePeer(peer: Peer, code: number, reason: string): Promise<void> {
    if (peer.closing) return;
    const ws = peer.socket;
    if (ws) {
      // What was queued for this socket goes out before the close frame.
      this.#outbox.flushOne(peer);
      // The wire ends the socket after CLOSE_TIMEOUT_MS if the close handshake stalls.
      ws.close(code, reason);
    }
    this.log.info(
      {
        event: 'ws_closing',
        conn: peer.connId,
        peerId: peer.peerId,
        tenant: peer.tenant,
        sub: peer.userId,
        code,
        reason,
      },
      'closing connection',
    );
    await this.#remove(peer);
  }

  #park(peer: Peer): void {
    peer.buffer = [];
    peer.bufferBytes = 0;
    peer.graceTimer = setTimeout(() => void this.#remove(peer), this.config.resumeGraceMs);
    peer.graceTimer.unref();
    this.log.info(
      {
        event: 'peer_parked',
        peerId: peer.peerId,
        tenant: peer.tenant,
        graceMs: this.config.resumeGraceMs,
      },
      'peer parked for resume',
    );
  }

  async #remove(peer: Peer): Promise<void> {
    if (peer.closing && !this.#peers.has(peer.peerId)) return;
    peer.closing = true;
    clearTimeout(peer.tokenTimer);
    clearTimeout(peer.graceTimer);
    peer.buffer = null;
    this.#peers.delete(peer.peerId);
    this.#byResume.delete(peer.resumeToken);
    this.#byUser.remove(`${peer.tenant}\u0000${peer.userId}`, peer);
    this.#bySession.remove(`${peer.tenant}\u0000${peer.sessionId}`, peer);
    this.bus.detach(peer.tenant, peer.peerId);
    for (const room of [...peer.rooms]) await this.leaveRoom(peer, room);
  }

  // ---------------------------------------------------------------------------------------
  // Control: revocation, kick, server messages

  /** Closes every connection of a session on every node (4403); returns how many were here. */
  async closeSession(tenant: string, sessionId: string): Promise<number> {
    const n = this.#bySession.count(`${tenant}\u0000${sessionId}`);
    await this.bus.publishControl({ type: 'session_revoked', tenant, sessionId });
    return n;
  }

  /** Kicks a member of a room (4403 `kicked`); false when it is not a member. */
  async kick(tenant: string, room: string, peerId: string): Promise<boolean> {
    if (!this.bus.isMember(tenant, room, peerId)) return false;
    await this.bus.publishControl({ type: 'peer_kicked', tenant, room, peerId });
    return true;
  }

  /** A server message (`from: "server"`) to every member of a room, or to one member. */
  serverMessage(tenant: string, room: string, data: unknown, to?: string): number {
    const f = frame({ type: 'message', from: SERVER_SENDER, room, data });
    if (to !== undefined)
      return this.bus.isMember(tenant, room, to) && this.bus.deliverToPeer(tenant, to, f) ? 1 : 0;
    return this.bus.deliverToRoom(tenant, room, f);
  }

  async #onControl(event: ControlEvent): Promise<void> {
    if (event.type === 'session_revoked') {
      for (const peer of this.#bySession.peers(`${event.tenant}\u0000${event.sessionId}`))
        await this.closePeer(peer, CloseCode.Forbidden, 'token_revoked');
    } else {
      const peer = this.#peers.get(event.peerId);
      if (peer && peer.tenant === event.tenant)
        await this.closePeer(peer, CloseCode.Forbidden, 'kicked');
    }
  }

  // ---------------------------------------------------------------------------------------
  // Heartbeat and shutdown

  #sweep(): void {
    const now = Date.now();
    const clockNow = this.clock.now();
    for (const peer of this.#peers.values()) {
      const ws = peer.socket;
      if (!ws || peer.closing) continue;
      // Expiry by the injected clock as well as by the timer: a clock that jumped forward
      // closes idle connections within one sweep, not when the old timer would have fired.
      if (clockNow >= peer.expMs + this.#toleranceMs) {
        void this.closePeer(peer, CloseCode.TokenInvalid, 'token_expired');
        continue;
      }
      if (peer.awaitingPongSince !== 0) {
        // No pong in time: a dead network path. Terminate without a close frame, so the peer
        // is parked and can resume (design.md "Liveness").
        if (now - peer.awaitingPongSince >= this.config.pongTimeoutMs) ws.terminate();
      } else if (now - peer.lastPingAt >= this.config.pingIntervalMs) {
        peer.awaitingPongSince = now;
        peer.lastPingAt = now;
        ws.ping();
      }
    }
  }

  /** SIGTERM: `going_away` to everyone, wait for them to leave (at most `drainMs`), then 1001. */
  async drain(drainMs: number): Promise<void> {
    const live = [...this.#peers.values()].filter((p) => p.socket && !p.closing);
    for (const peer of live)
      this.sendTo(peer, {
        type: 'going_away',
        retryAfterMs: 500 + Math.floor(Math.random() * 1500),
      });
    const deadline = Date.now() + drainMs;
    while (Date.now() < deadline && [...this.#peers.values()].some((p) => p.socket && !p.closing))
      await new Promise((r) => setTimeout(r, 50));
    for (const peer of [...this.#peers.values()])
      await this.closePeer(peer, CloseCode.GoingAway, 'going_away');
  }

  async close(): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#lag?.stop();
    this.#outbox.stop();
    for (const peer of [...this.#peers.values()]) {
      peer.socket?.terminate();
      await this.#remove(peer);
    }
    await this.bus.close();
  }

  /** Public snapshot of a room for the admin API. */
  roomPeers(tenant: string, room: string) {
    return this.bus.members(tenant, room).map((m) => ({ ...peerInfo(m), joinedAt: m.joinedAt }));
  }
}

/**
 * The query of an upgrade request to {@link SIGNAL_PATH}: empty when it has none, undefined when
 * the path is another one (404), null when the target is not a URL (400). The common case — the
 * exact path, with or without a query — is read without building a URL.
 */
function signalQuery(target: string | undefined): URLSearchParams | undefined | null {
  if (target === SIGNAL_PATH) return EMPTY_QUERY;
  if (target !== undefined && target.startsWith(`${SIGNAL_PATH}?`) && !target.includes('#'))
    return new URLSearchParams(target.slice(SIGNAL_PATH.length + 1));
  let url: URL;
  try {
    url = new URL(target ?? '/', 'http://localhost');
  } catch {
    return null;
  }
  return url.pathname === SIGNAL_PATH ? url.searchParams : undefined;
}

const EMPTY_QUERY: URLSearchParams = new URLSearchParams();

function destroyOnError(this: Duplex): void {
  this.destroy();
}

/**
 * Peers by a key (a user, a session). Most keys have one connection, so one peer is kept as
 * itself and a set is made only for the second: no `Set` per connection in the common case.
 */
class PeerIndex {
  readonly #map = new Map<string, Peer | Set<Peer>>();

  add(key: string, peer: Peer): void {
    const v = this.#map.get(key);
    if (v === undefined) this.#map.set(key, peer);
    else if (v instanceof Set) v.add(peer);
    else if (v !== peer) this.#map.set(key, new Set([v, peer]));
  }

  remove(key: string, peer: Peer): void {
    const v = this.#map.get(key);
    if (v === peer) this.#map.delete(key);
    else if (v instanceof Set && v.delete(peer) && v.size <= 1) {
      const [last] = v;
      if (last === undefined) this.#map.delete(key);
      else this.#map.set(key, last);
    }
  }

  count(key: string): number {
    const v = this.#map.get(key);
    return v === undefined ? 0 : v instanceof Set ? v.size : 1;
  }

  /** A copy: safe to iterate while peers are removed. */
  peers(key: string): Peer[] {
    const v = this.#map.get(key);
    return v === undefined ? [] : v instanceof Set ? [...v] : [v];
  }
}
