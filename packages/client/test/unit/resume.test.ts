import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerInfo } from '@callgate/protocol';
import { harness, connected } from '../support/harness.js';
import { newPeerId } from '../support/fake-server.js';
import { eventually, payloads } from '../support/wait.js';

const peer = (userId: string): PeerInfo => ({
  peerId: newPeerId(),
  userId,
  metadata: { name: userId },
});

describe('resume', () => {
  test('after a cut the reconnect offers resume.<token>; peerId, rooms and presence survive', async () => {
    const h = await harness();
    try {
      const x = peer('x');
      h.fake.snapshots.set('a', [x]);
      const { conn, welcome } = await connected(h);
      assert.deepEqual(await h.client.join('a'), [x]);

      conn.drop();
      await eventually(() => h.client.state === 'reconnecting', 'reconnecting');
      assert.equal(h.client.peerId, welcome.peerId, 'kept while reconnecting');
      h.clock.advance(75);
      const again = await h.fake.nextConnection(1);
      assert.deepEqual(again.attempt.protocols, [
        'callgate.v1',
        'bearer.tok1',
        `resume.${welcome.resumeToken}`,
      ]);
      await eventually(() => h.client.state === 'connected', 'connected');
      assert.equal(again.welcome!.resumed, true);
      assert.equal(h.client.peerId, welcome.peerId);
      assert.deepEqual(h.client.rooms, ['a']);
      assert.deepEqual(h.client.peers('a'), [x]);
      // Buffered messages follow the welcome and are delivered as usual.
      again.send({ type: 'message', from: x.peerId, data: { seq: 1 } });
      await eventually(() => payloads(h.events, 'message').length === 1, 'message');
      await h.client.ping();
      assert.deepEqual(
        again.received.map((m) => m.type),
        ['ping'],
        'no join re-sent after a successful resume',
      );
      assert.equal(payloads(h.events, 'rejoined').length, 0);
      assert.equal(payloads(h.events, 'peerLeft').length, 0);
      assert.deepEqual(
        payloads(h.events, 'state').map((s) => s.state),
        ['connecting', 'connected', 'reconnecting', 'connected'],
      );
      assert.deepEqual(payloads(h.events, 'state')[2]!.reason, { code: 1006, reason: '' });
    } finally {
      await h.close();
    }
  });

  test('a failed resume re-joins the rooms first, reconciles presence and emits rejoined', async () => {
    const h = await harness();
    try {
      const [x, y, z] = [peer('x'), peer('y'), peer('z')];
      h.fake.snapshots.set('a', [x, y]);
      const { conn, welcome } = await connected(h);
      await h.client.join('a');
      await h.client.join('b'); // no presence in b
      h.fake.honourResume = false;
      h.fake.snapshots.set('a', [y, z]);

      conn.drop();
      await eventually(() => h.client.state === 'reconnecting', 'reconnecting');
      const published = h.client.publish('b', { hello: 1 }); // made while reconnecting
      h.clock.advance(75);
      const again = await h.fake.nextConnection(1);
      await published;
      await eventually(() => payloads(h.events, 'rejoined').length === 1, 'rejoined');

      assert.equal(again.welcome!.resumed, false);
      assert.notEqual(h.client.peerId, welcome.peerId);
      assert.deepEqual(
        again.received.map((m) => [m.type, 'room' in m ? m.room : undefined]),
        [
          ['join', 'a'],
          ['join', 'b'],
          ['publish', 'b'],
        ],
        'rooms re-joined before the waiting request is sent',
      );
      assert.deepEqual(payloads(h.events, 'rejoined')[0], {
        peerId: again.welcome!.peerId,
        previousPeerId: welcome.peerId,
        rooms: ['a', 'b'],
        failed: [],
      });
      assert.deepEqual(payloads(h.events, 'peerLeft'), [{ room: 'a', peer: x }]);
      assert.deepEqual(
        payloads(h.events, 'peerJoined').map((e) => e.peer.userId),
        ['x', 'y', 'z'],
      );
      assert.deepEqual(h.client.peers('a'), [y, z]);
      assert.deepEqual(h.client.rooms, ['a', 'b']);
      assert.equal(payloads(h.events, 'error').length, 0, 'resume_failed is not an app error');
    } finally {
      await h.close();
    }
  });

  test('a room that cannot be re-joined is dropped and reported', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      await h.client.join('a');
      await h.client.join('b');
      h.fake.honourResume = false;
      h.fake.onMessage = (c, m) => {
        if (c !== conn && m.type === 'join' && m.room === 'b') {
          c.error(m, 'forbidden');
          return true;
        }
        return false;
      };
      conn.drop();
      await eventually(() => h.client.state === 'reconnecting', 'reconnecting');
      h.clock.advance(75);
      await eventually(() => payloads(h.events, 'rejoined').length === 1, 'rejoined');
      const rejoined = payloads(h.events, 'rejoined')[0]!;
      assert.deepEqual(rejoined.rooms, ['a']);
      assert.equal(rejoined.failed.length, 1);
      assert.equal(rejoined.failed[0]!.room, 'b');
      assert.equal(rejoined.failed[0]!.error.code, 'forbidden');
      assert.deepEqual(h.client.rooms, ['a']);
      const errors = payloads(h.events, 'error');
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, 'forbidden');
      assert.equal(errors[0]!.room, 'b');
    } finally {
      await h.close();
    }
  });

  test('no resume is offered once the resume grace has passed; the rooms are re-joined', async () => {
    const h = await harness();
    try {
      h.fake.limits = { ...h.fake.limits, resumeGraceMs: 50 };
      const { conn } = await connected(h);
      await h.client.join('a');
      conn.drop();
      await eventually(() => h.client.state === 'reconnecting', 'reconnecting');
      h.clock.advance(75); // > 50 ms of grace
      const again = await h.fake.nextConnection(1);
      assert.equal(again.attempt.resumeToken, undefined);
      assert.deepEqual(again.attempt.protocols, ['callgate.v1', 'bearer.tok1']);
      await again.next('join');
      await eventually(() => payloads(h.events, 'rejoined').length === 1, 'rejoined');
    } finally {
      await h.close();
    }
  });
});
