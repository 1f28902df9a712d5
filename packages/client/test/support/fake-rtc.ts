import type { RTCPeerConnectionConstructor } from '../../src/index.js';

/**
 * Just enough of `RTCPeerConnection` to drive the mesh helper's signaling in Node: the
 * signaling-state machine of W3C WebRTC §4.3.1 (stable / have-local-offer /
 * have-remote-offer, implicit rollback of a local offer by a remote one), `negotiationneeded`
 * fired in `stable` after a track or data channel is added (and again if an offer was rolled
 * back), one ICE candidate per local description, and `connectionState` turning `connected`
 * once both descriptions are set. No media, no ICE.
 */

let sdpSeq = 0;
const tick = () => new Promise<void>((r) => setTimeout(r, 0));

export class FakeTrack {
  constructor(
    readonly kind: 'audio' | 'video',
    readonly id = `track${++sdpSeq}`,
  ) {}
}

export class FakeStream {
  readonly id = `stream${++sdpSeq}`;
  constructor(readonly tracks: FakeTrack[]) {}
  getTracks(): FakeTrack[] {
    return this.tracks;
  }
}

interface FakeSender {
  track: FakeTrack | null;
}

interface Description {
  type: 'offer' | 'answer' | 'pranswer' | 'rollback';
  sdp: string;
}

export class FakeRTCPeerConnection {
  static instances: FakeRTCPeerConnection[] = [];
  configuration: RTCConfiguration;
  signalingState: RTCSignalingState = 'stable';
  connectionState: RTCPeerConnectionState = 'new';
  localDescription: Description | null = null;
  remoteDescription: Description | null = null;
  onnegotiationneeded: (() => void) | null = null;
  onicecandidate: ((ev: { candidate: unknown }) => void) | null = null;
  ontrack: ((ev: unknown) => void) | null = null;
  onconnectionstatechange: (() => void) | null = null;
  readonly senders: FakeSender[] = [];
  readonly candidates: RTCIceCandidateInit[] = [];
  /** Descriptions in the order they were applied, e.g. `local:offer`, `remote:answer`. */
  readonly history: string[] = [];
  readonly configurations: RTCConfiguration[] = [];
  restarts = 0;
  closed = false;
  #changed = false;

  constructor(configuration: RTCConfiguration = {}) {
    this.configuration = configuration;
    FakeRTCPeerConnection.instances.push(this);
  }

  /** The constructor, typed for `createMeshCall`. */
  static get ctor(): RTCPeerConnectionConstructor {
    return FakeRTCPeerConnection as unknown as RTCPeerConnectionConstructor;
  }

  getConfiguration(): RTCConfiguration {
    return this.configuration;
  }

  setConfiguration(configuration: RTCConfiguration): void {
    this.configuration = configuration;
    this.configurations.push(configuration);
  }

  addTrack(track: FakeTrack, _stream: FakeStream): FakeSender {
    const sender = { track };
    this.senders.push(sender);
    this.#needNegotiation();
    return sender;
  }

  removeTrack(sender: FakeSender): void {
    sender.track = null;
    this.#needNegotiation();
  }

  getSenders(): FakeSender[] {
    return this.senders;
  }

  createDataChannel(label: string): { label: string; close(): void } {
    this.#needNegotiation();
    return { label, close() {} };
  }

  async setLocalDescription(): Promise<void> {
    await tick();
    if (this.closed) throw new Error('InvalidStateError: closed');
    if (this.signalingState === 'stable') {
      this.localDescription = { type: 'offer', sdp: `offer-${++sdpSeq}` };
      this.signalingState = 'have-local-offer';
    } else if (this.signalingState === 'have-remote-offer') {
      this.localDescription = { type: 'answer', sdp: `answer-${++sdpSeq}` };
      this.signalingState = 'stable';
      this.#changed = false; // our answer carries our tracks
    } else throw new Error(`InvalidStateError: setLocalDescription in ${this.signalingState}`);
    this.history.push(`local:${this.localDescription.type}`);
    this.#afterDescription();
    setTimeout(() =>
      this.onicecandidate?.({
        candidate: {
          candidate: `candidate:${sdpSeq} 1 udp 1 10.0.0.1 9 typ host`,
          toJSON: () => ({
            candidate: `candidate:${sdpSeq} 1 udp 1 10.0.0.1 9 typ host`,
            sdpMid: '0',
            sdpMLineIndex: 0,
          }),
        },
      }),
    );
  }

  async setRemoteDescription(d: Description): Promise<void> {
    await tick();
    if (this.closed) throw new Error('InvalidStateError: closed');
    if (d.type === 'offer') {
      if (this.signalingState === 'have-local-offer') {
        // Implicit rollback (W3C WebRTC §4.4.1.6): our offer is dropped, its changes remain due.
        this.history.push('rollback');
        this.localDescription = null;
        this.signalingState = 'stable';
        this.#changed = true;
      }
      if (this.signalingState !== 'stable')
        throw new Error(`InvalidStateError: offer in ${this.signalingState}`);
      this.signalingState = 'have-remote-offer';
    } else if (d.type === 'answer') {
      if (this.signalingState !== 'have-local-offer')
        throw new Error(`InvalidStateError: answer in ${this.signalingState}`);
      this.signalingState = 'stable';
      this.#changed = false;
    }
    this.remoteDescription = d;
    this.history.push(`remote:${d.type}`);
    this.#afterDescription();
  }

  async addIceCandidate(c: RTCIceCandidateInit): Promise<void> {
    await tick();
    if (!this.remoteDescription) throw new Error('InvalidStateError: no remote description');
    this.candidates.push(c);
  }

  restartIce(): void {
    this.restarts++;
    this.#needNegotiation();
  }

  close(): void {
    this.closed = true;
    this.signalingState = 'closed';
  }

  #needNegotiation(): void {
    this.#changed = true;
    setTimeout(() => this.#maybeNegotiate());
  }

  #maybeNegotiate(): void {
    if (this.#changed && !this.closed && this.signalingState === 'stable') {
      this.#changed = false;
      this.onnegotiationneeded?.();
    }
  }

  #afterDescription(): void {
    if (this.signalingState !== 'stable') return;
    if (this.localDescription && this.remoteDescription && this.connectionState !== 'connected') {
      this.connectionState = 'connected';
      this.onconnectionstatechange?.();
    }
    setTimeout(() => this.#maybeNegotiate());
  }
}
