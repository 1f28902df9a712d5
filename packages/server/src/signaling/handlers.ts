import {
  CallgateError,
  type ClientMessage,
  type ClientMessageOf,
  type ClientMessageType,
  type ErrorCode,
  type PeerInfo,
} from '@callgate/protocol';
import type { Peer } from './peer.js';
import { frame } from './peer.js';
import type { Member } from './bus.js';
import type { SignalingCore } from './signaling-core.js';

/** `text` is the frame the message was parsed from (relayed `data` is copied from it). */
export type Handler<T extends ClientMessageType> = (
  core: SignalingCore,
  peer: Peer,
  msg: ClientMessageOf<T>,
  text: string,
) => Promise<void> | void;

/** One handler per client message type: the compiler checks none is missing (style.md). */
export const handlers: { [T in ClientMessageType]: Handler<T> } = {
  join: handleJoin,
  leave: handleLeave,
  send: handleSend,
  publish: handlePublish,
  refresh: handleRefresh,
  ping: (core, peer, msg) =>
    core.sendTo(peer, { type: 'pong', ...(msg.id !== undefined ? { id: msg.id } : {}) }),
};

export function dispatch(
  core: SignalingCore,
  peer: Peer,
  msg: ClientMessage,
  text: string,
): Promise<void> | void {
  return (handlers[msg.type] as Handler<typeof msg.type>)(core, peer, msg as never, text);
}

function fail(
  core: SignalingCore,
  peer: Peer,
  id: string | undefined,
  code: ErrorCode,
  message?: string,
): void {
  const err = new CallgateError(code, message);
  core.sendTo(peer, {
    type: 'error',
    ...(id !== undefined ? { id } : {}),
    code: err.code,
    message: err.message,
  });
}

function withId<T extends object>(id: string | undefined, body: T): T & { id?: string } {
  return id === undefined ? body : { id, ...body };
}

export function peerInfo(m: Pick<Member, 'peerId' | 'userId' | 'metadata'>): PeerInfo {
  return { peerId: m.peerId, userId: m.userId, metadata: m.metadata };
}

async function handleJoin(
  core: SignalingCore,
  peer: Peer,
  msg: ClientMessageOf<'join'>,
): Promise<void> {
  const { room, id } = msg;
  // Out-of-scope rooms: `forbidden`, nothing joined and nothing about the room revealed (E62).
  if (!peer.can(room, 'join')) return fail(core, peer, id, 'forbidden');
  if (peer.rooms.has(room)) {
    const peers = peer.can(room, 'presence')
      ? core.bus
          .members(peer.tenant, room)
          .filter((m) => m.peerId !== peer.peerId)
          .map(peerInfo)
      : undefined;
    return core.sendTo(peer, { type: 'ack', ...withId(id, { room }), ...(peers ? { peers } : {}) });
  }
  if (peer.rooms.size >= core.config.maxRoomsPerConnection)
    return fail(core, peer, id, 'too_many_rooms');
  const member: Member = {
    peerId: peer.peerId,
    userId: peer.userId,
    sessionId: peer.sessionId,
    metadata: peer.metadata,
    permissions: peer.permissions(room),
    joinedAt: core.clock.now(),
  };
  const result = await core.bus.join(peer.tenant, room, member, core.config.maxPeersPerRoom);
  if (!result.ok) return fail(core, peer, id, 'room_full');
  if (peer.closing) {
    await core.bus.leave(peer.tenant, room, peer.peerId);
    return;
  }
  peer.rooms.add(room);
  const ack = peer.can(room, 'presence')
    ? { type: 'ack' as const, ...withId(id, { room }), peers: result.members.map(peerInfo) }
    : { type: 'ack' as const, ...withId(id, { room }) };
  core.sendTo(peer, ack);
  core.bus.deliverToRoom(
    peer.tenant,
    room,
    frame({ type: 'presence', room, joined: [peerInfo(member)], left: [] }),
    { except: peer.peerId, requirePermission: 'presence' },
  );
}

async function handleLeave(
  core: SignalingCore,
  peer: Peer,
  msg: ClientMessageOf<'leave'>,
): Promise<void> {
  if (!peer.rooms.has(msg.room)) return fail(core, peer, msg.id, 'not_joined');
  await core.leaveRoom(peer, msg.room);
  core.sendTo(peer, { type: 'ack', ...withId(msg.id, { room: msg.room }) });
}

function handleSend(
  core: SignalingCore,
  peer: Peer,
  msg: ClientMessageOf<'send'>,
  text: string,
): void {
  // Deliver only within a room both share where the sender holds `send`. Every other case —
  // no such peer, another tenant, no shared room, no permission — is the same `peer_not_found`,
  // so peer ids cannot be probed (design.md).
  let shared = false;
  if (msg.to !== peer.peerId)
    for (const room of peer.rooms)
      if (peer.can(room, 'send') && core.bus.isMember(peer.tenant, room, msg.to)) {
        shared = true;
        break;
      }
  if (!shared) return fail(core, peer, msg.id, 'peer_not_found');
  const out = core.messageFrame(peer, undefined, msg.data, text);
  if (!core.bus.deliverToPeer(peer.tenant, msg.to, out))
    return fail(core, peer, msg.id, 'peer_not_found');
  // Fire and forget without `id`: nothing to correlate an ack with (docs/protocol.md).
  if (msg.id !== undefined) core.sendTo(peer, { type: 'ack', id: msg.id });
}

function handlePublish(
  core: SignalingCore,
  peer: Peer,
  msg: ClientMessageOf<'publish'>,
  text: string,
): void {
  if (!peer.can(msg.room, 'publish')) return fail(core, peer, msg.id, 'forbidden');
  if (!peer.rooms.has(msg.room)) return fail(core, peer, msg.id, 'not_joined');
  core.bus.deliverToRoom(peer.tenant, msg.room, core.messageFrame(peer, msg.room, msg.data, text), {
    except: peer.peerId,
  });
  if (msg.id !== undefined) core.sendTo(peer, { type: 'ack', id: msg.id, room: msg.room });
}

async function handleRefresh(
  core: SignalingCore,
  peer: Peer,
  msg: ClientMessageOf<'refresh'>,
): Promise<void> {
  await core.refresh(peer, msg.token, msg.id);
}
