import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { TestClient, connectClient } from '../support/ws-client.js';

const ALL = ['join', 'publish', 'send', 'presence'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A raw upgrade request, to see the HTTP status the server answers with. */
function rawUpgrade(
  port: number,
  headers: Record<string, string | string[]>,
  method = 'GET',
  path = '/v1/signal',
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}

const upgradeHeaders = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};

describe('signaling handshake', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      config: {
        'signal.allowedOrigins': ['https://app.example.com'],
        'signal.handshakesPerSecondPerIp': 1000,
        'signal.maxConnectionsPerUser': 2,
        'signal.pingIntervalMs': 200,
        'signal.pongTimeoutMs': 200,
      },
    });
  });
  after(() => server.close());
  const origin = { origin: 'https://app.example.com' };

  test('the Origin allow-list is exact: lookalikes get 403 and no upgrade', async () => {
    const { token } = await server.mint({ sub: 'o1', rooms: { r: ALL } });
    for (const bad of [
      'https://evil.example',
      'null',
      'https://app.example.com.evil.io',
      'http://app.example.com',
    ]) {
      const c = new TestClient(server.wsUrl, token, { headers: { origin: bad } });
      await c.closed;
      assert.equal(c.refusedStatus, 403, bad);
    }
    const ok = await connectClient(server.wsUrl, token, { headers: origin });
    ok.client.close();
  });

  test('malformed upgrades: bad version 400, POST 405, wrong path 404, missing key 400', async () => {
    assert.equal(
      await rawUpgrade(server.port, { ...origin, ...upgradeHeaders, 'sec-websocket-version': '8' }),
      400,
    );
    assert.equal(await rawUpgrade(server.port, { ...origin, ...upgradeHeaders }, 'POST'), 405);
    assert.equal(
      await rawUpgrade(server.port, { ...origin, ...upgradeHeaders }, 'GET', '/v1/other'),
      404,
    );
    const { 'sec-websocket-key': _k, ...noKey } = upgradeHeaders;
    assert.equal(await rawUpgrade(server.port, { ...origin, ...noKey }), 400);
  });

  test('header names in any case; Sec-WebSocket-Protocol over several lines is one list; a repeated Upgrade, Key or Version is refused', async () => {
    const { token } = await server.mint({ sub: 'o-case', rooms: { r: ALL } });
    assert.equal(
      await rawUpgrade(server.port, {
        ...origin,
        CONNECTION: 'Upgrade',
        UpGrAdE: 'WebSocket',
        'SEC-WEBSOCKET-KEY': 'dGhlIHNhbXBsZSBub25jZQ==',
        'Sec-Websocket-Version': '13',
        'Sec-WebSocket-Protocol': ['callgate.v1', `bearer.${token}`],
      }),
      101,
    );
    for (const [name, values] of [
      ['upgrade', ['websocket', 'websocket']],
      ['sec-websocket-key', ['dGhlIHNhbXBsZSBub25jZQ==', 'AQIDBAUGBwgJCgsMDQ4PEA==']],
      ['sec-websocket-version', ['13', '13']],
    ] as const) {
      const status = await rawUpgrade(server.port, {
        ...origin,
        ...upgradeHeaders,
        [name]: [...values],
        'sec-websocket-protocol': `callgate.v1, bearer.${token}`,
      });
      assert.equal(status, 400, name);
    }
  });

  test('the selected subprotocol is callgate.v1 and the token is never echoed', async () => {
    const { token } = await server.mint({ sub: 'o2', rooms: { r: ALL } });
    const c = await connectClient(server.wsUrl, token, { headers: origin });
    assert.equal(c.client.ws.protocol, 'callgate.v1');
    c.client.close();
  });

  test('?token= works, is redacted from logs, and a token in both places is refused', async () => {
    const { token } = await server.mint({ sub: 'o3', rooms: { r: ALL } });
    const q = await connectClient(server.wsUrl, token, {
      query: true,
      headers: origin,
      noProtocol: true,
    });
    assert.equal(q.welcome.tenant, server.tenant);
    q.client.close();
    // A token in the subprotocol list and in the query: refused before any upgrade.
    const status = await rawUpgrade(
      server.port,
      { ...origin, ...upgradeHeaders, 'sec-websocket-protocol': `callgate.v1, bearer.${token}` },
      'GET',
      `/v1/signal?token=${token}`,
    );
    assert.equal(status, 400);
    const bad = new TestClient(server.wsUrl, 'garbage.garbage.garbage', {
      query: true,
      headers: origin,
      noProtocol: true,
    });
    assert.equal((await bad.closed).code, 4401);
    await sleep(50);
    assert.ok(server.logs.some((l) => l.includes('token=[redacted]')));
    assert.ok(!server.logs.some((l) => l.includes(token)), 'the token never reaches a log line');
  });

  test('connections per user: past the limit the new connection is closed 4429', async () => {
    const { token } = await server.mint({ sub: 'limited', rooms: { r: ALL } });
    const a = await connectClient(server.wsUrl, token, { headers: origin });
    const b = await connectClient(server.wsUrl, token, { headers: origin });
    const c = new TestClient(server.wsUrl, token, { headers: origin });
    assert.deepEqual(await c.closed, { code: 4429, reason: 'too_many_connections' });
    a.client.close();
    b.client.close();
  });

  test('a peer that stops answering pings is terminated and parked, then released after the grace', async () => {
    const { token } = await server.mint({ sub: 'silent', rooms: { hb: ALL } });
    const watcher = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'watch', rooms: { hb: ALL } })).token,
      { headers: origin },
    );
    const silent = await connectClient(server.wsUrl, token, { headers: origin });
    await watcher.client.request({ type: 'join', room: 'hb' });
    await silent.client.request({ type: 'join', room: 'hb' });
    // Stop answering pings: ws answers automatically, so swallow them at the socket.
    (
      silent.client.ws as unknown as { _receiver: { removeAllListeners(e: string): void } }
    )._receiver.removeAllListeners('ping');
    const closed = await silent.client.closed;
    assert.equal(closed.code, 1006, 'terminated without a close frame');
    // After resumeGraceMs (default 10 s here) the watcher sees it leave; use the admin API to
    // check it is still a member meanwhile.
    const res = await fetch(`${server.url}/v1/rooms/hb/peers`, {
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    const body = (await res.json()) as { peers: Array<{ peerId: string }> };
    assert.ok(
      body.peers.some((p) => p.peerId === silent.welcome.peerId),
      'parked peer is still in the room',
    );
    watcher.client.close();
  });

  test('admin routes: list rooms and peers, server message, tenant isolation', async () => {
    const a = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'adm', rooms: { adminroom: ALL } })).token,
      { headers: origin },
    );
    await a.client.request({ type: 'join', room: 'adminroom' });
    const auth = { authorization: `Bearer ${server.apiKey}` };
    const rooms = (await (await fetch(`${server.url}/v1/rooms`, { headers: auth })).json()) as {
      rooms: Array<{ room: string; peers: number }>;
    };
    assert.ok(rooms.rooms.some((r) => r.room === 'adminroom' && r.peers === 1));
    const post = await fetch(`${server.url}/v1/rooms/adminroom/messages`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ data: { notice: 'hello' } }),
    });
    assert.equal(post.status, 202);
    assert.deepEqual(await a.client.next('message'), {
      type: 'message',
      from: 'server',
      room: 'adminroom',
      data: { notice: 'hello' },
    });
    const noKey = await fetch(`${server.url}/v1/rooms`);
    assert.equal(noKey.status, 401);
    const missing = await fetch(`${server.url}/v1/rooms/adminroom/peers/AAAAAAAAAAAAAAAAAAAAAA`, {
      method: 'DELETE',
      headers: auth,
    });
    assert.equal(missing.status, 404);
    assert.equal(
      ((await missing.json()) as { error: { code: string } }).error.code,
      'peer_not_found',
    );
    a.client.close();
  });
});

test('slow consumer: a peer that stops reading is closed with 1008', async (t) => {
  const server = await startTestServer({
    config: {
      'signal.maxBufferedBytes': 16 * 1024,
      'signal.messagesPerSecond': 100000,
      'signal.messageBurst': 100000,
    },
  });
  t.after(() => server.close());
  const reader = await connectClient(
    server.wsUrl,
    (await server.mint({ sub: 'slow', rooms: { s: ALL } })).token,
  );
  const writer = await connectClient(
    server.wsUrl,
    (await server.mint({ sub: 'fast', rooms: { s: ALL } })).token,
  );
  await reader.client.request({ type: 'join', room: 's' });
  await writer.client.request({ type: 'join', room: 's' });
  (reader.client.ws as unknown as { _socket: { pause(): void } })._socket.pause();
  const chunk = 'x'.repeat(32 * 1024);
  let removed = false;
  for (let i = 0; i < 400 && !removed; i++) {
    writer.client.send({ type: 'publish', room: 's', data: chunk });
    if (i % 20 === 0) await sleep(10);
    const peers = (await (
      await fetch(`${server.url}/v1/rooms/s/peers`, {
        headers: { authorization: `Bearer ${server.apiKey}` },
      })
    ).json()) as { peers: unknown[] };
    removed = peers.peers.length === 1;
  }
  assert.ok(removed, 'the slow reader was removed from the room');
  (reader.client.ws as unknown as { _socket: { resume(): void } })._socket.resume();
  assert.deepEqual(await reader.client.closed, { code: 1008, reason: 'slow_consumer' });
  writer.client.close();
});
