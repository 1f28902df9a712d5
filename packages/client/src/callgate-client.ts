import {
  BEARER_PREFIX,
  PROTOCOL,
  RESUME_PREFIX,
  closeAction,
  isErrorCode,
  type AckMessage,
  type CloseAction,
  type ErrorMessage,
  type IceServer,
  type PeerInfo,
  type ServerMessage,
  type SignalLimits,
  type WelcomeMessage,
} from '@callgate/protocol';
import { CallgateClientError } from './client-error.js';
import type { ClientEvents, ClientState, CloseInfo } from './client-events.js';
import {
  resolveClientOptions,
  type ClientOptions,
  type ResolvedClientOptions,
} from './client-options.js';
import { Emitter } from './emitter.js';
import {
  RequestQueue,
  closedError,
  type RequestBody,
  type RequestOptions,
  type Settled,
} from './request-queue.js';
import { checkData, checkPeerId, checkRoom } from './request-checks.js';
import { ReconnectScheduler } from './reconnect-scheduler.js';
import { RoomMembership } from './room-membership.js';
import { SignalSocket } from './signal-socket.js';
import { TokenKeeper, type Credential } from './token-keeper.js';

/** Frame size assumed before the first `welcome` tells the real one (the server default). */
const DEFAULT_MAX_MESSAGE_BYTES = 65_536;
/** How long `close()` waits for the closing handshake before dropping the socket. */
const CLOSE_WAIT_MS = 2000;
const CLIENT_CLOSED: CloseInfo = { code: 1000, reason: 'client_closed' };

/**
 * A connection to a Callgate server's `/v1/signal`: connects with a token from `getToken`,
 * refreshes it in-band before expiry, reconnects and resumes by the close-code table, keeps
 * per-room presence, and offers a promise API for `join`, `leave`, `send`, `publish` and
 * `ping`. Make one with `createClient()`.
 *
 * @example
 * ```ts
 * const client = createClient({ url: 'wss://callgate.example.com', getToken });
 * client.on('message', (m) => console.log(m.from, m.data));
 * await client.connect();
 * const peers = await client.join('lobby');
 * await client.publish('lobby', { hello: 'everyone' });
 * ```
 */
export class CallgateClient {
  readonly #o: ResolvedClientOptions;
  readonly #events: Emitter<ClientEvents>;
  readonly #requests: RequestQueue;
  readonly #rooms: RoomMembership;
  readonly #tokens: TokenKeeper;
  #state: ClientState = 'disconnected';
  #socket: SignalSocket | null = null;
  /** The token the current socket was opened with. */
  #credential: Credential | null = null;
  /** The last `welcome` of this session (kept while reconnecting: its peer is what we resume). */
  #welcome: WelcomeMessage | null = null;
  #iceServers: IceServer[] = [];
  /** When the last established connection was lost (local clock). */
  #lostAt = 0;
  readonly #reconnect: ReconnectScheduler;
  /** Bumped when the client starts or stops: async work of an older run is void. */
  #run = 0;
  #connectWaiters: Array<{
    resolve(welcome: WelcomeMessage): void;
    reject(error: CallgateClientError): void;
  }> = [];

  constructor(options: ClientOptions) {
    this.#o = resolveClientOptions(options);
    const log = this.#o.logger;
    this.#events = new Emitter<ClientEvents>(
      log.error ? (error) => log.error?.('an event listener threw', { error }) : undefined,
    );
    this.#requests = new RequestQueue(this.#o.clock, this.#o.requestTimeoutMs);
    this.#reconnect = new ReconnectScheduler(this.#o.clock, this.#o.random, this.#o.reconnect);
    this.#rooms = new RoomMembership({
      request: (body, options) => this.#request(body, options),
      peerJoined: (e) => this.#events.emit('peerJoined', e),
      peerLeft: (e) => this.#events.emit('peerLeft', e),
    });
    this.#tokens = new TokenKeeper({
      getToken: this.#o.getToken,
      clock: this.#o.clock,
      refreshAt: this.#o.refreshAt,
      timeoutMs: this.#o.requestTimeoutMs,
      sendRefresh: async (token) =>
        (await this.#requests.request({ type: 'refresh', token }, { resend: false, wait: false }))
          .answer as AckMessage,
      refreshed: (ack) => {
        log.debug?.('token refreshed', { expiresAt: ack.expiresAt });
        if (ack.iceServers) this.#setIceServers(ack.iceServers);
        if (ack.rooms) this.#roomsRevoked(this.#rooms.retain(ack.rooms));
      },
      failed: (error) => this.#reportError(error),
    });
  }

  // -------------------------------------------------------------------------------------------
  // State

  /** `disconnected`, `connecting`, `connected` or `reconnecting`. */
  get state(): ClientState {
    return this.#state;
  }

  /** This connection's peer id (kept while reconnecting, since a resume keeps it). */
  get peerId(): string | undefined {
    return this.#welcome?.peerId;
  }

  /** The token's session id (`sid`). */
  get sessionId(): string | undefined {
    return this.#welcome?.sessionId;
  }

  /** The ICE servers of the last `welcome` or refresh: always the freshest TURN credentials. */
  get iceServers(): readonly IceServer[] {
    return this.#iceServers;
  }

  /** The rooms this client is in. */
  get rooms(): string[] {
    return this.#rooms.rooms;
  }

  /** The server's limits for this connection, from `welcome`. */
  get limits(): SignalLimits | undefined {
    return this.#welcome?.limits;
  }

  /** The other members of `room` (empty without `presence`), or undefined when not in it. */
  peers(room: string): PeerInfo[] | undefined {
    return this.#rooms.peers(room);
  }

  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof ClientEvents>(
    event: K,
    listener: (payload: ClientEvents[K]) => void,
  ): () => void {
    return this.#events.on(event, listener);
  }

  /** Removes an event listener. */
  off<K extends keyof ClientEvents>(event: K, listener: (payload: ClientEvents[K]) => void): void {
    this.#events.off(event, listener);
  }

  /** Adds a listener for the next event only; returns a function that removes it. */
  once<K extends keyof ClientEvents>(
    event: K,
    listener: (payload: ClientEvents[K]) => void,
  ): () => void {
    return this.#events.once(event, listener);
  }

  // -------------------------------------------------------------------------------------------
  // Promise API

  /**
   * Connects (if not connected or connecting) and resolves with the `welcome`. Failed first
   * attempts are retried like reconnects; it rejects only when the client stops (a close code
   * that means stop, such as 4403, or `close()`), with the server's reason as `code` when it
   * is an error code (`token_revoked`, `kicked`), else `closed`.
   */
  connect(): Promise<WelcomeMessage> {
    if (this.#state === 'connected' && this.#welcome) return Promise.resolve(this.#welcome);
    const done = new Promise<WelcomeMessage>((resolve, reject) =>
      this.#connectWaiters.push({ resolve, reject }),
    );
    if (this.#state === 'disconnected') {
      this.#run++;
      this.#setState('connecting');
      void this.#open('connect');
    }
    return done;
  }

  /** Joins `room`; resolves with the other members when the token grants `presence` there. */
  async join(room: string): Promise<PeerInfo[] | undefined> {
    checkRoom(room);
    return this.#rooms.join(room);
  }

  /** Leaves `room`; its members leave the presence map at once. */
  async leave(room: string): Promise<void> {
    checkRoom(room);
    return this.#rooms.leave(room);
  }

  /** A direct message to `peerId` (who must share a room with this client). */
  async send(peerId: string, data: unknown): Promise<void> {
    checkPeerId(peerId);
    await this.#request({ type: 'send', to: peerId, data }, { resend: false });
  }

  /** A broadcast to the other members of `room`. */
  async publish(room: string, data: unknown): Promise<void> {
    checkRoom(room);
    await this.#request({ type: 'publish', room, data }, { resend: false });
  }

  /** An application-level ping; resolves with the round-trip time in ms. */
  async ping(): Promise<number> {
    const started = this.#o.clock.now();
    await this.#request({ type: 'ping' }, { resend: true });
    return this.#o.clock.now() - started;
  }

  /**
   * Closes with 1000 and stops: no reconnect, pending requests fail with `closed`, presence
   * maps are emptied. Resolves when the socket has closed (at most about 2 s).
   */
  async close(): Promise<void> {
    if (this.#state === 'disconnected') return;
    const socket = this.#socket;
    this.#socket = null;
    if (socket) {
      socket.close(CLIENT_CLOSED.code, CLIENT_CLOSED.reason);
      this.#events.emit('closed', { ...CLIENT_CLOSED, action: 'stop', willReconnect: false });
    }
    this.#stop(CLIENT_CLOSED);
    if (socket) {
      const cancel = this.#o.clock.setTimer(() => socket.abandon('close_timeout'), CLOSE_WAIT_MS);
      await socket.whenClosed;
      cancel();
    }
  }

  // -------------------------------------------------------------------------------------------
  // Connection

  async #open(reason: 'connect' | 'reconnect'): Promise<void> {
    const run = this.#run;
    let credential: Credential;
    try {
      credential = await this.#tokens.tokenFor(reason);
    } catch (err) {
      if (run !== this.#run) return;
      this.#reportError(err);
      return this.#retry({ code: 1006, reason: 'token_unavailable' }, 'reconnect', false);
    }
    if (run !== this.#run) return;
    const protocols = [PROTOCOL, BEARER_PREFIX + credential.token];
    const resumeToken = this.#resumeToken();
    if (resumeToken !== undefined) protocols.push(RESUME_PREFIX + resumeToken);
    const holder: { socket?: SignalSocket } = {};
    try {
      holder.socket = new SignalSocket({
        WebSocket: this.#o.WebSocket,
        url: this.#o.url,
        protocols,
        clock: this.#o.clock,
        handshakeTimeoutMs: this.#o.handshakeTimeoutMs,
        handlers: {
          message: (m) => {
            if (holder.socket === this.#socket) this.#onMessage(m);
          },
          invalid: (e) =>
            this.#reportError(new CallgateClientError('invalid_message', e.message, { cause: e })),
          closed: (code, why) => {
            if (holder.socket === this.#socket) this.#onClosed(code, why);
          },
        },
      });
    } catch (cause) {
      // The constructor refused the URL or a subprotocol: retrying cannot help.
      this.#reportError(
        new CallgateClientError('closed', 'The WebSocket could not be created', { cause }),
      );
      return this.#stop({ code: 1006, reason: 'websocket_failed' });
    }
    this.#socket = holder.socket;
    this.#credential = credential;
    this.#o.logger.debug?.('connecting', { url: this.#o.url, resume: resumeToken !== undefined });
  }

  /** The resume token of the last session, while the server may still hold its peer. */
  #resumeToken(): string | undefined {
    const w = this.#welcome;
    if (!w) return undefined;
    return this.#o.clock.now() - this.#lostAt < w.limits.resumeGraceMs ? w.resumeToken : undefined;
  }

  #onMessage(m: ServerMessage): void {
    switch (m.type) {
      case 'welcome':
        return this.#onWelcome(m);
      case 'ack':
      case 'pong':
        this.#requests.answer(m);
        return;
      case 'error':
        if (!this.#requests.answer(m)) this.#onNotice(m);
        return;
      case 'presence':
        this.#rooms.apply(m);
        this.#events.emit('presence', m);
        return;
      case 'message':
        this.#events.emit('message', m);
        return;
      case 'token_expiring':
        this.#events.emit('tokenExpiring', { expiresAt: m.expiresAt });
        this.#tokens.expiring();
        return;
      case 'going_away':
        this.#reconnect.goingAway(m.retryAfterMs);
        return;
    }
  }

  #onWelcome(w: WelcomeMessage): void {
    const socket = this.#socket;
    if (!socket || !this.#credential) return;
    const previous = this.#welcome;
    this.#welcome = w;
    this.#reconnect.connected();
    this.#rooms.setSelf(w.peerId);
    this.#tokens.connected(this.#credential, w);
    const rejoin = previous !== null && w.resumed !== true && this.#rooms.rooms.length > 0;
    this.#o.logger.info?.('connected', { peerId: w.peerId, resumed: w.resumed === true });
    this.#setState('connected');
    this.#events.emit('welcome', w);
    this.#setIceServers(w.iceServers);
    for (const waiter of this.#connectWaiters.splice(0)) waiter.resolve(w);
    // Rejoins are queued first so that requests made meanwhile find their rooms joined.
    if (rejoin && previous) void this.#rejoin(previous.peerId, w.peerId);
    else if (w.resumed === true && w.rooms) this.#roomsRevoked(this.#rooms.retain(w.rooms));
    this.#requests.online((message) => socket.send(message));
  }

  /** After a failed resume: join again every room the app was in (design.md "Resume"). */
  async #rejoin(previousPeerId: string, peerId: string): Promise<void> {
    const run = this.#run;
    this.#o.logger.info?.('resume failed; rejoining', { rooms: this.#rooms.rooms.length });
    const event = await this.#rooms.rejoin(previousPeerId, peerId);
    if (run !== this.#run) return;
    for (const f of event.failed) this.#reportError(f.error);
    this.#events.emit('rejoined', event);
  }

  /** Rooms the server left for us because the new token no longer grants them. */
  #roomsRevoked(rooms: string[]): void {
    for (const room of rooms)
      this.#reportError(
        new CallgateClientError(
          'forbidden',
          `The token no longer grants room "${room}"; it was left`,
          {
            room,
          },
        ),
      );
  }

  #onNotice(m: ErrorMessage): void {
    // resume_failed is answered by rejoining (welcome.resumed === false), not an app error.
    if (m.code === 'resume_failed') return;
    this.#reportError(
      new CallgateClientError(m.code, m.message, m.field !== undefined ? { field: m.field } : {}),
    );
  }

  #onClosed(code: number, reason: string): void {
    this.#socket = null;
    if (this.#state === 'connected') this.#lostAt = this.#o.clock.now();
    this.#tokens.disconnected();
    this.#requests.offline({ code, reason });
    const action = closeAction(code);
    this.#o.logger.info?.('connection closed', { code, reason, action });
    if (action === 'stop') {
      this.#events.emit('closed', { code, reason, action, willReconnect: false });
      return this.#stop({ code, reason });
    }
    if (action === 'reconnect_new_token') this.#tokens.invalidate();
    this.#retry({ code, reason }, action);
  }

  /** Schedules the next attempt: after `going_away`'s `retryAfterMs` when given, else backoff. */
  #retry(info: CloseInfo, action: CloseAction, socketClosed = true): void {
    const run = this.#run;
    const delayMs = this.#reconnect.schedule(() => {
      if (run === this.#run) void this.#open('reconnect');
    });
    this.#o.logger.debug?.('reconnecting', { delayMs });
    if (socketClosed)
      this.#events.emit('closed', { ...info, action, willReconnect: true, reconnectInMs: delayMs });
    if (this.#state === 'connected') this.#setState('reconnecting', info);
  }

  /** Stops for good: state `disconnected`, everything pending fails, presence emptied. */
  #stop(info: CloseInfo): void {
    this.#run++;
    this.#reconnect.reset();
    this.#socket = null;
    this.#credential = null;
    this.#welcome = null;
    this.#tokens.reset();
    this.#requests.failAll(closedError('The client stopped', info));
    this.#rooms.clear();
    this.#setState('disconnected', info);
    const code = isErrorCode(info.reason) ? info.reason : 'closed';
    const error = new CallgateClientError(
      code,
      `The connection closed (${info.code} ${info.reason})`,
      {
        closeCode: info.code,
        closeReason: info.reason,
      },
    );
    for (const waiter of this.#connectWaiters.splice(0)) waiter.reject(error);
  }

  // -------------------------------------------------------------------------------------------
  // Helpers

  async #request(body: RequestBody, options: RequestOptions): Promise<Settled> {
    if (this.#state === 'disconnected') {
      throw new CallgateClientError('not_connected', 'The client is not connected; call connect()');
    }
    if ('data' in body)
      checkData(body, this.#welcome?.limits.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES);
    return this.#requests.request(body, options);
  }

  #setIceServers(iceServers: IceServer[]): void {
    this.#iceServers = iceServers;
    this.#events.emit('iceServers', iceServers);
  }

  #setState(state: ClientState, reason?: CloseInfo): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#events.emit('state', { state, previous, ...(reason ? { reason } : {}) });
  }

  #reportError(err: unknown): void {
    const error =
      err instanceof CallgateClientError
        ? err
        : new CallgateClientError('token_unavailable', 'getToken() failed', { cause: err });
    this.#o.logger.warn?.('client error', { code: error.code, message: error.message });
    this.#events.emit('error', error);
  }
}
