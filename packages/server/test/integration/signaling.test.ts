import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { TestClient, connectClient } from '../support/ws-client.js';
import { signAsServer } from '../support/attack.js';

const ALL = ['join', 'publish', 'send', 'presence'];

describe('signaling callgate.v1', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ config: { 'signal.maxPeersPerRoom': 100 } });
  });
  after(() => server.close());

  const mint = (
    sub: string,
    rooms: Record<string, string[]>,
    extra: Record<string, unknown> = {},
  ) => server.mint({ sub, rooms, ...extra });

  test('1. two peers join, see each other, send arrives with from + metadata, publish is not echoed', async (t) => {
    const a = await connectClient(
      server.wsUrl,
      (await mint('alice', { r1: ALL }, { metadata: { name: 'Alice' } })).token,
    );
    const b = await connectClient(server.wsUrl, (await mint('bob', { r1: ALL })).token);
    t.after(() => {
      a.client.close();
      b.client.close();
    });
    assert.equal(a.client.ws.protocol, 'callgate.v1');
    const ackA = await a.client.request({ type: 'join', room: 'r1' });
    assert.deepEqual(ackA, { type: 'ack', id: (ackA as { id: string }).id, room: 'r1', peers: [] });
    const ackB = await b.client.request({ type: 'join', room: 'r1' });
    assert.equal(ackB.type, 'ack');
    assert.deepEqual((ackB as { peers: unknown[] }).peers, [
      { peerId: a.welcome.peerId, userId: 'alice', metadata: { name: 'Alice' } },
    ]);
    const joined = await a.client.next('presence');
    assert.deepEqual(joined.joined, [{ peerId: b.welcome.peerId, userId: 'bob', metadata: {} }]);

    const sent = await a.client.request({
      type: 'send',
      to: b.welcome.peerId,
      data: { sdp: 'offer' },
      from: 'spoofed',
    });
    assert.equal(sent.type, 'ack');
    const msg = await b.client.next('message');
    assert.deepEqual(msg, {
      type: 'message',
      from: a.welcome.peerId,
      data: { sdp: 'offer' },
      fromMetadata: { name: 'Alice' },
    });

    assert.equal(
      (await b.client.request({ type: 'publish', room: 'r1', data: 'hi all' })).type,
      'ack',
    );
    const pub = await a.client.next('message');
    assert.deepEqual(pub, { type: 'message', from: b.welcome.peerId, room: 'r1', data: 'hi all' });
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(
      b.client.messages.filter((m) => m.type === 'message').length,
      0,
      'publish is not echoed',
    );
  });

  test('2. no token, garbage token, forged token, expired token: close 4401 with the reason', async () => {
    const none = new TestClient(server.wsUrl, undefined);
    assert.deepEqual(await none.closed, { code: 4401, reason: 'token_missing' });
    const garbage = new TestClient(server.wsUrl, 'not-a-jwt');
    assert.deepEqual(await garbage.closed, { code: 4401, reason: 'token_malformed' });
    const forged = new TestClient(server.wsUrl, 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln');
    assert.deepEqual(await forged.closed, { code: 4401, reason: 'token_invalid' });
    // Signed by the server's own current key, but expired a minute ago.
    const now = Math.floor(Date.now() / 1000);
    const expired = new TestClient(
      server.wsUrl,
      signAsServer(server, { iat: now - 120, nbf: now - 120, exp: now - 60 }),
    );
    assert.deepEqual(await expired.closed, { code: 4401, reason: 'token_expired' });
    for (const c of [none, garbage, forged, expired])
      assert.equal(c.messages.length, 0, 'no frame before the close');
  });

  test('3. out-of-scope join is forbidden and the connection stays; send across rooms is peer_not_found', async (t) => {
    const a = await connectClient(server.wsUrl, (await mint('carol', { r1: ALL })).token);
    const b = await connectClient(server.wsUrl, (await mint('dave', { r2: ALL })).token);
    t.after(() => {
      a.client.close();
      b.client.close();
    });
    const err = await a.client.request({ type: 'join', room: 'r2' });
    assert.equal(err.type, 'error');
    assert.equal((err as { code: string }).code, 'forbidden');
    await b.client.request({ type: 'join', room: 'r2' });
    await a.client.request({ type: 'join', room: 'r1' });
    const notFound = await a.client.request({ type: 'send', to: b.welcome.peerId, data: 1 });
    assert.equal((notFound as { code: string }).code, 'peer_not_found');
    const pong = await a.client.request({ type: 'ping' });
    assert.equal(pong.type, 'pong', 'connection still open');
  });

  test('send and publish without id are fire and forget: delivered, no ack; a failure still answers', async (t) => {
    const a = await connectClient(server.wsUrl, (await mint('fay', { r9: ALL })).token);
    const b = await connectClient(server.wsUrl, (await mint('gus', { r9: ALL })).token);
    t.after(() => {
      a.client.close();
      b.client.close();
    });
    assert.equal((await a.client.request({ type: 'join', room: 'r9' })).type, 'ack');
    assert.equal((await b.client.request({ type: 'join', room: 'r9' })).type, 'ack');
    await a.client.next('presence');
    // `data` is relayed as the sender wrote it: same value, whatever the spacing.
    a.client.send(
      `{"type":"send","to":"${b.welcome.peerId}", "data" : {"c": [1, "x"] , "d":null} }`,
    );
    a.client.send({ type: 'publish', room: 'r9', data: 'all' });
    a.client.send({ type: 'send', to: 'Q2lhbGxnYXRlLXBlZXItMg', data: 1 });
    assert.deepEqual(await b.client.next('message'), {
      type: 'message',
      from: a.welcome.peerId,
      data: { c: [1, 'x'], d: null },
    });
    assert.deepEqual(await b.client.next('message'), {
      type: 'message',
      from: a.welcome.peerId,
      room: 'r9',
      data: 'all',
    });
    // The unreachable peer is answered (without id); the two that worked were not.
    const err = await a.client.next('error');
    assert.equal(err.code, 'peer_not_found');
    assert.equal('id' in err, false);
    assert.equal((await a.client.request({ type: 'ping' })).type, 'pong');
    assert.deepEqual(
      a.client.messages.filter((m) => m.type === 'ack'),
      [],
      'no ack for an id-less send or publish',
    );
    // With an id, both are acknowledged; the publish ack names the room.
    const sent = await a.client.request({ type: 'send', to: b.welcome.peerId, data: 2 });
    assert.deepEqual(Object.keys(sent).sort(), ['id', 'type']);
    assert.equal(sent.type, 'ack');
    const published = await a.client.request({ type: 'publish', room: 'r9', data: 3 });
    assert.equal(published.type, 'ack');
    assert.equal((published as { room?: string }).room, 'r9');
  });

  test('7. invalid JSON is bad_request and the connection stays; binary closes 1003; oversize closes 1009', async () => {
    const a = await connectClient(server.wsUrl, (await mint('erin', { r1: ALL })).token);
    a.client.send('{not json');
    const e = await a.client.next('error');
    assert.equal(e.code, 'bad_request');
    assert.equal((await a.client.request({ type: 'ping' })).type, 'pong');
    a.client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await a.client.closed).code, 1003);

    const b = await connectClient(server.wsUrl, (await mint('erin', { r1: ALL })).token);
    b.client.send(JSON.stringify({ type: 'publish', room: 'r1', data: 'x'.repeat(70 * 1024) }));
    assert.equal((await b.client.closed).code, 1009);
  });
});
