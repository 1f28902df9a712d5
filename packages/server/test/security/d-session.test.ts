/**
 * Security catalogue D49-D55, D58, D59: attacks on a live signaling session (expiry, identity,
 * revocation, frame-level abuse, dead and slow peers) against a real server.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { manualClock, startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient, TestClient } from '../support/ws-client.js';
import { ALL_PERMS, RawWs, assertClosed, sleep } from '../support/attack.js';
import { randomId } from '../../src/util/random-id.js';

const clock = manualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
let server: TestServer;
before(async () => {
  server = await startTestServer({
    clock,
    config: {
      'signal.handshakesPerSecondPerIp': 100_000,
      'signal.messageBurst': 100_000,
      'signal.messagesPerSecond': 100_000,
      'signal.pingIntervalMs': 200,
      'signal.pongTimeoutMs': 300,
      'signal.maxBufferedBytes': 16 * 1024,
      'signal.maxMessageBytes': 64 * 1024,
    },
  });
});
after(() => server.close());

const mint = (over: Record<string, unknown> = {}) =>
  server.mint({ sub: `u-${randomId(4)}`, rooms: { r: ALL_PERMS }, ...over });

describe('D. live-session attacks', () => {
  test('S49 a token that expires mid-session: the next message is not delivered, close 4401', async () => {
    const room = `exp-${randomId(4)}`;
    const a = await connectClient(
      server.wsUrl,
      (await mint({ rooms: { [room]: ALL_PERMS }, ttlSeconds: 60 })).token,
    );
    await a.client.request({ type: 'join', room });
    clock.advance(50_000);
    const b = await connectClient(
      server.wsUrl,
      (await mint({ rooms: { [room]: ALL_PERMS }, ttlSeconds: 60 })).token,
    );
    await b.client.request({ type: 'join', room });
    await a.client.next('presence');
    // A is now past exp + tolerance (5 s); B has 50 s left.
    clock.advance(16_000);
    a.client.send({ type: 'publish', room, data: 'after expiry' });
    await assertClosed(a.client, 4401, 'token_expired');
    await sleep(200);
    assert.ok(
      !b.client.messages.some((m) => m.type === 'message'),
      'the expired sender delivered nothing',
    );
    b.client.close();
  });

  test('S50 in-band refresh as a different sub (or sid) closes 4403 identity_changed', async () => {
    const first = await mint();
    const c = await connectClient(server.wsUrl, first.token);
    const other = await mint();
    c.client.send({ type: 'refresh', id: '1', token: other.token });
    await assertClosed(c.client, 4403, 'identity_changed');
    // Same sub, another session.
    const sameSub = await mint({ sub: 'alice-50' });
    const d = await connectClient(server.wsUrl, sameSub.token);
    const newSession = await mint({ sub: 'alice-50' });
    assert.notEqual(newSession.sessionId, sameSub.sessionId);
    d.client.send({ type: 'refresh', id: '1', token: newSession.token });
    await assertClosed(d.client, 4403, 'identity_changed');
  });

  test('S51 revoking a session closes every socket of it within a second', async () => {
    const s = await mint({ sub: 'bob-51' });
    const again = await mint({ sub: 'bob-51', sessionId: s.sessionId });
    const other = await mint({ sub: 'bob-51' });
    const a = await connectClient(server.wsUrl, s.token);
    const b = await connectClient(server.wsUrl, again.token);
    const untouched = await connectClient(server.wsUrl, other.token);
    const started = Date.now();
    const res = await fetch(`${server.url}/v1/sessions/${s.sessionId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(((await res.json()) as { closedConnections: number }).closedConnections, 2);
    await assertClosed(a.client, 4403, 'token_revoked');
    await assertClosed(b.client, 4403, 'token_revoked');
    assert.ok(Date.now() - started < 1000);
    assert.equal((await untouched.client.request({ type: 'ping' })).type, 'pong');
    untouched.client.close();
  });

  test('S52 a frame larger than maxMessageBytes closes 1009', async () => {
    const c = await connectClient(server.wsUrl, (await mint()).token);
    c.client.send({ type: 'publish', room: 'r', data: 'x'.repeat(65 * 1024) });
    const closed = await c.client.closed;
    assert.equal(closed.code, 1009);
  });

  test('S53 permessage-deflate is never negotiated; a compressed (RSV1) frame closes 1002', async () => {
    const { token } = await mint();
    const ws = new WebSocket(`${server.wsUrl}/v1/signal`, ['callgate.v1', `bearer.${token}`], {
      perMessageDeflate: true,
    });
    await new Promise((r) => ws.once('open', r));
    assert.equal(ws.extensions, '', 'no extension accepted');
    ws.close();
    const raw = await RawWs.open(server.port, token);
    // A deflate "bomb" frame: RSV1 set without a negotiated extension is a protocol error.
    raw.frame(1, Buffer.alloc(1024, 0), { rsv1: true });
    assert.equal((await raw.closed())?.code, 1002);
    raw.destroy();
  });

  test('S54 200 000 tiny fragments close 1008 (at most 1,024 fragments per message)', async () => {
    const raw = await RawWs.open(server.port, (await mint()).token);
    raw.frame(1, '{', { fin: false });
    const one = Buffer.from([0x00, 0x81, 0, 0, 0, 0, 0x20]); // continuation, masked, " "
    const batch = Buffer.concat(Array.from({ length: 10_000 }, () => one));
    for (let i = 0; i < 20 && !raw.socket.destroyed; i++) {
      raw.socket.write(batch);
      await sleep(5);
    }
    const closed = await raw.closed();
    assert.equal(closed?.code, 1008);
    raw.destroy();
  });

  test('S55 bad frames: invalid UTF-8 1007, binary 1003, bad JSON an error then 4400 after 10', async () => {
    const { token } = await mint();
    const utf = await RawWs.open(server.port, token);
    utf.frame(1, Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]));
    assert.equal((await utf.closed())?.code, 1007);
    utf.destroy();

    const bin = await connectClient(server.wsUrl, (await mint()).token);
    bin.client.ws.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.deepEqual(await bin.client.closed, { code: 1003, reason: 'binary_not_supported' });

    const junk = await connectClient(server.wsUrl, (await mint()).token);
    for (let i = 0; i < 9; i++) {
      junk.client.send(i % 2 ? '{not json' : '[]');
      const e = await junk.client.next('error');
      assert.equal(e.code, 'bad_request');
    }
    assert.equal((await junk.client.request({ type: 'ping' })).type, 'pong', 'still serving');
    junk.client.send('nope');
    await assertClosed(junk.client, 4400, 'protocol_violation');
  });

  test('S58 a dead peer (no pong) is terminated by the heartbeat; a quiet live one is not', async () => {
    const quiet = await connectClient(server.wsUrl, (await mint()).token);
    const dead = await connectClient(server.wsUrl, (await mint()).token);
    (
      dead.client.ws as unknown as { _receiver: { removeAllListeners(e: string): void } }
    )._receiver.removeAllListeners('ping');
    const started = Date.now();
    const closed = await dead.client.closed;
    assert.equal(closed.code, 1006, 'terminated without a close frame');
    assert.ok(Date.now() - started < 2000);
    assert.equal(quiet.client.ws.readyState, WebSocket.OPEN);
    quiet.client.close();
  });

  test('S59 a slow consumer is closed with 1008 slow_consumer', async (t) => {
    // Its own server with the default heartbeat: a paused reader must be caught by the buffer
    // check, not by a missed pong.
    const server = await startTestServer({
      config: {
        'signal.maxBufferedBytes': 16 * 1024,
        'signal.messageBurst': 100_000,
        'signal.messagesPerSecond': 100_000,
      },
    });
    t.after(() => server.close());
    const mint = (over: Record<string, unknown> = {}) =>
      server.mint({ sub: `u-${randomId(4)}`, rooms: { r: ALL_PERMS }, ...over });
    const room = `slow-${randomId(4)}`;
    const reader = await connectClient(
      server.wsUrl,
      (await mint({ rooms: { [room]: ALL_PERMS } })).token,
    );
    const writer = await connectClient(
      server.wsUrl,
      (await mint({ rooms: { [room]: ALL_PERMS } })).token,
    );
    await reader.client.request({ type: 'join', room });
    await writer.client.request({ type: 'join', room });
    (reader.client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const chunk = 'x'.repeat(32 * 1024);
    const deadline = Date.now() + 10_000;
    let members = 2;
    while (members === 2 && Date.now() < deadline) {
      for (let i = 0; i < 10; i++) writer.client.send({ type: 'publish', room, data: chunk });
      await sleep(20);
      members = (
        (await (
          await fetch(`${server.url}/v1/rooms/${room}/peers`, {
            headers: { authorization: `Bearer ${server.apiKey}` },
          })
        ).json()) as { peers: unknown[] }
      ).peers.length;
    }
    assert.equal(members, 1, 'the slow reader was removed');
    (reader.client.ws as unknown as { _socket: { resume(): void } })._socket.resume();
    assert.deepEqual(await reader.client.closed, { code: 1008, reason: 'slow_consumer' });
    writer.client.close();
  });

  test('an idle connection survives while its token is valid (control for S49/S58)', async () => {
    const c = new TestClient(server.wsUrl, (await mint()).token);
    await c.opened;
    await sleep(700);
    assert.equal(c.ws.readyState, WebSocket.OPEN);
    c.close();
  });
});
