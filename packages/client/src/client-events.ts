import type {
  CloseAction,
  DataMessage,
  IceServer,
  PeerInfo,
  PresenceMessage,
  WelcomeMessage,
} from '@callgate/protocol';
import type { CallgateClientError } from './client-error.js';

/**
 * The states of a client (the centrifuge-js state machine):
 *
 * - `disconnected`: not connected and not trying (initially, after `close()`, after a close
 *   code that means stop);
 * - `connecting`: `connect()` was called and no `welcome` has arrived yet (retries of a first
 *   connection stay in this state);
 * - `connected`: `welcome` received; requests are sent at once;
 * - `reconnecting`: an established connection was lost and the client is getting it back
 *   (resuming when it can). Requests wait for it.
 *
 * @example
 * ```ts
 * client.on('state', ({ state }) => (badge.textContent = state));
 * ```
 */
export type ClientState = 'disconnected' | 'connecting' | 'connected' | 'reconnecting';

/**
 * Why a connection ended: the WebSocket close code and reason (the server's reason is an
 * error code such as `token_expired` or `kicked`). `1006` with reason `handshake_timeout`
 * means the SDK gave up waiting for `welcome`; `1000` with reason `client_closed` is `close()`.
 *
 * @example
 * ```ts
 * client.on('state', ({ state, reason }) => {
 *   if (state === 'disconnected' && reason?.reason === 'kicked') showKicked();
 * });
 * ```
 */
export interface CloseInfo {
  code: number;
  reason: string;
}

/**
 * Payload of the `state` event.
 *
 * @example
 * ```ts
 * client.on('state', (e: StateChange) => console.log(e.previous, '->', e.state, e.reason));
 * ```
 */
export interface StateChange {
  state: ClientState;
  previous: ClientState;
  /** The close that caused the change, when one did. */
  reason?: CloseInfo;
}

/**
 * Payload of the `closed` event, emitted every time a WebSocket closes, whether or not the
 * client reconnects.
 *
 * @example
 * ```ts
 * client.on('closed', (e) => log(`closed ${e.code} ${e.reason}; retry in ${e.reconnectInMs ?? '-'} ms`));
 * ```
 */
export interface ClosedEvent extends CloseInfo {
  /** What the close-code table says to do (`closeAction` of `@callgate/protocol`). */
  action: CloseAction;
  /** Whether the client will reconnect. */
  willReconnect: boolean;
  /** The delay before the next attempt, when it will reconnect. */
  reconnectInMs?: number;
}

/**
 * Payload of `peerJoined` and `peerLeft`: a peer appeared in or disappeared from the client's
 * presence map of `room`.
 *
 * @example
 * ```ts
 * client.on('peerJoined', ({ room, peer }) => roster(room).add(peer.peerId, peer.metadata));
 * ```
 */
export interface PeerEvent {
  room: string;
  peer: PeerInfo;
}

/**
 * Payload of `rejoined`: the server could not resume the session (the resume grace passed, or
 * it restarted), so the client is a new peer that re-joined the rooms it was in. Presence
 * restarted: `peerJoined`/`peerLeft` have reconciled each room's map with the new snapshot,
 * and WebRTC connections made under the old peer id should be rebuilt.
 *
 * @example
 * ```ts
 * client.on('rejoined', ({ rooms, failed }) => {
 *   for (const f of failed) console.warn(`lost ${f.room}: ${f.error.code}`);
 * });
 * ```
 */
export interface RejoinedEvent {
  peerId: string;
  previousPeerId: string;
  /** Rooms joined again. */
  rooms: string[];
  /** Rooms that could not be joined again (for example `forbidden` after a token change). */
  failed: Array<{ room: string; error: CallgateClientError }>;
}

/**
 * Payload of `tokenExpiring`: the server warned that the token expires at `expiresAt` (ms,
 * server clock). The client refreshes by itself; the event is informational.
 *
 * @example
 * ```ts
 * client.on('tokenExpiring', ({ expiresAt }) => console.debug('token expires', new Date(expiresAt)));
 * ```
 */
export interface TokenExpiringEvent {
  expiresAt: number;
}

/**
 * Every event of a {@link CallgateClient} and its payload.
 *
 * @example
 * ```ts
 * const off = client.on('message', (m) => console.log(m.from, m.data));
 * ```
 */
export interface ClientEvents {
  /** The state changed. */
  state: StateChange;
  /** A `welcome` arrived (every connect and reconnect); `resumed: true` after a resume. */
  welcome: WelcomeMessage;
  /** A presence delta, after the client's maps were updated. */
  presence: PresenceMessage;
  /** A direct message (no `room`), a room broadcast, or a server message (`from: "server"`). */
  message: DataMessage;
  /** The server sent `token_expiring`. */
  tokenExpiring: TokenExpiringEvent;
  /** A problem that is not the answer to a request: a failed refresh, a bad frame, a failed rejoin. */
  error: CallgateClientError;
  /** ICE servers changed (each `welcome` and each refresh): new TURN credentials. */
  iceServers: IceServer[];
  /** A peer appeared in a room's presence map (join snapshot or presence delta). */
  peerJoined: PeerEvent;
  /** A peer left a room's presence map (it left, or this client left or lost the room). */
  peerLeft: PeerEvent;
  /** After a failed resume: rooms re-joined, presence restarted. */
  rejoined: RejoinedEvent;
  /** A WebSocket closed. */
  closed: ClosedEvent;
}
