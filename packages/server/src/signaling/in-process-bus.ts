import type { Permission } from '@callgate/protocol';
import type {
  Bus,
  ControlEvent,
  Frame,
  JoinResult,
  Member,
  RoomDeliveryOptions,
  Sink,
} from './bus.js';

/**
 * The single-process bus: rooms and sinks in Maps. Keys always include the tenant, so two
 * tenants' rooms of the same name never meet.
 */
export function createInProcessBus(): Bus {
  const rooms = new Map<string, Map<string, Map<string, Member>>>();
  // tenant → peerId → sink: two lookups, no key string built per delivery.
  const sinks = new Map<string, Map<string, Sink>>();
  const controlHandlers: Array<(e: ControlEvent) => void | Promise<void>> = [];
  const roomOf = (tenant: string, room: string) => rooms.get(tenant)?.get(room);

  return {
    async join(tenant, room, member, maxPeers): Promise<JoinResult> {
      let byRoom = rooms.get(tenant);
      if (!byRoom) rooms.set(tenant, (byRoom = new Map()));
      let members = byRoom.get(room);
      if (!members) byRoom.set(room, (members = new Map()));
      const before = [...members.values()].filter((m) => m.peerId !== member.peerId);
      if (!members.has(member.peerId) && members.size >= maxPeers) {
        if (members.size === 0) byRoom.delete(room);
        return { ok: false, reason: 'room_full' };
      }
      members.set(member.peerId, member);
      return { ok: true, members: before };
    },
    async leave(tenant, room, peerId) {
      const byRoom = rooms.get(tenant);
      const members = byRoom?.get(room);
      if (!members?.delete(peerId)) return false;
      if (members.size === 0) {
        byRoom!.delete(room);
        if (byRoom!.size === 0) rooms.delete(tenant);
      }
      return true;
    },
    updatePermissions(tenant, room, peerId, permissions: ReadonlySet<Permission>) {
      const m = roomOf(tenant, room)?.get(peerId);
      if (m) m.permissions = permissions;
    },
    isMember(tenant, room, peerId) {
      return roomOf(tenant, room)?.has(peerId) ?? false;
    },
    getMember(tenant, room, peerId) {
      return roomOf(tenant, room)?.get(peerId);
    },
    members(tenant, room) {
      return [...(roomOf(tenant, room)?.values() ?? [])];
    },
    rooms(tenant) {
      return [...(rooms.get(tenant)?.entries() ?? [])].map(([room, m]) => ({
        room,
        peers: m.size,
      }));
    },
    attach(tenant, peerId, sink) {
      let byPeer = sinks.get(tenant);
      if (!byPeer) sinks.set(tenant, (byPeer = new Map()));
      byPeer.set(peerId, sink);
    },
    detach(tenant, peerId) {
      const byPeer = sinks.get(tenant);
      if (byPeer?.delete(peerId) && byPeer.size === 0) sinks.delete(tenant);
    },
    deliverToPeer(tenant, peerId, frame: Frame) {
      const sink = sinks.get(tenant)?.get(peerId);
      if (!sink) return false;
      sink(frame);
      return true;
    },
    deliverToRoom(tenant, room, frame, options: RoomDeliveryOptions = {}) {
      const members = roomOf(tenant, room);
      const byPeer = sinks.get(tenant);
      if (!members || !byPeer) return 0;
      let n = 0;
      for (const m of members.values()) {
        if (m.peerId === options.except) continue;
        if (options.requirePermission && !m.permissions.has(options.requirePermission)) continue;
        const sink = byPeer.get(m.peerId);
        if (sink) {
          sink(frame);
          n++;
        }
      }
      return n;
    },
    async publishControl(event) {
      for (const h of controlHandlers) await h(event);
    },
    onControl(handler) {
      controlHandlers.push(handler);
    },
    async close() {
      rooms.clear();
      sinks.clear();
    },
  };
}
