import type { MeshCallEvents } from './mesh-events.js';
import type { MeshCandidate, MeshDescription, MeshSignal } from './mesh-signal.js';

/** An `RTCPeerConnection` constructor: the browser's, or a Node implementation's. */
export type RTCPeerConnectionConstructor = new (
  configuration?: RTCConfiguration,
) => RTCPeerConnection;

/** A signal body before the mesh adds its namespace and room. */
export type OutgoingSignal =
  { kind: 'sdp'; description: MeshDescription } | { kind: 'ice'; candidate: MeshCandidate };

export interface MeshPeerOptions {
  peerId: string;
  /** The polite peer yields in an offer collision (W3C WebRTC §10.7 "Perfect negotiation"). */
  polite: boolean;
  RTCPeerConnection: RTCPeerConnectionConstructor;
  configuration: RTCConfiguration;
  localStream: MediaStream | null;
  dataChannel: boolean;
  signal(body: OutgoingSignal): void;
  emit<K extends keyof MeshCallEvents>(event: K, payload: MeshCallEvents[K]): void;
}

/**
 * How long a polite peer waits, before rolling back its own offer, for that offer's first ICE
 * candidate (see `#beforeRollback`).
 */
const ROLLBACK_GATHER_WAIT_MS = 2000;

/** Label and id of the negotiated data channel both sides create. */
const DATA_CHANNEL_LABEL = 'callgate';
const DATA_CHANNEL_ID = 0;

/**
 * One `RTCPeerConnection` of a mesh call, negotiated with the perfect-negotiation pattern
 * (W3C WebRTC 1.0 §10.7; the example of https://w3c.github.io/webrtc-pc/#perfect-negotiation-example):
 * either side may make an offer at any time (`negotiationneeded` on a track change, an ICE
 * restart); in a collision the impolite side ignores the incoming offer and the polite side
 * rolls its own back (implicitly, in `setRemoteDescription`) and answers.
 *
 * Incoming signals are handled one at a time, in the order they arrived.
 *
 * @example
 * ```ts
 * const peer = new MeshPeer({ peerId, polite: self < peerId, RTCPeerConnection, configuration,
 *   localStream, dataChannel: true, signal: (s) => send(peerId, s), emit });
 * await peer.handle(signal);
 * ```
 */
export class MeshPeer {
  readonly peerId: string;
  readonly polite: boolean;
  readonly connection: RTCPeerConnection;
  readonly channel: RTCDataChannel | null;
  readonly #o: MeshPeerOptions;
  #makingOffer = false;
  #ignoreOffer = false;
  #settingRemoteAnswerPending = false;
  /** The `setLocalDescription()` of the offer being made, while it runs. */
  #offerInFlight: Promise<void> | null = null;
  /** Local candidates surfaced since the last local offer; wakes `#beforeRollback`. */
  #candidatesSinceOffer = 0;
  #gatherWaiters: Array<() => void> = [];
  #queue: Promise<void> = Promise.resolve();
  #closed = false;
  /** Streams made for tracks that arrived without one (`addTrack` without a stream). */
  #looseStream: MediaStream | null = null;

  constructor(options: MeshPeerOptions) {
    this.#o = options;
    this.peerId = options.peerId;
    this.polite = options.polite;
    const pc = new options.RTCPeerConnection(options.configuration);
    this.connection = pc;
    pc.onnegotiationneeded = () => void this.#negotiate();
    pc.onicecandidate = ({ candidate }) => {
      this.#candidatesSinceOffer++;
      for (const wake of this.#gatherWaiters.splice(0)) wake();
      // A null candidate (or an empty one) marks the end of gathering: nothing to send.
      if (!candidate || !candidate.candidate) return;
      const init = candidate.toJSON();
      options.signal({ kind: 'ice', candidate: { ...init, candidate: candidate.candidate } });
    };
    pc.ontrack = ({ track, streams }) => {
      if (this.#closed) return;
      const stream = streams[0] ?? this.#streamFor(track);
      if (stream) options.emit('remoteStream', { peerId: this.peerId, stream, track });
    };
    pc.onconnectionstatechange = () => {
      if (this.#closed) return;
      const state = pc.connectionState;
      options.emit('peerConnectionState', { peerId: this.peerId, state });
      // A failed path (a NAT rebinding, expired relay permissions): gather again with the
      // freshest ICE servers; the restart offer goes through perfect negotiation.
      if (state === 'failed') pc.restartIce();
    };
    this.channel = options.dataChannel ? this.#openChannel(pc) : null;
    const stream = options.localStream;
    if (stream) for (const track of stream.getTracks()) pc.addTrack(track, stream);
  }

  /** Handles one signal from the remote peer (after those before it). */
  handle(signal: MeshSignal): Promise<void> {
    this.#queue = this.#queue
      .then(() => this.#handle(signal))
      .catch((error: unknown) => {
        if (!this.#closed) this.#o.emit('error', { peerId: this.peerId, error });
      });
    return this.#queue;
  }

  /** Sends the tracks of `stream` and stops sending any other; renegotiates as needed. */
  setLocalStream(stream: MediaStream | null): void {
    const pc = this.connection;
    const tracks = stream?.getTracks() ?? [];
    for (const sender of pc.getSenders())
      if (sender.track && !tracks.includes(sender.track)) pc.removeTrack(sender);
    const sending = new Set(pc.getSenders().map((s) => s.track));
    if (stream) for (const track of tracks) if (!sending.has(track)) pc.addTrack(track, stream);
  }

  /** Swaps a sent track without renegotiating (a camera switch). */
  async replaceTrack(previous: MediaStreamTrack, next: MediaStreamTrack | null): Promise<void> {
    for (const sender of this.connection.getSenders())
      if (sender.track === previous) await sender.replaceTrack(next);
  }

  /** New ICE servers (fresh TURN credentials after a refresh): used by the next gathering. */
  setIceServers(iceServers: RTCIceServer[]): void {
    const pc = this.connection;
    pc.setConfiguration({ ...pc.getConfiguration(), iceServers });
  }

  /** Sends on the data channel; false when there is none or it is not open. */
  sendData(data: string | ArrayBuffer): boolean {
    const ch = this.channel;
    if (!ch || ch.readyState !== 'open') return false;
    if (typeof data === 'string') ch.send(data);
    else ch.send(data);
    return true;
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const pc = this.connection;
    pc.onnegotiationneeded = null;
    pc.onicecandidate = null;
    pc.ontrack = null;
    pc.onconnectionstatechange = null;
    this.channel?.close();
    pc.close();
  }

  async #negotiate(): Promise<void> {
    if (this.#closed) return;
    try {
      this.#makingOffer = true;
      this.#candidatesSinceOffer = 0;
      // Without arguments: an offer or, in have-remote-offer, an answer (W3C WebRTC §4.4.1.5).
      const setting = this.connection.setLocalDescription();
      this.#offerInFlight = setting.catch(() => {});
      await setting;
      this.#sendLocalDescription();
    } catch (error) {
      if (!this.#closed) this.#o.emit('error', { peerId: this.peerId, error });
    } finally {
      this.#makingOffer = false;
      this.#offerInFlight = null;
    }
  }

  /**
   * Chromium (seen in 156) wedges ICE gathering when an offer is rolled back before it surfaced
   * any candidate: the answer that follows never gathers, and the connection stays `new`. Both
   * sides of a mesh offer at once whenever a peer joins, so the polite side rolls back within
   * milliseconds of its own offer. Waiting for that offer's first candidate (or the end of
   * gathering, at most {@link ROLLBACK_GATHER_WAIT_MS}) before the implicit rollback avoids it.
   */
  async #beforeRollback(): Promise<void> {
    await this.#offerInFlight;
    const pc = this.connection;
    if (this.#closed || pc.signalingState !== 'have-local-offer') return;
    if (pc.iceGatheringState === 'complete' || this.#candidatesSinceOffer > 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ROLLBACK_GATHER_WAIT_MS);
      this.#gatherWaiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  async #handle(signal: MeshSignal): Promise<void> {
    if (this.#closed) return;
    const pc = this.connection;
    if (signal.kind === 'sdp') {
      const description = signal.description;
      const readyForOffer =
        !this.#makingOffer && (pc.signalingState === 'stable' || this.#settingRemoteAnswerPending);
      const offerCollision = description.type === 'offer' && !readyForOffer;
      this.#ignoreOffer = !this.polite && offerCollision;
      if (this.#ignoreOffer) return;
      if (offerCollision) await this.#beforeRollback();
      this.#settingRemoteAnswerPending = description.type === 'answer';
      try {
        await pc.setRemoteDescription(description);
      } finally {
        this.#settingRemoteAnswerPending = false;
      }
      if (description.type === 'offer') {
        await pc.setLocalDescription();
        this.#sendLocalDescription();
      }
    } else if (signal.kind === 'ice') {
      try {
        await pc.addIceCandidate(signal.candidate);
      } catch (error) {
        // Candidates of an offer we ignored cannot be added; anything else is a real error.
        if (!this.#ignoreOffer) throw error;
      }
    }
  }

  #sendLocalDescription(): void {
    const d = this.connection.localDescription;
    if (!d || this.#closed) return;
    if (d.type !== 'offer' && d.type !== 'answer' && d.type !== 'pranswer') return;
    this.#o.signal({ kind: 'sdp', description: { type: d.type, sdp: d.sdp } });
  }

  #openChannel(pc: RTCPeerConnection): RTCDataChannel {
    // Negotiated with a fixed id on both sides: symmetric, no `datachannel` event, no race
    // about who creates it (RFC 8832 is not needed).
    const ch = pc.createDataChannel(DATA_CHANNEL_LABEL, { negotiated: true, id: DATA_CHANNEL_ID });
    ch.binaryType = 'arraybuffer';
    ch.onopen = () => {
      if (!this.#closed) this.#o.emit('dataChannelOpen', { peerId: this.peerId, channel: ch });
    };
    ch.onmessage = (event: MessageEvent<string | ArrayBuffer>) => {
      if (!this.#closed)
        this.#o.emit('dataChannelMessage', { peerId: this.peerId, data: event.data });
    };
    return ch;
  }

  #streamFor(track: MediaStreamTrack): MediaStream | null {
    if (typeof MediaStream === 'undefined') return null;
    if (!this.#looseStream) this.#looseStream = new MediaStream();
    this.#looseStream.addTrack(track);
    return this.#looseStream;
  }
}
