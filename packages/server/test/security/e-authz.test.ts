/**
 * Security catalogue E62-E68: authorization inside the signaling protocol (scope, tenants,
 * spoofing, enumeration, privileged operations, mass assignment, replay), on a real server
 * with two tenants.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient, TestClient } from '../support/ws-client.js';
import { ALL_PERMS, assertClosed, sleep } from '../support/attack.js';
import { generateApiKey } from '../../src/auth/api-keys.js';
import { randomId } from '../../src/util/random-id.js';
import { REPLAY_WINDOW } from '../../src/signaling/peer.js';

let server: TestServer;
let otherKey: string;
before(async () => {
  server = await startTestServer({
    config: {
      'signal.handshakesPerSecondPerIp': 100_000,
      'signal.messageBurst': 10_000,
      'signal.messagesPerSecond': 10_000,
    },
  });
  await server.app.services.store.createTenant('globex', Date.now());
  const key = generateApiKey('globex', Date.now(), 'test');
  await server.app.services.store.createApiKey(key.record);
  otherKey = key.plaintext;
});
after(() => server.close());

const connect = async (
  rooms: Record<string, string[]>,
  over: Record<string, unknown> = {},
  apiKey?: string,
) => {
  const { token } = await server.mint({ sub: `u-${randomId(4)}`, rooms, ...over }, apiKey);
  return (await connectClient(server.wsUrl, token)).client;
};
const code = (m: unknown) => (m as { code?: string }).code;
const peersOf = async (room: string, apiKey = server.apiKey) =>
  (
    (await (
      await fetch(`${server.url}/v1/rooms/${encodeURIComponent(room)}/peers`, {
        headers: { authorization: `Bearer ${apiKey}` },
      })
    ).json()) as { peers: Array<{ peerId: string }> }
  ).peers;

describe('E. signaling authorization', () => {
  test('S62 joining a room outside the token scope: forbidden, not joined, no presence leak', async () => {
    const room = `secret-${randomId(4)}`;
    const insider = await connect({ [room]: ALL_PERMS });
    await insider.request({ type: 'join', room });
    const outsider = await connect({ lobby: ALL_PERMS });
    const r = await outsider.request({ type: 'join', room });
    assert.deepEqual(Object.keys(r).sort(), ['code', 'id', 'message', 'type']);
    assert.equal(code(r), 'forbidden');
    assert.equal((await peersOf(room)).length, 1);
    // Publish and send into it are refused too; the insider hears nothing.
    assert.equal(code(await outsider.request({ type: 'publish', room, data: 'x' })), 'forbidden');
    await sleep(100);
    assert.deepEqual(
      insider.messages.filter((m) => m.type === 'presence' || m.type === 'message'),
      [],
    );
    insider.close();
    outsider.close();
  });

  test('S62b room names spelled like Object.prototype members are rooms like any other', async () => {
    // Valid room names ([A-Za-z0-9._:-]) include `constructor`, `toString` and `__proto__`: a
    // grant lookup that reads inherited properties would find a function (an internal error,
    // logged at error level on every such message), and an assignment to `__proto__` would
    // set the grants' prototype instead of granting the room.
    const inherited = ['constructor', 'toString', '__proto__', 'hasOwnProperty', 'valueOf'];
    const outsider = await connect({ lobby: ALL_PERMS });
    for (const room of inherited) {
      assert.equal(code(await outsider.request({ type: 'join', room })), 'forbidden', room);
      assert.equal(
        code(await outsider.request({ type: 'publish', room, data: 'x' })),
        'forbidden',
        room,
      );
    }
    outsider.close();

    // Granted, they work; `__proto__` is an own entry of the token's `rooms`, and `length`
    // (an array's property, were the grants' prototype an array) is still not granted.
    const { token } = await server.mint({
      sub: `u-${randomId(4)}`,
      rooms: { ['__proto__']: ALL_PERMS, constructor: ['join'] },
    });
    const payload = JSON.parse(
      Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8'),
    ) as { rooms: Record<string, string[]> };
    assert.deepEqual(Object.keys(payload.rooms).sort(), ['__proto__', 'constructor']);
    const insider = (await connectClient(server.wsUrl, token)).client;
    const second = await connect({ ['__proto__']: ALL_PERMS });
    assert.equal((await insider.request({ type: 'join', room: '__proto__' })).type, 'ack');
    assert.equal((await second.request({ type: 'join', room: '__proto__' })).type, 'ack');
    assert.equal(
      (await insider.request({ type: 'publish', room: '__proto__', data: 'hi' })).type,
      'ack',
    );
    const got = await second.next('message');
    assert.equal((got as { room?: string }).room, '__proto__');
    assert.equal((await insider.request({ type: 'join', room: 'constructor' })).type, 'ack');
    assert.equal(
      code(await insider.request({ type: 'publish', room: 'constructor', data: 'x' })),
      'forbidden',
    );
    assert.equal(code(await insider.request({ type: 'join', room: 'length' })), 'forbidden');
    assert.equal((await peersOf('__proto__')).length, 2);
    insider.close();
    second.close();
  });

  test('S63 another tenant: the tenant comes only from the token (field, case, homoglyph, ../)', async () => {
    const room = `shared-${randomId(4)}`;
    const acme = await connect({ [room]: ALL_PERMS });
    await acme.request({ type: 'join', room });
    const globex = await connect({ [room]: ALL_PERMS }, {}, otherKey);
    // A tenant field in the message is ignored: globex joins its own room of that name.
    const j = await globex.request({ type: 'join', room, tenant: 'acme', tid: 'acme' });
    assert.equal(j.type, 'ack');
    assert.deepEqual((j as { peers?: unknown[] }).peers, [], 'nobody from acme is visible');
    assert.equal((await peersOf(room)).length, 1, 'acme room unchanged');
    assert.equal((await peersOf(room, otherKey)).length, 1);
    await globex.request({ type: 'publish', room, data: 'cross-tenant?' });
    for (const bad of [
      `acme/${room}`,
      `../acme/${room}`,
      `аcme:${room}`,
      `${room}\u0000`,
      `%2e%2e/${room}`,
    ])
      assert.equal(code(await globex.request({ type: 'join', room: bad })), 'invalid_room', bad);
    assert.equal(
      code(await globex.request({ type: 'join', room: room.toUpperCase() })),
      'forbidden',
    );
    await sleep(100);
    assert.ok(!acme.messages.some((m) => m.type === 'message' || m.type === 'presence'));
    // Direct messages across tenants: the same answer as for a peer that does not exist.
    const acmeId = (await peersOf(room))[0]!.peerId;
    assert.equal(
      code(await globex.request({ type: 'send', to: acmeId, data: 'hi' })),
      'peer_not_found',
    );
    // A mint naming another tenant in the body is a plain 401.
    const res = await fetch(`${server.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${otherKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'x', rooms: { [room]: ['join'] }, tenant: 'acme' }),
    });
    assert.equal(res.status, 401);
    acme.close();
    globex.close();
  });

  test('S64 a spoofed from is overwritten: the recipient sees the authenticated peer id', async () => {
    const room = `spoof-${randomId(4)}`;
    const victimToken = await server.mint({
      sub: 'victim',
      rooms: { [room]: ALL_PERMS },
      metadata: { name: 'Victim' },
    });
    const victim = await connectClient(server.wsUrl, victimToken.token);
    const attackerConn = await connectClient(
      server.wsUrl,
      (
        await server.mint({
          sub: 'mallory',
          rooms: { [room]: ALL_PERMS },
          metadata: { name: 'Mallory' },
        })
      ).token,
    );
    const attacker = attackerConn.client;
    const watcherConn = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'watcher', rooms: { [room]: ALL_PERMS } })).token,
    );
    const watcher = watcherConn.client;
    for (const c of [victim.client, attacker, watcher]) await c.request({ type: 'join', room });
    await attacker.request({
      type: 'publish',
      room,
      data: 'hello',
      from: victim.welcome.peerId,
      fromMetadata: { name: 'Victim' },
      userId: 'victim',
    });
    const m = await watcher.next('message');
    assert.equal(m.from, attackerConn.welcome.peerId);
    assert.deepEqual(m.fromMetadata, { name: 'Mallory' });
    // The same for a direct message: `from` is the sender, whatever the frame claimed.
    await attacker.request({
      type: 'send',
      to: watcherConn.welcome.peerId,
      data: 'dm',
      from: 'server',
    });
    const dm = await watcher.next('message', (x) => x.data === 'dm');
    assert.equal(dm.from, attackerConn.welcome.peerId);
    for (const c of [victim.client, attacker, watcher]) c.close();
  });

  test('S65 presence enumeration: no listing without membership; ids carry at least 128 bits', async () => {
    const room = `enum-${randomId(4)}`;
    const member = await connect({ [room]: ALL_PERMS });
    await member.request({ type: 'join', room });
    const prober = await connect({ [room]: ['join'] });
    for (const type of ['presence', 'list', 'subscribe', 'who', 'peers', 'rooms'])
      assert.equal(code(await prober.request({ type, room })), 'unknown_type', type);
    // Joined without `presence`: the ack has no peer list and no presence events follow.
    const ack = await prober.request({ type: 'join', room });
    assert.equal(ack.type, 'ack');
    assert.equal((ack as { peers?: unknown }).peers, undefined);
    const c = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'ids', rooms: {} })).token,
    );
    for (const id of [c.welcome.peerId, c.welcome.sessionId, c.welcome.resumeToken])
      assert.match(id, /^[A-Za-z0-9_-]{22,}$/, '>= 16 random bytes in base64url');
    assert.ok(c.welcome.resumeToken.length >= 43, 'resume token: 32 bytes');
    await sleep(100);
    assert.ok(!prober.messages.some((m) => m.type === 'presence'));
    for (const x of [member, prober, c.client]) x.close();
  });

  test('S66 privileged operations without permission; after a kick the peer is gone', async () => {
    const room = `priv-${randomId(4)}`;
    const { token } = await server.mint({ sub: 'mallory', rooms: { [room]: ALL_PERMS } });
    const m = (await connectClient(server.wsUrl, token)).client;
    const target = await connect({ [room]: ALL_PERMS });
    await m.request({ type: 'join', room });
    await target.request({ type: 'join', room });
    const targetId = (await peersOf(room)).map((p) => p.peerId).find((id) => id !== undefined)!;
    for (const type of ['kick', 'mute', 'close_room', 'closeRoom', 'ban', 'revoke'])
      assert.equal(code(await m.request({ type, room, peerId: targetId })), 'unknown_type', type);
    // The admin API does not take an access token.
    for (const [method, path] of [
      ['GET', '/v1/rooms'],
      ['DELETE', `/v1/rooms/${room}/peers/${targetId}`],
      ['POST', `/v1/rooms/${room}/messages`],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{"data":1}' } : {}),
      });
      assert.equal(res.status, 401, `${method} ${path}`);
    }
    // The application kicks Mallory: closed 4403, further room messages never arrive.
    const peers = await peersOf(room);
    const malloryPeer = peers.find((p) => (p as { userId?: string }).userId === 'mallory')!;
    const kick = await fetch(`${server.url}/v1/rooms/${room}/peers/${malloryPeer.peerId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(kick.status, 204);
    await assertClosed(m, 4403, 'kicked');
    assert.equal((await peersOf(room)).length, 1);
    target.close();
  });

  test('S67 unknown type and extra fields: unknown_type; extra fields never reach other peers', async () => {
    const room = `mass-${randomId(4)}`;
    const a = await connect({ [room]: ALL_PERMS });
    const b = await connect({ [room]: ALL_PERMS });
    assert.equal(code(await a.request({ type: 'promote', room })), 'unknown_type');
    assert.equal(code(await a.request({ type: '__proto__' })), 'unknown_type');
    assert.equal(code(await a.request({ type: 'constructor' })), 'unknown_type');
    await b.request({ type: 'join', room });
    const j = await a.request({
      type: 'join',
      room,
      role: 'admin',
      isHost: true,
      permissions: ALL_PERMS,
      __proto__: { admin: true },
    });
    assert.equal(j.type, 'ack');
    const p = await b.next('presence');
    assert.deepEqual(Object.keys(p.joined[0]!).sort(), ['metadata', 'peerId', 'userId']);
    assert.deepEqual(p.joined[0]!.metadata, {});
    a.close();
    b.close();
  });

  test('S68 a replayed message id is dropped: duplicate_id, delivered once; a new socket starts a new window', async () => {
    const room = `replay-${randomId(4)}`;
    const { token } = await server.mint({ sub: 'replayer', rooms: { [room]: ALL_PERMS } });
    const a = await connectClient(server.wsUrl, token);
    const b = await connect({ [room]: ALL_PERMS });
    await a.client.request({ type: 'join', room });
    await b.request({ type: 'join', room });
    const msg = { type: 'publish', room, id: 'pay-1', data: { amount: 1 } };
    a.client.send(msg);
    assert.deepEqual(await a.client.next('ack', (x) => x.id === 'pay-1'), {
      type: 'ack',
      id: 'pay-1',
      room,
    });
    a.client.send(msg);
    const dup = await a.client.next('error', (x) => x.id === 'pay-1');
    assert.equal(dup.code, 'duplicate_id');
    a.client.send({ type: 'ping', id: 'pay-1' });
    assert.equal((await a.client.next('error', (x) => x.id === 'pay-1')).code, 'duplicate_id');
    await sleep(100);
    assert.equal(
      b.messages.filter((m) => m.type === 'message').length,
      1,
      'delivered exactly once',
    );
    // The window holds the last REPLAY_WINDOW ids: one more and the oldest is forgotten. Only
    // then does pay-1 count as new.
    const lastId = `w${REPLAY_WINDOW - 1}`;
    for (let i = 0; i < REPLAY_WINDOW - 1; i++) a.client.send({ type: 'ping', id: `w${i}` });
    await a.client.next('pong', (x) => x.id === `w${REPLAY_WINDOW - 2}`);
    a.client.send({ type: 'ping', id: 'pay-1' });
    assert.equal((await a.client.next('error', (x) => x.id === 'pay-1')).code, 'duplicate_id');
    a.client.send({ type: 'ping', id: lastId });
    await a.client.next('pong', (x) => x.id === lastId);
    a.client.send({ type: 'ping', id: 'pay-1' });
    assert.equal((await a.client.next('pong', (x) => x.id === 'pay-1')).type, 'pong');
    // A resumed socket starts a new window: an idempotent request may be resent with its id.
    a.client.cut();
    await a.client.closed;
    const resumed = new TestClient(server.wsUrl, token, {
      protocols: [`resume.${a.welcome.resumeToken}`],
    });
    const w = await resumed.next('welcome');
    assert.equal(w.peerId, a.welcome.peerId);
    resumed.send({ type: 'join', room, id: lastId });
    assert.equal((await resumed.next('ack', (x) => x.id === lastId)).type, 'ack');
    resumed.close();
    b.close();
  });
});
