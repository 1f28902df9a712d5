import { describe, test, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import {
  createClient,
  createMeshCall,
  type CallgateClient,
  type MeshCallEvents,
} from '../../src/index.js';
import { FakeServer } from '../support/fake-server.js';
import { FakeRTCPeerConnection, FakeStream, FakeTrack } from '../support/fake-rtc.js';
import { ManualClock } from '../support/manual-clock.js';
import { eventually, settle } from '../support/wait.js';

const NEW_ICE = [
  { urls: ['turn:turn.test:443?transport=tcp'], username: '9:sid', credential: 'c9' },
];

function makeClient(fake: FakeServer, clock: ManualClock): CallgateClient {
  let n = 0;
  return createClient({ url: fake.url, getToken: async () => `tok${++n}`, WebSocket, clock });
}

function recordMesh(mesh: {
  on<K extends keyof MeshCallEvents>(e: K, l: (p: MeshCallEvents[K]) => void): () => void;
}) {
  const out: Array<[keyof MeshCallEvents, unknown]> = [];
  for (const e of ['peerAdded', 'peerConnectionState', 'peerRemoved', 'error'] as const)
    mesh.on(e, (p) => out.push([e, p]));
  return out;
}

/** The two ends of one connection have each applied the other's description. */
function converged(a: FakeRTCPeerConnection, b: FakeRTCPeerConnection): boolean {
  return (
    a.signalingState === 'stable' &&
    b.signalingState === 'stable' &&
    a.localDescription !== null &&
    a.localDescription.sdp === b.remoteDescription?.sdp &&
    b.localDescription?.sdp === a.remoteDescription?.sdp
  );
}

describe('createMeshCall (with a fake RTCPeerConnection)', () => {
  beforeEach(() => {
    FakeRTCPeerConnection.instances.length = 0;
  });

  test('one connection per peer, perfect negotiation through client.send, ICE updates, removal on leave', async () => {
    const fake = await FakeServer.start();
    fake.relay = true;
    fake.refreshIceServers = NEW_ICE;
    const clock = new ManualClock();
    const a = makeClient(fake, clock);
    const b = makeClient(fake, clock);
    try {
      await a.connect();
      await a.join('call');
      const meshA = createMeshCall(a, 'call', {
        RTCPeerConnection: FakeRTCPeerConnection.ctor,
        localStream: new FakeStream([new FakeTrack('audio')]) as unknown as MediaStream,
        iceTransportPolicy: 'relay',
      });
      const eventsA = recordMesh(meshA);
      await b.connect();
      await b.join('call');
      // B joins second and starts its mesh after the join: it learns A from the snapshot,
      // A learns B from presence; both have a track, so both offer at once (glare).
      const meshB = createMeshCall(b, 'call', {
        RTCPeerConnection: FakeRTCPeerConnection.ctor,
        localStream: new FakeStream([new FakeTrack('video')]) as unknown as MediaStream,
        iceTransportPolicy: 'relay',
      });
      const eventsB = recordMesh(meshB);
      await eventually(
        () => meshA.peerIds.length === 1 && meshB.peerIds.length === 1,
        'both meshes have a peer',
      );
      const pcA = meshA.connection(b.peerId!) as unknown as FakeRTCPeerConnection;
      const pcB = meshB.connection(a.peerId!) as unknown as FakeRTCPeerConnection;
      await eventually(() => converged(pcA, pcB), 'negotiation converged');
      assert.equal(FakeRTCPeerConnection.instances.length, 2, 'exactly one connection per pair');
      const polite = a.peerId! < b.peerId! ? pcA : pcB;
      const impolite = polite === pcA ? pcB : pcA;
      assert.ok(!impolite.history.includes('rollback'), 'the impolite peer never yields');
      assert.ok(impolite.candidates.length + polite.candidates.length > 0, 'candidates trickled');
      assert.equal(pcA.configuration.iceTransportPolicy, 'relay');
      assert.deepEqual(pcA.configuration.iceServers, [...a.iceServers]);
      assert.deepEqual(
        eventsA.filter(([e]) => e === 'peerConnectionState').map(([, p]) => p),
        [{ peerId: b.peerId, state: 'connected' }],
      );
      assert.equal(eventsA.filter(([e]) => e === 'error').length, 0, JSON.stringify(eventsA));
      assert.equal(eventsB.filter(([e]) => e === 'error').length, 0, JSON.stringify(eventsB));

      // A refresh brings fresh TURN credentials: every connection gets them.
      fake.connections[0]!.send({ type: 'token_expiring', expiresAt: Date.now() + 60_000 });
      await eventually(() => pcA.configurations.length === 1, 'setConfiguration');
      assert.deepEqual(pcA.configuration.iceServers, NEW_ICE);
      assert.equal(pcA.configuration.iceTransportPolicy, 'relay', 'the policy is kept');

      // A track change renegotiates (onnegotiationneeded) and converges again.
      const offersBefore = pcA.history.length + pcB.history.length;
      meshA.setLocalStream(
        new FakeStream([new FakeTrack('audio'), new FakeTrack('video')]) as unknown as MediaStream,
      );
      await eventually(
        () => pcA.history.length + pcB.history.length > offersBefore && converged(pcA, pcB),
        'renegotiated',
      );

      // Messages that are not mesh signals are left to the app.
      await b.send(a.peerId!, { chat: 'hello' });
      await b.send(a.peerId!, { cg: 'mesh', room: 'other-room', kind: 'bye' });
      await settle();
      assert.deepEqual(meshA.peerIds, [b.peerId]);

      // B leaves the room: A's connection to B is closed and forgotten.
      await b.leave('call');
      await eventually(() => meshA.peerIds.length === 0, 'peer removed');
      assert.ok(pcA.closed);
      assert.deepEqual(eventsA.at(-1), ['peerRemoved', { peerId: b.peerId, reason: 'left' }]);
      assert.deepEqual(eventsB.at(-1), ['peerRemoved', { peerId: a.peerId, reason: 'left' }]);
      meshA.close();
      meshB.close();
    } finally {
      await Promise.all([a.close(), b.close()].map((p) => (clock.advance(5000), p)));
      await fake.close();
    }
  });

  test('close() says bye: the other side drops its connection', async () => {
    const fake = await FakeServer.start();
    fake.relay = true;
    const clock = new ManualClock();
    const a = makeClient(fake, clock);
    const b = makeClient(fake, clock);
    try {
      await a.connect();
      await a.join('call');
      await b.connect();
      await b.join('call');
      const options = { RTCPeerConnection: FakeRTCPeerConnection.ctor, dataChannel: true };
      const meshA = createMeshCall(a, 'call', options);
      const meshB = createMeshCall(b, 'call', options);
      const eventsB = recordMesh(meshB);
      await eventually(() => meshA.peerIds.length === 1 && meshB.peerIds.length === 1, 'peers');
      meshA.close();
      await eventually(() => meshB.peerIds.length === 0, 'bye handled');
      assert.deepEqual(eventsB.at(-1), ['peerRemoved', { peerId: a.peerId, reason: 'bye' }]);
      assert.deepEqual(a.rooms, ['call'], 'closing the call does not leave the room');
      meshB.close();
    } finally {
      await Promise.all([a.close(), b.close()].map((p) => (clock.advance(5000), p)));
      await fake.close();
    }
  });

  test('misuse throws a TypeError naming the option', async () => {
    const fake = await FakeServer.start();
    const client = makeClient(fake, new ManualClock());
    try {
      assert.throws(() => createMeshCall(client, 'call'), {
        name: 'TypeError',
        message: /"RTCPeerConnection" option/,
      });
      assert.throws(
        () =>
          createMeshCall(client, 'call', {
            RTCPeerConnection: FakeRTCPeerConnection.ctor,
            iceTransportPolicy: 'none' as 'all',
          }),
        { name: 'TypeError', message: /"iceTransportPolicy" option/ },
      );
    } finally {
      await fake.close();
    }
  });
});
