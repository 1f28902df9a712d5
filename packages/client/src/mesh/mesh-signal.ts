import { isPlainObject, isRoomName } from '@callgate/protocol';

/**
 * The namespace tag of the mesh helper's payloads: `client.send(peerId, { cg: 'mesh', ... })`.
 * Messages without it belong to the application and are left alone.
 *
 * @example
 * ```ts
 * client.on('message', (m) => { if (!isMeshSignal(m.data)) handleAppMessage(m); });
 * ```
 */
export const MESH_NAMESPACE = 'mesh';

/** An SDP offer or answer (`RTCSessionDescriptionInit` without `rollback`, which is never sent). */
export interface MeshDescription {
  type: 'offer' | 'answer' | 'pranswer';
  sdp: string;
}

/** An ICE candidate as `RTCIceCandidate.toJSON()` gives it. */
export interface MeshCandidate {
  candidate: string;
  sdpMid?: string | null;
  sdpMLineIndex?: number | null;
  usernameFragment?: string | null;
}

/**
 * A mesh-call signal, the `data` of a direct message:
 *
 * - `sdp`: an offer or answer for the connection between sender and receiver;
 * - `ice`: a trickled ICE candidate;
 * - `bye`: the sender closed its mesh call (it may stay in the room).
 *
 * `room` says which mesh call (one per room) the signal is for.
 *
 * @example
 * ```ts
 * const s: MeshSignal = { cg: 'mesh', room: 'lobby', kind: 'ice', candidate: c.toJSON() as MeshCandidate };
 * ```
 */
export type MeshSignal =
  | { cg: typeof MESH_NAMESPACE; room: string; kind: 'sdp'; description: MeshDescription }
  | { cg: typeof MESH_NAMESPACE; room: string; kind: 'ice'; candidate: MeshCandidate }
  | { cg: typeof MESH_NAMESPACE; room: string; kind: 'bye' };

/**
 * True when `data` carries the mesh namespace tag (whether or not it is well-formed).
 *
 * @example
 * ```ts
 * isMeshSignal({ cg: 'mesh', room: 'lobby', kind: 'bye' }); // true
 * isMeshSignal({ chat: 'hi' }); // false
 * ```
 */
export function isMeshSignal(data: unknown): boolean {
  return isPlainObject(data) && data.cg === MESH_NAMESPACE;
}

/**
 * Reads a mesh signal out of a message's `data`; null for anything else (foreign messages,
 * malformed signals). Only the listed fields are copied.
 *
 * @example
 * ```ts
 * const s = parseMeshSignal(message.data);
 * if (s?.room === 'lobby' && s.kind === 'sdp') await peer.handle(s);
 * ```
 */
export function parseMeshSignal(data: unknown): MeshSignal | null {
  if (!isPlainObject(data) || data.cg !== MESH_NAMESPACE || !isRoomName(data.room)) return null;
  const room = data.room;
  switch (data.kind) {
    case 'sdp': {
      const d = data.description;
      if (!isPlainObject(d) || typeof d.sdp !== 'string') return null;
      if (d.type !== 'offer' && d.type !== 'answer' && d.type !== 'pranswer') return null;
      return { cg: MESH_NAMESPACE, room, kind: 'sdp', description: { type: d.type, sdp: d.sdp } };
    }
    case 'ice': {
      const c = data.candidate;
      if (!isPlainObject(c) || typeof c.candidate !== 'string') return null;
      const candidate: MeshCandidate = { candidate: c.candidate };
      if (typeof c.sdpMid === 'string' || c.sdpMid === null) candidate.sdpMid = c.sdpMid;
      if (Number.isInteger(c.sdpMLineIndex) || c.sdpMLineIndex === null)
        candidate.sdpMLineIndex = c.sdpMLineIndex as number | null;
      if (typeof c.usernameFragment === 'string' || c.usernameFragment === null)
        candidate.usernameFragment = c.usernameFragment;
      return { cg: MESH_NAMESPACE, room, kind: 'ice', candidate };
    }
    case 'bye':
      return { cg: MESH_NAMESPACE, room, kind: 'bye' };
    default:
      return null;
  }
}
