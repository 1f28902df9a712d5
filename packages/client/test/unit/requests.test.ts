import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { PeerInfo } from '@callgate/protocol';
import { CallgateClientError } from '../../src/index.js';
import { harness, connected } from '../support/harness.js';
import { newPeerId } from '../support/fake-server.js';
import { eventually, payloads, settle } from '../support/wait.js';

const peer = (userId: string): PeerInfo => ({ peerId: newPeerId(), userId, metadata: {} });

describe('requests', () => {
  test('join resolves with the snapshot; presence deltas keep the map and emit peerJoined/peerLeft', async () => {
    const h = await harness();
    try {
      const [x, y] = [peer('x'), peer('y')];
      h.fake.snapshots.set('lobby', [x]);
      const { conn } = await connected(h);
      const snapshot = await h.client.join('lobby');
      assert.deepEqual(snapshot, [x]);
      assert.deepEqual(await conn.next('join'), { type: 'join', id: '1', room: 'lobby' });
      assert.deepEqual(h.client.rooms, ['lobby']);

      conn.send({ type: 'presence', room: 'lobby', joined: [y], left: [x.peerId] });
      await eventually(() => payloads(h.events, 'presence').length === 1, 'presence');
      assert.deepEqual(h.client.peers('lobby'), [y]);
      assert.deepEqual(payloads(h.events, 'peerJoined'), [
        { room: 'lobby', peer: x },
        { room: 'lobby', peer: y },
      ]);
      assert.deepEqual(payloads(h.events, 'peerLeft'), [{ room: 'lobby', peer: x }]);

      await h.client.leave('lobby');
      assert.deepEqual(h.client.rooms, []);
      assert.equal(h.client.peers('lobby'), undefined);
      assert.deepEqual(payloads(h.events, 'peerLeft').at(-1), { room: 'lobby', peer: y });
    } finally {
      await h.close();
    }
  });

  test('join without presence resolves undefined; send, publish and ping resolve on their answers', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      assert.equal(await h.client.join('quiet'), undefined);
      assert.deepEqual(h.client.peers('quiet'), []);
      const to = newPeerId();
      await h.client.send(to, { kind: 'hello', n: 1 });
      assert.deepEqual(await conn.next('send'), {
        type: 'send',
        id: '2',
        to,
        data: { kind: 'hello', n: 1 },
      });
      await h.client.publish('quiet', null);
      assert.deepEqual(await conn.next('publish'), {
        type: 'publish',
        id: '3',
        room: 'quiet',
        data: null,
      });
      assert.equal(typeof (await h.client.ping()), 'number');
    } finally {
      await h.close();
    }
  });

  test("a server error rejects with the server's code (and field)", async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      h.fake.onMessage = (c, m) => {
        if (m.type === 'join') c.error(m, 'forbidden');
        else if (m.type === 'send') c.error(m, 'peer_not_found');
        else if (m.type === 'publish')
          c.send({ type: 'error', id: m.id!, code: 'invalid_room', message: 'bad', field: 'room' });
        else return false;
        return true;
      };
      await assert.rejects(h.client.join('vip'), (err: unknown) => {
        assert.ok(err instanceof CallgateClientError);
        assert.equal(err.code, 'forbidden');
        return true;
      });
      assert.deepEqual(h.client.rooms, []);
      await assert.rejects(h.client.send(newPeerId(), 1), { code: 'peer_not_found' });
      await assert.rejects(h.client.publish('x', 1), { code: 'invalid_room', field: 'room' });
      assert.ok(conn.open, 'errors never close the connection');
    } finally {
      await h.close();
    }
  });

  test('bad input is refused locally, before it could close the socket', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      await assert.rejects(h.client.join('no spaces'), { code: 'invalid_room' });
      await assert.rejects(h.client.send('short', 1), { code: 'invalid_peer_id' });
      await assert.rejects(h.client.publish('r', undefined), { name: 'TypeError' });
      await assert.rejects(h.client.publish('r', { big: 'x'.repeat(70_000) }), {
        code: 'payload_too_large',
      });
      const cyclic: Record<string, unknown> = {};
      cyclic.self = cyclic;
      await assert.rejects(h.client.publish('r', cyclic), { name: 'TypeError' });
      await settle();
      assert.deepEqual(conn.received, []);
    } finally {
      await h.close();
    }
  });

  test('requests before connect() fail with not_connected; unanswered ones with timeout', async () => {
    const h = await harness({ requestTimeoutMs: 4000 });
    try {
      await assert.rejects(h.client.join('a'), { code: 'not_connected' });
      await connected(h);
      h.fake.autoRespond = false;
      const pending = h.client.ping();
      await h.fake.last.next('ping');
      h.clock.advance(3999);
      await settle(5);
      h.clock.advance(1);
      await assert.rejects(pending, { code: 'timeout' });
    } finally {
      await h.close();
    }
  });

  test('requests made while reconnecting wait for the connection and are sent after welcome', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      await h.client.join('a');
      conn.drop();
      await eventually(() => h.client.state === 'reconnecting', 'reconnecting');
      const published = h.client.publish('a', 'while away');
      const pinged = h.client.ping();
      await settle();
      h.clock.advance(75);
      const again = await h.fake.nextConnection(1);
      await published;
      await pinged;
      assert.deepEqual(
        again.received.map((m) => m.type),
        ['publish', 'ping'],
      );
    } finally {
      await h.close();
    }
  });

  test('waiting is bounded by requestTimeoutMs', async () => {
    const h = await harness({ requestTimeoutMs: 3000 });
    try {
      const { conn } = await connected(h);
      h.fake.refuseUpgradeStatus = 503;
      conn.drop();
      await eventually(() => h.client.state === 'reconnecting', 'reconnecting');
      const pending = h.client.publish('a', 1);
      h.clock.advance(3000);
      await assert.rejects(pending, { code: 'timeout' });
      assert.equal(h.client.state, 'reconnecting');
    } finally {
      await h.close();
    }
  });

  test('a drop mid-request: send fails with closed, join is sent again and resolves', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      h.fake.autoRespond = false;
      const sent = h.client.send(newPeerId(), 'once');
      const joined = h.client.join('a');
      await conn.next('join');
      conn.drop();
      await assert.rejects(sent, { code: 'closed', closeCode: 1006 });
      h.fake.autoRespond = true;
      h.clock.advance(75);
      const again = await h.fake.nextConnection(1);
      assert.equal(await joined, undefined);
      assert.deepEqual(
        again.received.map((m) => m.type),
        ['join'],
      );
      assert.deepEqual(h.client.rooms, ['a']);
    } finally {
      await h.close();
    }
  });

  test('leave resolves when the server says not_joined for a room the client was in', async () => {
    const h = await harness();
    try {
      await connected(h);
      await h.client.join('a');
      h.fake.onMessage = (c, m) => {
        if (m.type !== 'leave') return false;
        c.error(m, 'not_joined');
        return true;
      };
      await h.client.leave('a');
      await assert.rejects(h.client.leave('never'), { code: 'not_joined' });
    } finally {
      await h.close();
    }
  });

  test('close() fails pending and waiting requests with closed', async () => {
    const h = await harness();
    try {
      await connected(h);
      h.fake.autoRespond = false;
      const pending = h.client.ping();
      await h.fake.last.next('ping');
      const closing = h.client.close();
      await assert.rejects(pending, { code: 'closed' });
      await closing;
    } finally {
      await h.close();
    }
  });

  test('direct messages, server messages and notices reach the app as events', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      const from = newPeerId();
      conn.send({ type: 'message', from, data: { hi: 1 }, fromMetadata: { name: 'X' } });
      conn.send({ type: 'message', from: 'server', room: 'a', data: 'notice' });
      conn.send({ type: 'error', code: 'rate_limited', message: 'Rate limit exceeded' });
      conn.send('{"type":"from_the_future"}');
      conn.send('not json');
      await eventually(() => payloads(h.events, 'error').length === 2, 'errors');
      assert.deepEqual(payloads(h.events, 'message'), [
        { type: 'message', from, data: { hi: 1 }, fromMetadata: { name: 'X' } },
        { type: 'message', from: 'server', room: 'a', data: 'notice' },
      ]);
      assert.deepEqual(
        payloads(h.events, 'error').map((e) => e.code),
        ['rate_limited', 'invalid_message'],
        'unknown types are ignored',
      );
      assert.ok(conn.open);
    } finally {
      await h.close();
    }
  });
});
