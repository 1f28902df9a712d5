import type { PeerInfo, PresenceMessage } from '@callgate/protocol';

/** What changed in one room's map. */
export interface PresenceChange {
  room: string;
  joined: PeerInfo[];
  left: PeerInfo[];
}

/**
 * The client's view of its rooms: the rooms it is in and, per room, a `Map<peerId, PeerInfo>`
 * of the other members, kept from the join snapshot and the `presence` deltas. Rooms joined
 * without the `presence` permission have an empty map that never changes.
 *
 * Every method returns what changed, so the client can emit `peerJoined`/`peerLeft`.
 *
 * @example
 * ```ts
 * const book = new PresenceBook();
 * book.joined('lobby', ack.peers); // { room: 'lobby', joined: [...ack.peers], left: [] }
 * book.apply(presenceMessage);
 * book.peers('lobby'); // PeerInfo[]
 * ```
 */
export class PresenceBook {
  readonly #rooms = new Map<string, Map<string, PeerInfo>>();
  /** Peer ids this client had before a failed resume: a parked ghost of itself is not a peer. */
  readonly #self = new Set<string>();

  /** The rooms this client is in, in join order. */
  rooms(): string[] {
    return [...this.#rooms.keys()];
  }

  has(room: string): boolean {
    return this.#rooms.has(room);
  }

  /** The other members of `room` (empty without `presence`); undefined when not in `room`. */
  peers(room: string): PeerInfo[] | undefined {
    const map = this.#rooms.get(room);
    return map ? [...map.values()] : undefined;
  }

  /** One member of `room`. */
  peer(room: string, peerId: string): PeerInfo | undefined {
    return this.#rooms.get(room)?.get(peerId);
  }

  /** This client's own peer id(s), never listed as a member. */
  setSelf(peerId: string): void {
    this.#self.add(peerId);
  }

  /**
   * A join was acknowledged: the map becomes the snapshot (no snapshot: the map is kept if the
   * room was already joined, else starts empty).
   */
  joined(room: string, snapshot: PeerInfo[] | undefined): PresenceChange {
    const before = this.#rooms.get(room);
    if (snapshot === undefined) {
      if (!before) this.#rooms.set(room, new Map());
      return { room, joined: [], left: [] };
    }
    const after = new Map<string, PeerInfo>();
    for (const p of snapshot) if (!this.#self.has(p.peerId)) after.set(p.peerId, p);
    this.#rooms.set(room, after);
    const joined = [...after.values()].filter((p) => !before?.has(p.peerId));
    const left = before ? [...before.values()].filter((p) => !after.has(p.peerId)) : [];
    return { room, joined, left };
  }

  /** A presence delta; ignored for rooms this client is not in. */
  apply(message: PresenceMessage): PresenceChange {
    const map = this.#rooms.get(message.room);
    const change: PresenceChange = { room: message.room, joined: [], left: [] };
    if (!map) return change;
    for (const id of message.left) {
      const p = map.get(id);
      if (p && map.delete(id)) change.left.push(p);
    }
    for (const p of message.joined) {
      if (this.#self.has(p.peerId)) continue;
      // A peer already listed is updated in place (new metadata), not announced twice.
      if (!map.has(p.peerId)) change.joined.push(p);
      map.set(p.peerId, p);
    }
    return change;
  }

  /** This client left `room` (or lost it): every member leaves the map. */
  left(room: string): PresenceChange {
    const map = this.#rooms.get(room);
    this.#rooms.delete(room);
    return { room, joined: [], left: map ? [...map.values()] : [] };
  }

  /** The client stopped: every room is left. */
  clear(): PresenceChange[] {
    const changes = this.rooms().map((room) => this.left(room));
    this.#self.clear();
    return changes;
  }
}
