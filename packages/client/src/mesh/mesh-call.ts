import { SERVER_SENDER, isRoomName, type DataMessage } from '@callgate/protocol';
import type { CallgateClient } from '../callgate-client.js';
import { CallgateClientError } from '../client-error.js';
import { Emitter } from '../emitter.js';
import type { MeshCallEvents, PeerRemovedReason } from './mesh-events.js';
import { MeshPeer, type OutgoingSignal, type RTCPeerConnectionConstructor } from './mesh-peer.js';
import { MESH_NAMESPACE, parseMeshSignal } from './mesh-signal.js';

/**
 * Options of {@link createMeshCall}.
 *
 * @example
 * ```ts
 * const options: MeshCallOptions = { localStream: await navigator.mediaDevices.getUserMedia({ audio: true }),
 *   iceTransportPolicy: 'relay', dataChannel: true };
 * ```
 */
export interface MeshCallOptions {
  /** Tracks to send to every peer; change later with `setLocalStream`. */
  localStream?: MediaStream | null;
  /** Defaults to `globalThis.RTCPeerConnection`. */
  RTCPeerConnection?: RTCPeerConnectionConstructor;
  /** `'relay'` sends media only through TURN (hides IP addresses; tests the relay). Default `'all'`. */
  iceTransportPolicy?: 'all' | 'relay';
  /** Open a data channel to every peer (`sendData`, `dataChannelMessage`). Default false. */
  dataChannel?: boolean;
}

/**
 * A full-mesh call in one room: one `RTCPeerConnection` per other member, negotiated with the
 * perfect-negotiation pattern over `client.send` (payloads tagged `{ cg: 'mesh', room }`;
 * other messages are ignored). Connections follow presence: a peer that joins gets one, a
 * peer that leaves loses it; after a failed resume (`rejoined`) all are rebuilt. ICE servers
 * follow the client's (fresh TURN credentials after each refresh). Needs the `presence`
 * permission to discover peers (an offer from a peer it does not know yet also creates one),
 * and `send` to signal.
 *
 * Make one with {@link createMeshCall}.
 *
 * @example
 * ```ts
 * const mesh = createMeshCall(client, 'room-1', { localStream });
 * mesh.on('remoteStream', ({ peerId, stream }) => videoFor(peerId).srcObject = stream);
 * mesh.on('peerRemoved', ({ peerId }) => videoFor(peerId).remove());
 * ```
 */
export class MeshCall {
  readonly room: string;
  readonly #client: CallgateClient;
  readonly #events = new Emitter<MeshCallEvents>();
  readonly #peers = new Map<string, MeshPeer>();
  readonly #RTCPeerConnection: RTCPeerConnectionConstructor;
  readonly #iceTransportPolicy: 'all' | 'relay';
  readonly #dataChannel: boolean;
  readonly #unsubscribe: Array<() => void>;
  #localStream: MediaStream | null;
  #selfId: string | undefined;
  #closed = false;

  constructor(client: CallgateClient, room: string, options: MeshCallOptions = {}) {
    if (!isRoomName(room))
      throw new TypeError('"room" must be a room name ([A-Za-z0-9._:-], 1..128)');
    const ctor =
      options.RTCPeerConnection ??
      (globalThis as { RTCPeerConnection?: RTCPeerConnectionConstructor }).RTCPeerConnection;
    if (typeof ctor !== 'function') {
      throw new TypeError('"RTCPeerConnection" option is required where WebRTC is not built in');
    }
    const policy = options.iceTransportPolicy ?? 'all';
    if (policy !== 'all' && policy !== 'relay') {
      throw new TypeError('"iceTransportPolicy" option must be "all" or "relay"');
    }
    this.room = room;
    this.#client = client;
    this.#RTCPeerConnection = ctor;
    this.#iceTransportPolicy = policy;
    this.#dataChannel = options.dataChannel ?? false;
    this.#localStream = options.localStream ?? null;
    this.#selfId = client.peerId;
    this.#unsubscribe = [
      client.on('peerJoined', (e) => {
        if (e.room === room) this.#ensure(e.peer.peerId);
      }),
      client.on('peerLeft', (e) => {
        if (e.room === room) this.#remove(e.peer.peerId, 'left');
      }),
      client.on('message', (m) => this.#onMessage(m)),
      client.on('iceServers', (servers) => {
        for (const peer of this.#peers.values())
          this.#guard(peer.peerId, () => peer.setIceServers(servers));
      }),
      // A new peer id (a failed resume): every connection was made as the old one.
      client.on('welcome', (w) => {
        if (this.#selfId !== undefined && w.peerId !== this.#selfId)
          for (const peerId of [...this.#peers.keys()]) this.#remove(peerId, 'rejoined');
        this.#selfId = w.peerId;
      }),
      client.on('rejoined', () => this.#syncWithPresence()),
    ];
    this.#syncWithPresence();
  }

  /** Peer ids with a connection. */
  get peerIds(): string[] {
    return [...this.#peers.keys()];
  }

  /** The stream being sent. */
  get localStream(): MediaStream | null {
    return this.#localStream;
  }

  /** The connection to `peerId` (for stats, `getTransceivers()`, ...). */
  connection(peerId: string): RTCPeerConnection | undefined {
    return this.#peers.get(peerId)?.connection;
  }

  /** The data channel to `peerId`, with `dataChannel: true`. */
  dataChannel(peerId: string): RTCDataChannel | undefined {
    return this.#peers.get(peerId)?.channel ?? undefined;
  }

  /** Adds an event listener; returns a function that removes it. */
  on<K extends keyof MeshCallEvents>(
    event: K,
    listener: (payload: MeshCallEvents[K]) => void,
  ): () => void {
    return this.#events.on(event, listener);
  }

  off<K extends keyof MeshCallEvents>(
    event: K,
    listener: (payload: MeshCallEvents[K]) => void,
  ): void {
    this.#events.off(event, listener);
  }

  once<K extends keyof MeshCallEvents>(
    event: K,
    listener: (payload: MeshCallEvents[K]) => void,
  ): () => void {
    return this.#events.once(event, listener);
  }

  /** Sends the tracks of `stream` to every peer (null: send nothing); renegotiates. */
  setLocalStream(stream: MediaStream | null): void {
    this.#localStream = stream;
    for (const peer of this.#peers.values())
      this.#guard(peer.peerId, () => peer.setLocalStream(stream));
  }

  /** Replaces a sent track everywhere without renegotiating (switching cameras). */
  async replaceTrack(previous: MediaStreamTrack, next: MediaStreamTrack | null): Promise<void> {
    await Promise.all([...this.#peers.values()].map((peer) => peer.replaceTrack(previous, next)));
  }

  /**
   * Sends on the data channel to `peerId`, or to every peer; returns how many channels took it
   * (a channel that is not open yet is skipped).
   */
  sendData(data: string | ArrayBuffer, peerId?: string): number {
    const targets = peerId === undefined ? [...this.#peers.values()] : [this.#peers.get(peerId)];
    let sent = 0;
    for (const peer of targets) if (peer?.sendData(data)) sent++;
    return sent;
  }

  /** Hangs up: tells every peer (`bye`), closes every connection, stops following the client. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const off of this.#unsubscribe) off();
    for (const peerId of [...this.#peers.keys()]) {
      void this.#client
        .send(peerId, { cg: MESH_NAMESPACE, room: this.room, kind: 'bye' })
        .catch(() => {});
      this.#remove(peerId, 'closed');
    }
    this.#events.clear();
  }

  #syncWithPresence(): void {
    for (const p of this.#client.peers(this.room) ?? []) this.#ensure(p.peerId);
  }

  #ensure(peerId: string): MeshPeer | undefined {
    const existing = this.#peers.get(peerId);
    if (existing || this.#closed) return existing;
    const self = this.#client.peerId;
    if (self === undefined || peerId === self) return undefined;
    const peer = new MeshPeer({
      peerId,
      // Any total order works as long as both sides agree; the smaller peer id yields.
      polite: self < peerId,
      RTCPeerConnection: this.#RTCPeerConnection,
      configuration: {
        iceServers: [...this.#client.iceServers],
        iceTransportPolicy: this.#iceTransportPolicy,
      },
      localStream: this.#localStream,
      dataChannel: this.#dataChannel,
      signal: (body) => this.#signal(peerId, body),
      emit: (event, payload) => this.#events.emit(event, payload),
    });
    this.#peers.set(peerId, peer);
    this.#events.emit('peerAdded', { peerId, connection: peer.connection, polite: peer.polite });
    return peer;
  }

  #remove(peerId: string, reason: PeerRemovedReason): void {
    const peer = this.#peers.get(peerId);
    if (!peer) return;
    this.#peers.delete(peerId);
    peer.close();
    this.#events.emit('peerRemoved', { peerId, reason });
  }

  #onMessage(m: DataMessage): void {
    if (this.#closed || m.room !== undefined || m.from === SERVER_SENDER) return;
    const signal = parseMeshSignal(m.data);
    if (!signal || signal.room !== this.room) return;
    if (signal.kind === 'bye') return this.#remove(m.from, 'bye');
    // The server delivers direct messages only between peers that share a room; an offer can
    // outrun the presence event that announces its sender (a cluster), so accept it.
    if (!this.#client.rooms.includes(this.room)) return;
    const peer = this.#ensure(m.from);
    if (peer) void peer.handle(signal);
  }

  #signal(peerId: string, body: OutgoingSignal): void {
    if (this.#closed) return;
    this.#client
      .send(peerId, { cg: MESH_NAMESPACE, room: this.room, ...body })
      .catch((error: unknown) => {
        // The peer left (its removal follows) or the connection dropped (a resume or rebuild
        // follows): neither is worth reporting.
        if (
          error instanceof CallgateClientError &&
          (error.code === 'peer_not_found' || error.code === 'closed')
        )
          return;
        this.#events.emit('error', { peerId, error });
      });
  }

  #guard(peerId: string, fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.#events.emit('error', { peerId, error });
    }
  }
}

/**
 * Starts a full-mesh WebRTC call among the members of `room` (the client should join it; the
 * call follows presence from then on). See {@link MeshCall}.
 *
 * @example
 * ```ts
 * await client.join('room-1');
 * const local = await navigator.mediaDevices.getUserMedia({ audio: true, video: true });
 * const mesh = createMeshCall(client, 'room-1', { localStream: local, dataChannel: true });
 * mesh.on('remoteStream', ({ peerId, stream }) => show(peerId, stream));
 * mesh.on('dataChannelMessage', ({ peerId, data }) => console.log(peerId, data));
 * // later
 * mesh.close();
 * await client.leave('room-1');
 * ```
 */
export function createMeshCall(
  client: CallgateClient,
  room: string,
  options: MeshCallOptions = {},
): MeshCall {
  return new MeshCall(client, room, options);
}
