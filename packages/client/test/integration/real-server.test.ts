import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import type { DataMessage } from '@callgate/protocol';
import {
  createClient,
  type CallgateClient,
  type GetToken,
  type WebSocketConstructor,
} from '../../src/index.js';
import { startTestServer, type TestServer } from '../../../server/test/support/test-server.js';
import { eventually, nextEvent, payloads, record } from '../support/wait.js';

const ALL = ['join', 'publish', 'send', 'presence'];

/** A `ws` WebSocket that remembers its instances, so a test can cut one's TCP connection. */
function trackedWebSocket() {
  const sockets: WebSocket[] = [];
  class Tracked extends WebSocket {
    constructor(url: string, protocols: string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  const cut = () =>
    (sockets.at(-1) as unknown as { _socket: { destroy(): void } })._socket.destroy();
  return { Tracked, sockets, cut };
}

describe('SDK against the real server', () => {
  let server: TestServer;
  const clients: CallgateClient[] = [];
  before(async () => {
    server = await startTestServer({
      config: {
        'auth.minTokenTtlSeconds': 5,
        'auth.clockToleranceSeconds': 0,
        'signal.handshakesPerSecondPerIp': 1000,
      },
    });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });

  /** The app backend: mints for `sub`, keeping the session id across refreshes. */
  function backend(sub: string, ttlSeconds?: number) {
    let sessionId: string | undefined;
    const reasons: string[] = [];
    const getToken: GetToken = async ({ reason }) => {
      reasons.push(reason);
      const minted = await server.mint({
        sub,
        rooms: { call: ALL },
        ...(ttlSeconds !== undefined ? { ttlSeconds } : {}),
        ...(sessionId !== undefined ? { sessionId } : {}),
      });
      sessionId = minted.sessionId;
      return minted.token;
    };
    return { getToken, reasons, sessionId: () => sessionId };
  }

  function client(getToken: GetToken, WebSocketCtor: WebSocketConstructor = WebSocket) {
    const c = createClient({
      url: server.wsUrl,
      getToken,
      WebSocket: WebSocketCtor,
      reconnect: { initialDelayMs: 50, maxDelayMs: 500 },
    });
    clients.push(c);
    return c;
  }

  test('connect, join, presence, send, publish, refresh in-band, resume after a cut, stop on revoke', async () => {
    const alice = backend('alice', 5);
    const bob = backend('bob');
    const bobWs = trackedWebSocket();
    const a = client(alice.getToken);
    const b = client(bob.getToken, bobWs.Tracked);
    const aEvents = record(a);
    const bEvents = record(b);

    // Connect and join: the second joiner's snapshot lists the first.
    const aWelcome = await a.connect();
    assert.equal(aWelcome.tenant, server.tenant);
    assert.deepEqual(await a.join('call'), []);
    await b.connect();
    const snapshot = await b.join('call');
    assert.deepEqual(
      snapshot?.map((p) => [p.peerId, p.userId]),
      [[a.peerId, 'alice']],
    );
    await eventually(() => a.peers('call')?.length === 1, 'alice sees bob');
    assert.equal(payloads(aEvents, 'peerJoined')[0]!.peer.peerId, b.peerId);

    // Direct message and broadcast.
    const got = nextEvent(a, 'message');
    await b.send(a.peerId!, { kind: 'hello' });
    assert.deepEqual(await got, { type: 'message', from: b.peerId, data: { kind: 'hello' } });
    const broadcast = nextEvent(b, 'message');
    await a.publish('call', { muted: true });
    assert.deepEqual(await broadcast, {
      type: 'message',
      from: a.peerId,
      room: 'call',
      data: { muted: true },
    });
    await assert.rejects(a.send('AAAAAAAAAAAAAAAAAAAAAA', 1), { code: 'peer_not_found' });

    // Resume: cut bob's TCP connection; he comes back as the same peer, alice sees nothing.
    const bobPeer = b.peerId;
    bobWs.cut();
    await eventually(() => b.state === 'reconnecting', 'bob reconnecting');
    await eventually(() => b.state === 'connected', 'bob back', 5000);
    assert.equal(payloads(bEvents, 'welcome').at(-1)!.resumed, true);
    assert.equal(b.peerId, bobPeer);
    assert.deepEqual(b.rooms, ['call']);
    assert.deepEqual(bob.reasons, ['connect'], 'the young token was reused');
    assert.equal(payloads(aEvents, 'peerLeft').length, 0);
    const afterResume = nextEvent(b, 'message');
    await a.send(bobPeer!, 'still there?');
    assert.equal(((await afterResume) as DataMessage).data, 'still there?');

    // Refresh: alice's 5 s token is refreshed in-band; her socket outlives the first exp.
    await eventually(() => alice.reasons.includes('refresh'), 'alice refreshed', 6000);
    await new Promise((r) => setTimeout(r, Math.max(0, aWelcome.expiresAt + 700 - Date.now())));
    assert.equal(a.state, 'connected');
    assert.equal(typeof (await a.ping()), 'number');
    assert.deepEqual(
      payloads(aEvents, 'state').map((s) => s.state),
      ['connecting', 'connected'],
      'alice never reconnected',
    );
    assert.equal(payloads(aEvents, 'closed').length, 0);
    assert.ok(payloads(aEvents, 'iceServers').length >= 2, 'refresh ack delivered ICE servers');

    // Revoking bob's session: 4403, and the SDK stops.
    const res = await fetch(`${server.url}/v1/sessions/${bob.sessionId()}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(res.status, 200);
    await eventually(() => b.state === 'disconnected', 'bob stopped');
    assert.deepEqual(payloads(bEvents, 'state').at(-1)!.reason, {
      code: 4403,
      reason: 'token_revoked',
    });
    await eventually(() => a.peers('call')?.length === 0, 'alice sees bob leave');
  });

  test('4401 from the real server: the SDK asks for a new token and connects', async () => {
    let calls = 0;
    const good = backend('carol');
    const c = client(async (ctx) => {
      calls++;
      return calls === 1 ? 'not.a.jwt' : good.getToken(ctx);
    });
    const events = record(c);
    await c.connect();
    assert.equal(calls, 2);
    assert.deepEqual(payloads(events, 'closed')[0], {
      code: 4401,
      reason: 'token_malformed',
      action: 'reconnect_new_token',
      willReconnect: true,
      reconnectInMs: payloads(events, 'closed')[0]!.reconnectInMs,
    });
  });
  test('a refresh that no longer grants a room: the SDK drops it and reports forbidden for that room', async () => {
    let sessionId: string | undefined;
    let mints = 0;
    const c = client(async () => {
      mints++;
      const rooms = mints === 1 ? { keep: ALL, gone: ALL } : { keep: ALL };
      const minted = await server.mint({
        sub: 'dave',
        rooms,
        ttlSeconds: 5,
        ...(sessionId ? { sessionId } : {}),
      });
      sessionId = minted.sessionId;
      return minted.token;
    });
    const events = record(c);
    await c.connect();
    await c.join('keep');
    await c.join('gone');
    assert.deepEqual(c.rooms, ['keep', 'gone']);
    await eventually(() => mints >= 2, 'an in-band refresh', 6000);
    await eventually(() => c.rooms.length === 1, 'the dropped room leaves the SDK', 3000);
    assert.deepEqual(c.rooms, ['keep']);
    const errors = payloads(events, 'error');
    assert.ok(errors.some((e) => e.code === 'forbidden' && e.room === 'gone'));
    assert.equal(c.state, 'connected');
  });
});
