import {
  roomGrant,
  type AccessTokenClaims,
  type Permission,
  type ServerMessage,
} from '@callgate/protocol';
import type { WireSocket } from './websocket.js';

/**
 * How many recent message ids a connection remembers for replay detection (catalogue E68). It
 * costs memory on every connection (about 45 bytes an id), so it stays small.
 */
export const REPLAY_WINDOW = 64;

/**
 * One signaling peer on this node: live (with a socket) or parked (dropped without a close
 * frame, waiting `resumeGraceMs` for a resume, with its frames buffered).
 */
export class Peer {
  readonly peerId: string;
  readonly tenant: string;
  readonly userId: string;
  readonly sessionId: string;
  /** Connection id for logs: changes with every socket, unlike `peerId`. */
  connId: string;
  claims: AccessTokenClaims;
  /** `exp` in ms. */
  expMs: number;
  metadata: Record<string, unknown>;
  readonly rooms = new Set<string>();
  resumeToken: string;
  /** The live connection (its TCP socket is written to directly: outbox.ts), or null. */
  socket: WireSocket | null;
  /** Frames queued for this peer's socket in this turn of the event loop (outbox.ts). */
  out: Buffer[] | null = null;
  /** The revocation list's version when this peer was last found not revoked. */
  revocationVersion = -1;
  remote: string;
  readonly connectedAt: number;

  // Rate limiting: a token bucket (design.md: 100/s, bursts of 200).
  bucket: number;
  bucketAt: number;
  strikes = 0;
  invalid = 0;

  // Heartbeat.
  awaitingPongSince = 0;
  lastPingAt = 0;

  /** The one token timer: `token_expiring` first, then the close at exp (signaling-core.ts). */
  tokenTimer: NodeJS.Timeout | undefined;

  // Parked state.
  buffer: string[] | null = null;
  bufferBytes = 0;
  graceTimer: NodeJS.Timeout | undefined;
  slowTimer: NodeJS.Timeout | undefined;
  closing = false;
  /**
   * Message ids seen on the current socket, newest last (the replay window, catalogue E68);
   * made on the first id, since most connections never send one.
   */
  #recentIds: Set<string> | undefined;
  /** Set while an async handler runs, so the peer's next messages wait their turn. */
  queue: Promise<void> | undefined;

  constructor(init: {
    peerId: string;
    connId: string;
    claims: AccessTokenClaims;
    resumeToken: string;
    socket: WireSocket;
    remote: string;
    now: number;
    burst: number;
  }) {
    this.peerId = init.peerId;
    this.connId = init.connId;
    this.claims = init.claims;
    this.tenant = init.claims.tid;
    this.userId = init.claims.sub;
    this.sessionId = init.claims.sid;
    this.expMs = init.claims.exp * 1000;
    this.metadata = init.claims.md ?? {};
    this.resumeToken = init.resumeToken;
    this.socket = init.socket;
    this.remote = init.remote;
    this.connectedAt = init.now;
    this.bucket = init.burst;
    this.bucketAt = init.now;
  }

  /** The permissions the current token grants in `room` (empty when none). */
  permissions(room: string): ReadonlySet<Permission> {
    return new Set(roomGrant(this.claims.rooms, room) ?? []);
  }

  /** `metadata` as JSON, or undefined when empty: serialized once, not per message. */
  metadataJson(): string | undefined {
    if (this.#mdFor !== this.metadata) {
      this.#mdFor = this.metadata;
      this.#mdJson =
        Object.keys(this.metadata).length > 0 ? JSON.stringify(this.metadata) : undefined;
    }
    return this.#mdJson;
  }

  #mdFor: Record<string, unknown> | undefined;
  #mdJson: string | undefined;

  /**
   * Whether the current token grants `permission` in `room`: checked on every message, so the
   * last room's grant is kept (a peer sends to one room again and again, and every token's
   * `rooms` has a shape of its own: a keyed lookup in it is megamorphic). The cache holds for
   * one `claims` object; a refresh replaces the object and so empties it.
   */
  can(room: string, permission: Permission): boolean {
    if (room !== this.#canRoom || this.claims !== this.#canClaims) {
      this.#canClaims = this.claims;
      this.#canRoom = room;
      this.#canGrant = roomGrant(this.claims.rooms, room);
    }
    return this.#canGrant !== undefined && this.#canGrant.includes(permission);
  }

  #canClaims: AccessTokenClaims | undefined;
  #canRoom: string | undefined;
  #canGrant: readonly Permission[] | undefined;

  /** Whether `id` is in the replay window of the current socket. */
  hasSeenId(id: string): boolean {
    return this.#recentIds !== undefined && this.#recentIds.has(id);
  }

  /** Records an id, forgetting the oldest past {@link REPLAY_WINDOW}. */
  rememberId(id: string): void {
    const ids = (this.#recentIds ??= new Set());
    ids.add(id);
    if (ids.size > REPLAY_WINDOW) ids.delete(ids.values().next().value as string);
  }

  /** Empties the replay window (a new socket: ids start over). */
  forgetIds(): void {
    this.#recentIds = undefined;
  }

  get parked(): boolean {
    return this.buffer !== null;
  }
}

/** Serializes a server message once. */
export function frame(message: ServerMessage): string {
  return JSON.stringify(message);
}
