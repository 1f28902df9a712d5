import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';

const SECRET = 'test-turn-secret-0123456789abcdefghijklmnop';

interface Creds {
  username: string;
  credential: string;
  ttl: number;
  expiresAt: number;
  urls: string[];
  iceServers: Array<{ urls: string[]; username?: string; credential?: string }>;
}

describe('TURN credential endpoint', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      config: {
        'turn.secrets': [SECRET],
        'turn.urls': [
          'stun:turn.example.com:3478',
          'turn:turn.example.com:3478?transport=udp',
          'turns:turn.example.com:5349?transport=tcp',
        ],
        'turn.requestsPerMinutePerUser': 5,
        'auth.minTokenTtlSeconds': 5,
        'auth.clockToleranceSeconds': 0,
      },
    });
  });
  after(() => server.close());

  const call = (token: string | undefined, path = '/v1/turn/credentials', method = 'POST') =>
    fetch(`${server.url}${path}`, {
      method,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    });

  test('returns REST credentials bound to the session, with no-store and Vary: Authorization', async () => {
    const { token, sessionId } = await server.mint({ sub: 'alice', rooms: { r: ['join'] } });
    const res = await call(token);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('vary'), 'Authorization');
    const body = (await res.json()) as Creds;
    const [expiry, id] = body.username.split(':');
    assert.match(expiry!, /^\d{10}$/, 'expiry in seconds, 10 digits');
    assert.equal(id, sessionId, 'the id part is the opaque session id');
    assert.ok(Math.abs(Number(expiry) - (Math.floor(Date.now() / 1000) + 3600)) <= 2);
    assert.equal(
      body.credential,
      createHmac('sha1', SECRET).update(body.username).digest('base64'),
    );
    assert.equal(body.ttl, 3600);
    assert.equal(body.expiresAt, Number(expiry) * 1000);
    assert.deepEqual(body.iceServers[0], { urls: ['stun:turn.example.com:3478'] });
    assert.deepEqual(body.iceServers[1], {
      urls: [
        'turn:turn.example.com:3478?transport=udp',
        'turns:turn.example.com:5349?transport=tcp',
      ],
      username: body.username,
      credential: body.credential,
    });
    // The seed documents' route answers the same way, GET and POST; ?username= is ignored.
    const seed = await call(token, '/api/turn-credentials?username=victim', 'GET');
    assert.equal(seed.status, 200);
    assert.equal(((await seed.json()) as Creds).username.split(':')[1], sessionId);
  });

  test('no token and an expired token get 401 with a coded body', async () => {
    const none = await call(undefined);
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'token_missing');
    assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer /);
    const { token } = await server.mint({ sub: 'bob', rooms: { r: ['join'] }, ttlSeconds: 5 });
    await new Promise((r) => setTimeout(r, 5200));
    const expired = await call(token);
    assert.equal(expired.status, 401);
    assert.equal(
      ((await expired.json()) as { error: { code: string } }).error.code,
      'token_expired',
    );
  });

  test('a flood from one user gets 429 with Retry-After; another user is unaffected', async () => {
    const { token } = await server.mint({ sub: 'flooder', rooms: { r: ['join'] } });
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await call(token);
      statuses.push(res.status);
      if (res.status === 429) retryAfter = res.headers.get('retry-after');
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses.slice(0, 5), [200, 200, 200, 200, 200]);
    assert.equal(statuses[7], 429);
    assert.ok(Number(retryAfter) >= 1);
    const other = await server.mint({ sub: 'calm', rooms: { r: ['join'] } });
    assert.equal((await call(other.token)).status, 200);
  });

  test('welcome and every refresh ack carry iceServers with fresh credentials', async () => {
    const first = await server.mint({ sub: 'carol', rooms: { r: ['join'] } });
    const { client, welcome } = await connectClient(server.wsUrl, first.token);
    const turnEntry = welcome.iceServers.find((s) => s.username !== undefined)!;
    assert.equal(turnEntry.username!.split(':')[1], first.sessionId);
    assert.equal(
      turnEntry.credential,
      createHmac('sha1', SECRET).update(turnEntry.username!).digest('base64'),
    );
    const second = await server.mint({
      sub: 'carol',
      rooms: { r: ['join'] },
      sessionId: first.sessionId,
    });
    const ack = (await client.request({ type: 'refresh', token: second.token })) as {
      iceServers: Creds['iceServers'];
    };
    assert.equal(ack.iceServers.length, 2);
    assert.equal(ack.iceServers[1]!.username!.split(':')[1], first.sessionId);
    client.close();
  });
});

test('zero config: a secret is generated once, kept in the store, and default URLs use port 3478', async (t) => {
  const server = await startTestServer({ keepDataDir: true });
  const { token } = await server.mint({ sub: 'z', rooms: { r: ['join'] } });
  const body = (await (
    await fetch(`${server.url}/v1/turn/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    })
  ).json()) as Creds;
  assert.deepEqual(body.urls, [
    'stun:127.0.0.1:3478',
    'turn:127.0.0.1:3478?transport=udp',
    'turn:127.0.0.1:3478?transport=tcp',
  ]);
  const stored = await server.app.services.store.getSetting('turn.secrets');
  const secret = (JSON.parse(stored!) as Array<{ secret: string }>)[0]!.secret;
  assert.ok(Buffer.byteLength(secret) >= 32);
  assert.equal(body.credential, createHmac('sha1', secret).update(body.username).digest('base64'));
  await server.close();
  // A restart on the same data directory keeps the same secret.
  const again = await startTestServer({ dataDir: server.dataDir });
  t.after(() => again.close());
  assert.equal(await again.app.services.store.getSetting('turn.secrets'), stored);
});
