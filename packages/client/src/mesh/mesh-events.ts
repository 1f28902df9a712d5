/**
 * Why a peer's connection was removed from a mesh call:
 *
 * - `left`: the peer left the room (or this client left or lost it);
 * - `bye`: the peer closed its mesh call;
 * - `rejoined`: this client became a new peer after a failed resume, so every connection is
 *   rebuilt;
 * - `closed`: this mesh call was closed.
 *
 * @example
 * ```ts
 * mesh.on('peerRemoved', ({ peerId, reason }) => removeTile(peerId, reason));
 * ```
 */
export type PeerRemovedReason = 'left' | 'bye' | 'rejoined' | 'closed';

/**
 * Every event of a {@link MeshCall} and its payload.
 *
 * @example
 * ```ts
 * mesh.on('remoteStream', ({ peerId, stream }) => attach(peerId, stream));
 * mesh.on('peerConnectionState', ({ peerId, state }) => setBadge(peerId, state));
 * ```
 */
export interface MeshCallEvents {
  /** A connection to a remote peer was created. */
  peerAdded: { peerId: string; connection: RTCPeerConnection; polite: boolean };
  /** A remote track arrived; `stream` is the sender's stream (stable per peer and stream). */
  remoteStream: { peerId: string; stream: MediaStream; track: MediaStreamTrack };
  /** `RTCPeerConnection.connectionState` of one peer changed. */
  peerConnectionState: { peerId: string; state: RTCPeerConnectionState };
  /** The data channel to a peer opened (with `dataChannel: true`). */
  dataChannelOpen: { peerId: string; channel: RTCDataChannel };
  /** A data-channel message from a peer. */
  dataChannelMessage: { peerId: string; data: string | ArrayBuffer };
  /** A peer's connection was closed and forgotten. */
  peerRemoved: { peerId: string; reason: PeerRemovedReason };
  /** Something failed for one peer (negotiation, ICE, signaling); the call goes on. */
  error: { peerId?: string; error: unknown };
}
