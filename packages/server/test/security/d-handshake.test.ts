/**
 * Security catalogue D44-D48, D56, D57, D60, D61: the WebSocket handshake under attack, against
 * real servers on loopback (raw sockets where `ws` would refuse to send the attack).
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { manualClock, startTestServer, type TestServer } from '../support/test-server.js';
import { TestClient, connectClient } from '../support/ws-client.js';
import {
  assertClosed,
  assertTokenRefused,
  rawExchange,
  rawUpgrade,
  signAsServer,
  sleep,
  statusOf,
  UPGRADE_HEADERS,
} from '../support/attack.js';

let server: TestServer;
before(async () => {
  server = await startTestServer({
    config: {
      'signal.handshakesPerSecondPerIp': 100_000,
      'signal.maxConnectionsPerUser': 2,
      'server.headersTimeoutMs': 1000,
    },
  });
});
after(() => server.close());

const ALLOWED = 'https://app.example.com';

describe('D. handshake attacks', () => {
  test('S44 bad Origin: 403 and no 101; the allow-list is exact', async (t) => {
    const guarded = await startTestServer({
      config: { 'signal.allowedOrigins': [ALLOWED], 'signal.handshakesPerSecondPerIp': 1000 },
    });
    t.after(() => guarded.close());
    const token = signAsServer(guarded);
    for (const origin of [
      'https://evil.example',
      'null',
      'https://app.example.com.evil.io',
      'http://app.example.com',
      'https://APP.example.com',
      'https://app.example.com:443',
      'https://app.example.com/',
      `${ALLOWED}, https://evil.example`,
    ]) {
      const r = await rawUpgrade(guarded.port, {
        ...UPGRADE_HEADERS,
        origin,
        'sec-websocket-protocol': `callgate.v1, bearer.${token}`,
      });
      assert.equal(r.status, 403, origin);
      assert.equal(JSON.parse(r.body).error.code, 'origin_forbidden');
    }
    // No Origin at all (a non-browser client) is refused too once a list is configured.
    const none = await rawUpgrade(guarded.port, {
      ...UPGRADE_HEADERS,
      'sec-websocket-protocol': `callgate.v1, bearer.${token}`,
    });
    assert.equal(none.status, 403);
    const ok = await connectClient(guarded.wsUrl, token, { headers: { origin: ALLOWED } });
    ok.client.close();
  });

  test('S45 an upgrade carrying only cookies (CSWSH) gets 4401 token_missing', async (t) => {
    const guarded = await startTestServer({
      config: { 'signal.allowedOrigins': [ALLOWED], 'signal.handshakesPerSecondPerIp': 1000 },
    });
    t.after(() => guarded.close());
    const token = signAsServer(guarded);
    const c = new TestClient(guarded.wsUrl, undefined, {
      headers: {
        origin: ALLOWED,
        cookie: `__Host-callgate_refresh=${token}; session=${token}; token=${token}`,
        authorization: `Bearer ${token}`,
      },
    });
    await assertClosed(c, 4401, 'token_missing');
  });

  test('S46 missing, garbage or expired token at upgrade: 4401 with the reason; HTTP 401 with WWW-Authenticate', async () => {
    await assertTokenRefused(server, '', 'token_missing');
    await assertTokenRefused(server, 'garbage', 'token_malformed', 'not a compact JWS');
    await assertTokenRefused(
      server,
      'bm90anNvbg.e30.AAAA',
      'token_malformed',
      'header is not a JSON object',
    );
    const now = Math.floor(Date.now() / 1000);
    await assertTokenRefused(
      server,
      signAsServer(server, { iat: now - 200, nbf: now - 200, exp: now - 60 }),
      'token_expired',
    );
    const res = await fetch(`${server.url}/v1/turn/credentials`, { method: 'POST' });
    assert.equal(res.status, 401);
    assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
  });

  test('S47 the subprotocol answer is callgate.v1, never the bearer entry', async () => {
    const token = signAsServer(server);
    for (const offer of [`callgate.v1, bearer.${token}`, `bearer.${token}, callgate.v1`]) {
      const r = await rawUpgrade(server.port, {
        ...UPGRADE_HEADERS,
        'sec-websocket-protocol': offer,
      });
      assert.equal(r.status, 101);
      assert.equal(r.headers['sec-websocket-protocol'], 'callgate.v1');
    }
    // Offering only the bearer entry (no callgate.v1) is a malformed upgrade, not an echo.
    const bare = await rawUpgrade(server.port, {
      ...UPGRADE_HEADERS,
      'sec-websocket-protocol': `bearer.${token}`,
    });
    assert.equal(bare.status, 400);
    assert.equal(bare.headers['sec-websocket-protocol'], undefined);
  });

  test('S48 ?token= in the URL is redacted from every log line', async () => {
    const token = signAsServer(server);
    const ok = await connectClient(server.wsUrl, token, { query: true, noProtocol: true });
    ok.client.close();
    const bad = `${token.slice(0, -10)}AAAAAAAAAA`;
    await assertTokenRefused(server, bad, 'token_invalid');
    const q = new TestClient(server.wsUrl, bad, { query: true, noProtocol: true });
    await assertClosed(q, 4401, 'token_invalid');
    await sleep(50);
    const all = server.logs.join('\n');
    assert.ok(all.includes('token=[redacted]'), 'the query shows as redacted');
    for (const t of [token, bad, token.split('.')[2]!, bad.split('.')[1]!])
      assert.ok(!all.includes(t), 'no token or token part in any log line');
  });

  test('S56 malformed handshakes: >2000 headers, bad version, POST, oversized headers', async () => {
    const token = signAsServer(server);
    const required = [
      'GET /v1/signal HTTP/1.1',
      `Host: 127.0.0.1:${server.port}`,
      'Connection: Upgrade',
      'Upgrade: websocket',
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==',
      'Sec-WebSocket-Version: 13',
      `Sec-WebSocket-Protocol: callgate.v1, bearer.${token}`,
    ];
    const junk = Array.from({ length: 2100 }, (_, i) => `a${i % 10}:1`);
    // Required headers first: the extras past 2000 are dropped and the handshake works.
    const first = await rawExchange(server.port, [[...required, ...junk, '', ''].join('\r\n')], {
      timeoutMs: 1000,
    });
    assert.equal(statusOf(first.data), 101);
    // Required headers after 2000 others: they are lost, so the upgrade is malformed: 400.
    const [requestLine, ...rest] = required;
    const last = await rawExchange(server.port, [
      [requestLine, ...junk, ...rest, '', ''].join('\r\n'),
    ]);
    assert.equal(statusOf(last.data), 400);
    assert.ok(last.closedByServer);

    const version = await rawUpgrade(server.port, {
      ...UPGRADE_HEADERS,
      'sec-websocket-version': '8',
    });
    assert.equal(version.status, 400);
    assert.equal(version.headers['sec-websocket-version'], '13');
    const post = await rawUpgrade(server.port, UPGRADE_HEADERS, 'POST');
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET');
    const plain = await fetch(`${server.url}/v1/signal`);
    assert.equal(plain.status, 400, 'a GET without an upgrade');
    const big = await rawUpgrade(server.port, { ...UPGRADE_HEADERS, 'x-pad': 'x'.repeat(20_000) });
    assert.equal(big.status, 431);
    // Still serving.
    (await connectClient(server.wsUrl, signAsServer(server))).client.close();
  });

  test('S57 slowloris upgrade (one byte at a time) is ended by headersTimeout with 408', async () => {
    const head = `GET /v1/signal HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nX-Slow: `;
    const drip = [head, ...Array.from({ length: 40 }, () => 'x')];
    const r = await rawExchange(server.port, drip, { gapMs: 200, timeoutMs: 8000 });
    assert.ok(r.closedByServer, 'the server ended the connection');
    assert.equal(statusOf(r.data), 408);
    // headersTimeoutMs is 1000 here: the end comes well before the 8 s the drip would take.
    assert.ok(r.ms < 3500, `ended after ${r.ms} ms`);
  });

  test('S60 connection limits: N+1 for one sub closes 4429; N+1 from one IP gets HTTP 429', async (t) => {
    const sub = 'limited';
    const a = await connectClient(server.wsUrl, signAsServer(server, { sub }));
    const b = await connectClient(server.wsUrl, signAsServer(server, { sub }));
    await assertClosed(
      new TestClient(server.wsUrl, signAsServer(server, { sub })),
      4429,
      'too_many_connections',
    );
    a.client.close();
    b.client.close();

    const capped = await startTestServer({
      config: { 'signal.maxConnectionsPerIp': 3, 'signal.handshakesPerSecondPerIp': 1000 },
    });
    t.after(() => capped.close());
    // Failed handshakes give their slot back.
    for (let i = 0; i < 5; i++)
      await assertClosed(new TestClient(capped.wsUrl, 'x.y.z'), 4401, 'token_malformed');
    await sleep(50);
    const live = [];
    for (let i = 0; i < 3; i++) live.push(await connectClient(capped.wsUrl, signAsServer(capped)));
    const refused = await rawUpgrade(capped.port, {
      ...UPGRADE_HEADERS,
      'sec-websocket-protocol': `callgate.v1, bearer.${signAsServer(capped)}`,
    });
    assert.equal(refused.status, 429);
    assert.equal(JSON.parse(refused.body).error.code, 'too_many_connections');
    assert.ok(Number(refused.headers['retry-after']) >= 1);
    // A closed connection frees its slot.
    live.pop()!.client.close();
    await sleep(100);
    live.push(await connectClient(capped.wsUrl, signAsServer(capped)));
    for (const c of live) c.client.close();
  });

  test('S61 handshake flood from one IP: 429 with Retry-After; a spoofed X-Forwarded-For has no effect', async (t) => {
    // A frozen clock: the bucket (2/s, burst 4) never refills during the test.
    const flooded = await startTestServer({
      clock: manualClock(),
      config: { 'signal.handshakesPerSecondPerIp': 2 },
    });
    t.after(() => flooded.close());
    const token = signAsServer(flooded);
    const statuses: number[] = [];
    let retryAfter: string | string[] | undefined;
    for (let i = 0; i < 8; i++) {
      const r = await rawUpgrade(flooded.port, {
        ...UPGRADE_HEADERS,
        'x-forwarded-for': `203.0.113.${i}`,
        'sec-websocket-protocol': `callgate.v1, bearer.${token}`,
      });
      statuses.push(r.status);
      if (r.status === 429) retryAfter = r.headers['retry-after'];
    }
    assert.deepEqual(statuses, [101, 101, 101, 101, 429, 429, 429, 429]);
    assert.ok(Number(retryAfter) >= 1);
  });
});
