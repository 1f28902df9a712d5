import type { CallgateConfig } from './config/config.js';
import type { Store } from './store/store.js';
import type { Clock } from './util/clock.js';
import type { Logger } from './log/create-logger.js';
import type { Keyring } from './auth/keyring.js';
import type { RevocationList } from './auth/revocation-list.js';
import type { TokenVerifier } from './auth/verify-access-token.js';
import type { TokenIssuer } from './auth/issue-access-token.js';
import type { IceServer } from '@callgate/protocol';

/** Why live connections are being closed by the application. */
export type DisconnectReason = 'token_revoked' | 'kicked';

/**
 * Listeners that end live connections. The signaling layer registers here; HTTP routes call
 * them after a revocation is persisted. Each returns how many connections it closed.
 */
export interface ConnectionControl {
  closeSession(tenant: string, sid: string, reason: DisconnectReason): Promise<number>;
}

/** What routes and the signaling server share: one instance per running server. */
export interface Services {
  readonly config: CallgateConfig;
  readonly store: Store;
  readonly clock: Clock;
  readonly log: Logger;
  readonly keyring: Keyring;
  readonly revocations: RevocationList;
  /** The `iss` of minted tokens, resolved at start. */
  readonly issuer: string;
  /** The URL clients reach this server at. */
  readonly publicUrl: string;
  readonly verifyToken: TokenVerifier;
  readonly issueToken: TokenIssuer;
  readonly connections: ConnectionControl[];
  /** Called when another process changed the store (CLI rotations), after keys and revocations. */
  readonly reloaders: Array<() => Promise<void>>;
  /**
   * ICE servers (STUN, and TURN with fresh credentials) for a connection: set by the TURN layer,
   * sent in `welcome` and every refresh ack.
   */
  iceServersFor?: (identity: { tenant: string; sessionId: string; userId: string }) => IceServer[];
  /** Set while shutting down: new requests and handshakes get 503 `draining`. */
  draining: boolean;
}
