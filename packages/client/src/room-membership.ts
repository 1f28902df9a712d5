import type { PeerInfo, PresenceMessage } from '@callgate/protocol';
import { CallgateClientError } from './client-error.js';
import type { PeerEvent, RejoinedEvent } from './client-events.js';
import { PresenceBook, type PresenceChange } from './presence-book.js';
import type { RequestBody, RequestOptions, Settled } from './request-queue.js';

export interface RoomMembershipOptions {
  /** Sends a request (waiting for a connection when there is none). */
  request(body: RequestBody, options: RequestOptions): Promise<Settled>;
  peerJoined(event: PeerEvent): void;
  peerLeft(event: PeerEvent): void;
}

/**
 * The rooms a client is in and who else is in them: `join`/`leave` with their bookkeeping,
 * presence deltas, and the rejoin after a failed resume. Presence maps live in a
 * {@link PresenceBook}; every change is announced as `peerJoined`/`peerLeft`.
 *
 * Races it settles: a `join` acknowledged after a later `leave()` does not put the room back;
 * a `leave` answered `not_joined` for a room the client was in (a resend after a blip, or a
 * refresh that took the room away) counts as done.
 *
 * @example
 * ```ts
 * const rooms = new RoomMembership({ request, peerJoined, peerLeft });
 * const peers = await rooms.join('lobby');
 * rooms.apply(presenceMessage);
 * ```
 */
export class RoomMembership {
  readonly #o: RoomMembershipOptions;
  readonly #book = new PresenceBook();
  /** Rooms with a `leave` under way: a late join ack must not put them back. */
  readonly #leaving = new Set<string>();

  constructor(options: RoomMembershipOptions) {
    this.#o = options;
  }

  /** The rooms the client is in, in join order. */
  get rooms(): string[] {
    return this.#book.rooms();
  }

  /** The other members of `room`, or undefined when not in it. */
  peers(room: string): PeerInfo[] | undefined {
    return this.#book.peers(room);
  }

  /** This client's peer id: never listed as a member (nor its former ids). */
  setSelf(peerId: string): void {
    this.#book.setSelf(peerId);
  }

  async join(room: string): Promise<PeerInfo[] | undefined> {
    this.#leaving.delete(room);
    const { answer } = await this.#o.request({ type: 'join', room }, { resend: true });
    const snapshot = answer.type === 'ack' ? answer.peers : undefined;
    if (this.#leaving.has(room)) return snapshot;
    this.#announce(this.#book.joined(room, snapshot));
    return snapshot === undefined ? undefined : (this.#book.peers(room) ?? []);
  }

  async leave(room: string): Promise<void> {
    const wasIn = this.#book.has(room);
    this.#leaving.add(room);
    this.#announce(this.#book.left(room));
    try {
      await this.#o.request({ type: 'leave', room }, { resend: true });
    } catch (err) {
      if (!(wasIn && err instanceof CallgateClientError && err.code === 'not_joined')) throw err;
    } finally {
      this.#leaving.delete(room);
    }
  }

  /** A presence delta from the server. */
  apply(message: PresenceMessage): void {
    this.#announce(this.#book.apply(message));
  }

  /**
   * After a failed resume the client is a new peer in no room: join every room again (queued
   * ahead of anything waiting), reconcile each map with its new snapshot, and describe the
   * outcome. Rooms that cannot be joined again are dropped (their members leave the map).
   */
  async rejoin(previousPeerId: string, peerId: string): Promise<RejoinedEvent> {
    const rooms = this.#book.rooms();
    const results = await Promise.allSettled(
      rooms.map((room) => this.#o.request({ type: 'join', room }, { resend: true, first: true })),
    );
    const event: RejoinedEvent = { peerId, previousPeerId, rooms: [], failed: [] };
    results.forEach((r, i) => {
      const room = rooms[i]!;
      // Left meanwhile: nothing to restore.
      if (this.#leaving.has(room) || !this.#book.has(room)) return;
      if (r.status === 'fulfilled') {
        const ack = r.value.answer;
        this.#announce(this.#book.joined(room, ack.type === 'ack' ? ack.peers : undefined));
        event.rooms.push(room);
        return;
      }
      const cause = r.reason as unknown;
      const code = cause instanceof CallgateClientError ? cause.code : 'closed';
      this.#announce(this.#book.left(room));
      event.failed.push({
        room,
        error: new CallgateClientError(code, `Could not rejoin room "${room}"`, { room, cause }),
      });
    });
    return event;
  }

  /**
   * The server says which rooms this connection is still in (refresh ack, resumed welcome):
   * rooms missing from the list were left because the token no longer grants them. Their
   * members leave the maps; the dropped rooms are returned.
   */
  retain(rooms: readonly string[]): string[] {
    const keep = new Set(rooms);
    const dropped = this.#book
      .rooms()
      .filter((room) => !keep.has(room) && !this.#leaving.has(room));
    for (const room of dropped) this.#announce(this.#book.left(room));
    return dropped;
  }

  /** The client stopped: every room is left, every member leaves the maps. */
  clear(): void {
    this.#leaving.clear();
    for (const change of this.#book.clear()) this.#announce(change);
  }

  #announce(change: PresenceChange): void {
    for (const peer of change.left) this.#o.peerLeft({ room: change.room, peer });
    for (const peer of change.joined) this.#o.peerJoined({ room: change.room, peer });
  }
}
