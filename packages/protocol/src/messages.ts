import type { ErrorCode } from './errors.js';

/**
 * The `callgate.v1` wire messages (design.md "Signaling protocol callgate.v1"; the full
 * reference is `docs/protocol.md`). One discriminated union per direction, `type` the
 * discriminant. New variants are only ever appended; a retired type is never reused.
 *
 * Units: every time in a message (`expiresAt`, `serverTime`) is **milliseconds** since the
 * UNIX epoch, ready for `new Date(ms)` and `Date.now()` arithmetic. (JWT claims such as
 * `exp` are seconds; the server converts.) Durations carry their unit in the name
 * (`retryAfterMs`, `resumeGraceMs`).
 */

/**
 * The WebSocket subprotocol the server selects (RFC 6455 §1.9, §4.2.2).
 *
 * @example
 * ```ts
 * new WebSocket(url, [PROTOCOL, BEARER_PREFIX + token]);
 * ```
 */
export const PROTOCOL = 'callgate.v1';

/**
 * Prefix of the subprotocol entry that carries the access token. The server never selects
 * (echoes) it.
 *
 * @example
 * ```ts
 * const protocols = [PROTOCOL, `${BEARER_PREFIX}${token}`];
 * ```
 */
export const BEARER_PREFIX = 'bearer.';

/**
 * Prefix of the optional subprotocol entry that carries `welcome.resumeToken` when
 * reconnecting after a drop.
 *
 * @example
 * ```ts
 * const protocols = [PROTOCOL, BEARER_PREFIX + token, RESUME_PREFIX + welcome.resumeToken];
 * ```
 */
export const RESUME_PREFIX = 'resume.';

/**
 * The literal `from` of a message sent by the application through the HTTP API rather than
 * by a peer. It can never collide with a peer id (those are at least 16 characters).
 *
 * @example
 * ```ts
 * if (msg.type === 'message' && msg.from === SERVER_SENDER) showBanner(msg.data);
 * ```
 */
export const SERVER_SENDER = 'server';

/**
 * Longest client-chosen `id`, in UTF-16 code units (`string.length`).
 *
 * @example
 * ```ts
 * const id = crypto.randomUUID(); // 36 chars, well within MAX_MESSAGE_ID_LENGTH
 * ```
 */
export const MAX_MESSAGE_ID_LENGTH = 64;

/**
 * Longest `refresh.token` accepted, in characters: a cap applied before any crypto.
 *
 * @example
 * ```ts
 * if (token.length > MAX_REFRESH_TOKEN_LENGTH) throw new RangeError('token too long');
 * ```
 */
export const MAX_REFRESH_TOKEN_LENGTH = 8192;

/**
 * True when `value` is a valid message `id`: a string of 1..64 characters.
 *
 * @example
 * ```ts
 * isMessageId('req-1'); // true
 * isMessageId(''); // false
 * ```
 */
export function isMessageId(value: unknown): value is string {
  return typeof value === 'string' && value.length >= 1 && value.length <= MAX_MESSAGE_ID_LENGTH;
}

// ---------------------------------------------------------------------------------------------
// Shared shapes

/**
 * One entry of `RTCConfiguration.iceServers`, ready for `new RTCPeerConnection({ iceServers })`.
 * STUN entries have no credentials; TURN entries carry the ephemeral TURN REST credentials.
 *
 * @example
 * ```ts
 * const turn: IceServer = { urls: ['turn:turn.example:3478?transport=udp'], username, credential };
 * ```
 */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

/**
 * A member of a room as shown to peers granted `presence`. `metadata` is the token's public
 * `md` claim, `{}` when the token has none.
 *
 * @example
 * ```ts
 * const p: PeerInfo = { peerId: 'Vx2c9Qk1T0aZ3m8LwB7yRg', userId: 'alice', metadata: { name: 'Alice' } };
 * ```
 */
export interface PeerInfo {
  peerId: string;
  userId: string;
  metadata: Record<string, unknown>;
}

/**
 * The limits the server enforces on this connection, sent in `welcome`.
 * Defaults: 65536, 16, 100, 100, 200, 10000.
 *
 * @example
 * ```ts
 * if (bytes > welcome.limits.maxMessageBytes) throw new RangeError('message too large');
 * ```
 */
export interface SignalLimits {
  /** Largest frame the server accepts, in bytes of UTF-8; larger closes with 1009. */
  maxMessageBytes: number;
  /** Rooms one connection may be in at once (`error too_many_rooms` past it). */
  maxRoomsPerConnection: number;
  /** Peers one room may hold (`error room_full` past it). */
  maxPeersPerRoom: number;
  /** Sustained messages per second per connection (token bucket refill rate). */
  messagesPerSecond: number;
  /** Token bucket size: messages that may arrive at once (`error rate_limited` past it). */
  burst: number;
  /** How long a dropped peer is kept for a resume, in milliseconds. */
  resumeGraceMs: number;
}

// ---------------------------------------------------------------------------------------------
// Client -> server

/**
 * Every client message type, in protocol order.
 *
 * @example
 * ```ts
 * (CLIENT_MESSAGE_TYPES as readonly string[]).includes(value);
 * ```
 */
export const CLIENT_MESSAGE_TYPES = [
  'join',
  'leave',
  'send',
  'publish',
  'refresh',
  'ping',
] as const;

/**
 * The `type` of a client message.
 *
 * @example
 * ```ts
 * const handlers: Record<ClientMessageType, Handler> = { join, leave, send, publish, refresh, ping };
 * ```
 */
export type ClientMessageType = (typeof CLIENT_MESSAGE_TYPES)[number];

/**
 * Become a member of `room`; answered by an `ack` carrying `room`, and `peers` when the token
 * grants `presence` there.
 *
 * @example
 * ```ts
 * const m: JoinMessage = { type: 'join', id: '1', room: 'lobby' };
 * ```
 */
export interface JoinMessage {
  type: 'join';
  id?: string;
  room: string;
}

/**
 * Stop being a member of `room`.
 *
 * @example
 * ```ts
 * const m: LeaveMessage = { type: 'leave', room: 'lobby' };
 * ```
 */
export interface LeaveMessage {
  type: 'leave';
  id?: string;
  room: string;
}

/**
 * A direct message to peer `to`. `data` is any JSON value (an SDP offer, an ICE candidate...).
 *
 * @example
 * ```ts
 * const m: SendMessage = { type: 'send', to: peerId, data: { sdp: offer.sdp, kind: 'offer' } };
 * ```
 */
export interface SendMessage {
  type: 'send';
  id?: string;
  to: string;
  /** Any JSON value except `undefined` (`null` is allowed). */
  data: unknown;
}

/**
 * Broadcast `data` to the other members of `room` (not echoed to the sender).
 *
 * @example
 * ```ts
 * const m: PublishMessage = { type: 'publish', room: 'lobby', data: { muted: true } };
 * ```
 */
export interface PublishMessage {
  type: 'publish';
  id?: string;
  room: string;
  /** Any JSON value except `undefined` (`null` is allowed). */
  data: unknown;
}

/**
 * Replace the connection's access token in-band; answered by an `ack` carrying the new
 * `expiresAt` and fresh `iceServers`.
 *
 * @example
 * ```ts
 * const m: RefreshMessage = { type: 'refresh', id: 'r1', token: await fetchToken() };
 * ```
 */
export interface RefreshMessage {
  type: 'refresh';
  id?: string;
  /** A compact JWS, 1..8192 characters. */
  token: string;
}

/**
 * Application-level ping; answered by `pong` with the same `id`.
 *
 * @example
 * ```ts
 * const m: PingMessage = { type: 'ping', id: String(Date.now()) };
 * ```
 */
export interface PingMessage {
  type: 'ping';
  id?: string;
}

/**
 * Any message a client sends.
 *
 * @example
 * ```ts
 * function describe(m: ClientMessage) {
 *   switch (m.type) {
 *     case 'join': return `join ${m.room}`;
 *     // ...
 *   }
 * }
 * ```
 */
export type ClientMessage =
  JoinMessage | LeaveMessage | SendMessage | PublishMessage | RefreshMessage | PingMessage;

/**
 * The client message of one type.
 *
 * @example
 * ```ts
 * type Handler<T extends ClientMessageType> = (m: ClientMessageOf<T>) => void;
 * ```
 */
export type ClientMessageOf<T extends ClientMessageType> = Extract<ClientMessage, { type: T }>;

/**
 * True when `value` is one of {@link CLIENT_MESSAGE_TYPES}.
 *
 * @example
 * ```ts
 * isClientMessageType('join'); // true
 * isClientMessageType('constructor'); // false
 * ```
 */
export function isClientMessageType(value: unknown): value is ClientMessageType {
  return typeof value === 'string' && (CLIENT_MESSAGE_TYPES as readonly string[]).includes(value);
}

// ---------------------------------------------------------------------------------------------
// Server -> client

/**
 * Every server message type, in protocol order.
 *
 * @example
 * ```ts
 * (SERVER_MESSAGE_TYPES as readonly string[]).includes(value);
 * ```
 */
export const SERVER_MESSAGE_TYPES = [
  'welcome',
  'ack',
  'error',
  'presence',
  'message',
  'token_expiring',
  'going_away',
  'pong',
] as const;

/**
 * The `type` of a server message.
 *
 * @example
 * ```ts
 * const on: Partial<Record<ServerMessageType, (m: ServerMessage) => void>> = {};
 * ```
 */
export type ServerMessageType = (typeof SERVER_MESSAGE_TYPES)[number];

/**
 * The first frame on every accepted connection.
 *
 * @example
 * ```ts
 * const skew = welcome.serverTime - Date.now();
 * const refreshIn = welcome.expiresAt - welcome.serverTime - 60_000;
 * ```
 */
export interface WelcomeMessage {
  type: 'welcome';
  /** This connection's peer id; the same after a successful resume. */
  peerId: string;
  /** The token's `sid`. */
  sessionId: string;
  /** The token's `tid`. */
  tenant: string;
  /** When the current token expires, ms since the epoch. */
  expiresAt: number;
  /** The server's clock when it sent `welcome`, ms since the epoch. */
  serverTime: number;
  iceServers: IceServer[];
  /** Present as `resume.<resumeToken>` in the subprotocol list to resume after a drop. */
  resumeToken: string;
  limits: SignalLimits;
  /**
   * Present only when the client offered a resume token: `true` when this is the same peer
   * (rooms kept, buffered messages follow), `false` when the resume failed and this is a new
   * peer.
   */
  resumed?: boolean;
  /**
   * With `resumed: true`: the rooms the peer is still in. A room the presented token no longer
   * grants `join` in was left during the resume.
   */
  rooms?: string[];
}

/**
 * A successful answer to a client message; `id` echoes the request's `id` when it had one.
 * A join ack carries `room` (and `peers` when the token grants `presence`); a leave ack
 * carries `room`; a refresh ack carries `expiresAt` and `iceServers`.
 *
 * @example
 * ```ts
 * const ack: AckMessage = { type: 'ack', id: '1', room: 'lobby', peers: [] };
 * ```
 */
export interface AckMessage {
  type: 'ack';
  id?: string;
  /** join, leave: the room. */
  room?: string;
  /** join with `presence`: the other peers already in the room. */
  peers?: PeerInfo[];
  /** refresh: when the new token expires, ms since the epoch. */
  expiresAt?: number;
  /** refresh: fresh TURN credentials. */
  iceServers?: IceServer[];
  /**
   * refresh: the rooms the connection is still in. A room the new token no longer grants
   * `join` in was left (its members saw `left`).
   */
  rooms?: string[];
}

/**
 * A failed client message (the connection stays open); `id` echoes the request's `id` when
 * it had a valid one. `field` names the offending field for validation errors.
 *
 * @example
 * ```ts
 * const e: ErrorMessage = { type: 'error', id: '1', code: 'forbidden', message: 'The token does not allow this action' };
 * ```
 */
export interface ErrorMessage {
  type: 'error';
  id?: string;
  code: ErrorCode;
  message: string;
  field?: string;
}

/**
 * Who joined and who left `room`; only sent to members granted `presence` there.
 *
 * @example
 * ```ts
 * const p: PresenceMessage = { type: 'presence', room: 'lobby', joined: [], left: ['Vx2c9Qk1T0aZ3m8LwB7yRg'] };
 * ```
 */
export interface PresenceMessage {
  type: 'presence';
  room: string;
  joined: PeerInfo[];
  /** Peer ids. */
  left: string[];
}

/**
 * A delivered `send` (no `room`), `publish` (with `room`), or application broadcast
 * (`from: "server"`, with `room`). The server stamps `from` and `fromMetadata`; a client
 * cannot choose them.
 *
 * @example
 * ```ts
 * const m: DataMessage = { type: 'message', from: 'Vx2c9Qk1T0aZ3m8LwB7yRg', room: 'lobby', data: 'hi' };
 * ```
 */
export interface DataMessage {
  type: 'message';
  /** The sender's peer id, or {@link SERVER_SENDER}. */
  from: string;
  room?: string;
  /** Any JSON value (`null` included). */
  data: unknown;
  /** The sender's public metadata (absent for `from: "server"`). */
  fromMetadata?: Record<string, unknown>;
}

/**
 * The token expires soon: send `refresh` with a new one before `expiresAt`.
 *
 * @example
 * ```ts
 * const m: TokenExpiringMessage = { type: 'token_expiring', expiresAt: Date.now() + 60_000 };
 * ```
 */
export interface TokenExpiringMessage {
  type: 'token_expiring';
  /** ms since the epoch. */
  expiresAt: number;
}

/**
 * The server is draining: it will close with 1001; reconnect (and resume) after
 * `retryAfterMs`.
 *
 * @example
 * ```ts
 * const m: GoingAwayMessage = { type: 'going_away', retryAfterMs: 5000 };
 * ```
 */
export interface GoingAwayMessage {
  type: 'going_away';
  retryAfterMs: number;
}

/**
 * The answer to `ping`.
 *
 * @example
 * ```ts
 * const m: PongMessage = { type: 'pong', id: '42' };
 * ```
 */
export interface PongMessage {
  type: 'pong';
  id?: string;
}

/**
 * Any message the server sends.
 *
 * @example
 * ```ts
 * if (m.type === 'presence') for (const p of m.joined) console.log(p.userId, 'joined', m.room);
 * ```
 */
export type ServerMessage =
  | WelcomeMessage
  | AckMessage
  | ErrorMessage
  | PresenceMessage
  | DataMessage
  | TokenExpiringMessage
  | GoingAwayMessage
  | PongMessage;

/**
 * The server message of one type.
 *
 * @example
 * ```ts
 * function onWelcome(m: ServerMessageOf<'welcome'>) { console.log(m.peerId); }
 * ```
 */
export type ServerMessageOf<T extends ServerMessageType> = Extract<ServerMessage, { type: T }>;

/**
 * True when `value` is one of {@link SERVER_MESSAGE_TYPES}.
 *
 * @example
 * ```ts
 * isServerMessageType('welcome'); // true
 * ```
 */
export function isServerMessageType(value: unknown): value is ServerMessageType {
  return typeof value === 'string' && (SERVER_MESSAGE_TYPES as readonly string[]).includes(value);
}

// Compile-time guard: each const array lists exactly the `type`s of its union.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
type _ClientTypesComplete = Assert<Same<ClientMessage['type'], ClientMessageType>>;
type _ServerTypesComplete = Assert<Same<ServerMessage['type'], ServerMessageType>>;

// ---------------------------------------------------------------------------------------------
// Parse results

/**
 * The error codes a parser can return.
 *
 * @example
 * ```ts
 * if (!r.ok && r.error.code === 'unknown_type') return; // ignore newer server messages
 * ```
 */
export type ParseErrorCode = Extract<
  ErrorCode,
  'bad_request' | 'unknown_type' | 'invalid_room' | 'invalid_peer_id'
>;

/**
 * Why a frame was rejected: ready to send as `{ type: 'error', ...error }`. `id` is the
 * message's own `id` when that was valid; `field` names the field at fault (`room`,
 * `limits.burst`, `joined[0].peerId`). The message never quotes a token.
 *
 * @example
 * ```ts
 * const e: ParseError = { code: 'invalid_room', message: '"room" must be ...', field: 'room', id: '7' };
 * ```
 */
export interface ParseError {
  code: ParseErrorCode;
  message: string;
  id?: string;
  field?: string;
}

/**
 * The result of {@link parseClientMessage} and {@link parseServerMessage}: never thrown.
 *
 * @example
 * ```ts
 * const r = parseClientMessage(frame);
 * if (!r.ok) return socket.send(JSON.stringify({ type: 'error', ...r.error }));
 * handlers[r.message.type](r.message);
 * ```
 */
export type ParseResult<T> = { ok: true; message: T } | { ok: false; error: ParseError };
