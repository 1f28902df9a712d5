import type { Permission } from '@callgate/protocol';

/** A room member as the bus knows it: no socket, no process — only ids and public data. */
export interface Member {
  peerId: string;
  userId: string;
  sessionId: string;
  metadata: Record<string, unknown>;
  /** The member's permissions in this room (from its token; replaced on refresh). */
  permissions: ReadonlySet<Permission>;
  joinedAt: number;
}

/** A serialized server frame, stringified once however many peers receive it. */
export type Frame = string;

/** Receives frames for one peer on the node that holds its connection (or its resume buffer). */
export type Sink = (frame: Frame) => void;

export interface RoomDeliveryOptions {
  /** Skip this peer (publish is not echoed to its sender). */
  except?: string;
  /** Only members holding this permission receive the frame (presence goes only to `presence`). */
  requirePermission?: Permission;
}

/** Control events every node must see (revocations, kicks), whatever node the peer is on. */
export type ControlEvent =
  | { type: 'session_revoked'; tenant: string; sessionId: string }
  | { type: 'peer_kicked'; tenant: string; peerId: string; room: string };

export type JoinResult = { ok: true; members: Member[] } | { ok: false; reason: 'room_full' };

/**
 * The seam between the signaling core and where peers live (design.md "Store and bus").
 *
 * The core never holds a reference to another peer's connection: it addresses peers by
 * `(tenant, peerId)` and rooms by `(tenant, room)`, and the bus delivers. The in-process bus
 * answers from memory; a Redis bus (multi-node) keeps a replica of membership fed by pub/sub,
 * so membership reads stay synchronous and O(1) on the hot path, while joins (which must be
 * atomic across nodes to enforce `room_full`) are asynchronous.
 */
export interface Bus {
  /** Adds a member; fails with `room_full` past `maxPeers`. Returns the members before the join. */
  join(tenant: string, room: string, member: Member, maxPeers: number): Promise<JoinResult>;
  leave(tenant: string, room: string, peerId: string): Promise<boolean>;
  /** Replaces a member's permissions (in-band refresh). */
  updatePermissions(
    tenant: string,
    room: string,
    peerId: string,
    permissions: ReadonlySet<Permission>,
  ): void;
  isMember(tenant: string, room: string, peerId: string): boolean;
  getMember(tenant: string, room: string, peerId: string): Member | undefined;
  members(tenant: string, room: string): Member[];
  rooms(tenant: string): Array<{ room: string; peers: number }>;

  /** Registers where frames for a peer go on this node (its socket, or its resume buffer). */
  attach(tenant: string, peerId: string, sink: Sink): void;
  detach(tenant: string, peerId: string): void;
  /** Delivers to one peer; false when no node holds it. */
  deliverToPeer(tenant: string, peerId: string, frame: Frame): boolean;
  /** Delivers to the members of a room; returns how many received it. */
  deliverToRoom(tenant: string, room: string, frame: Frame, options?: RoomDeliveryOptions): number;

  /** Broadcasts a control event to every node, this one included. */
  publishControl(event: ControlEvent): Promise<void>;
  onControl(handler: (event: ControlEvent) => void | Promise<void>): void;
  close(): Promise<void>;
}
