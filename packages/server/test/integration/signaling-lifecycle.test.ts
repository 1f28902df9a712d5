import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { TestClient, connectClient } from '../support/ws-client.js';

const ALL = ['join', 'publish', 'send', 'presence'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('signaling lifecycle', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      config: {
        'auth.minTokenTtlSeconds': 5,
        'auth.clockToleranceSeconds': 0,
        'signal.handshakesPerSecondPerIp': 1000,
      },
    });
  });
  after(() => server.close());

  test('4. expiry closes 4401 token_expired; in-band refresh keeps the connection; another sub closes 4403', async () => {
    const expiring = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'u1', rooms: { r: ALL }, ttlSeconds: 5 })).token,
    );
    const first = await server.mint({ sub: 'u2', rooms: { r: ALL }, ttlSeconds: 5 });
    const refreshing = await connectClient(server.wsUrl, first.token);
    const hijack = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'u3', rooms: { r: ALL }, ttlSeconds: 5 })).token,
    );

    // The server warns before exp (at 80% of a short lifetime), then the client refreshes.
    const warn = await refreshing.client.next('token_expiring', undefined, 6000);
    assert.equal(warn.expiresAt, first.expiresAt);
    const second = await server.mint({
      sub: 'u2',
      rooms: { r: ALL },
      ttlSeconds: 5,
      sessionId: first.sessionId,
    });
    const ack = await refreshing.client.request({ type: 'refresh', token: second.token });
    assert.equal(ack.type, 'ack');
    assert.equal((ack as { expiresAt: number }).expiresAt, second.expiresAt);

    const otherSub = await server.mint({ sub: 'mallory', rooms: { r: ALL }, ttlSeconds: 5 });
    hijack.client.send({ type: 'refresh', token: otherSub.token });
    assert.deepEqual(await hijack.client.closed, { code: 4403, reason: 'identity_changed' });

    const closed = await expiring.client.closed;
    assert.deepEqual(closed, { code: 4401, reason: 'token_expired' });
    const closedAt = Date.now();
    const expiredAt = expiring.welcome.expiresAt;
    assert.ok(closedAt - expiredAt < 1500, `closed ${closedAt - expiredAt} ms after exp`);

    await sleep(Math.max(0, first.expiresAt + 500 - Date.now()));
    assert.equal(
      (await refreshing.client.request({ type: 'ping' })).type,
      'pong',
      'open past the first exp',
    );
    refreshing.client.close();
  });

  test('a refresh that grants fewer rooms leaves them: ack.rooms says so and members see left', async () => {
    const first = await server.mint({ sub: 'shrink', rooms: { keep: ALL, drop: ALL } });
    const c = await connectClient(server.wsUrl, first.token);
    const watcher = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'watcher', rooms: { drop: ALL } })).token,
    );
    await watcher.client.request({ type: 'join', room: 'drop' });
    await c.client.request({ type: 'join', room: 'keep' });
    await c.client.request({ type: 'join', room: 'drop' });
    await watcher.client.next('presence', (p) => p.joined.length === 1);
    const narrower = await server.mint({
      sub: 'shrink',
      rooms: { keep: ALL },
      sessionId: first.sessionId,
    });
    const ack = (await c.client.request({ type: 'refresh', token: narrower.token })) as {
      rooms?: string[];
    };
    assert.deepEqual(ack.rooms, ['keep']);
    const left = await watcher.client.next('presence', (p) => p.left.includes(c.welcome.peerId));
    assert.equal(left.room, 'drop');
    c.client.close();
    watcher.client.close();
  });

  test('5. revoking a session closes all its sockets with 4403 within 1 s; a kick closes only that peer', async () => {
    const s1 = await server.mint({ sub: 'v1', rooms: { r5: ALL } });
    const a = await connectClient(server.wsUrl, s1.token);
    const a2 = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'v1', rooms: { r5: ALL }, sessionId: s1.sessionId })).token,
    );
    const other = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'v2', rooms: { r5: ALL } })).token,
    );
    const victim = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'v3', rooms: { r5: ALL } })).token,
    );
    for (const c of [a, a2, other, victim]) await c.client.request({ type: 'join', room: 'r5' });

    const started = Date.now();
    const res = await fetch(`${server.url}/v1/sessions/${s1.sessionId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(res.status, 200);
    assert.equal(((await res.json()) as { closedConnections: number }).closedConnections, 2);
    assert.deepEqual(await a.client.closed, { code: 4403, reason: 'token_revoked' });
    assert.deepEqual(await a2.client.closed, { code: 4403, reason: 'token_revoked' });
    assert.ok(Date.now() - started < 1000);
    // A new connection with a token of the revoked session is refused.
    const again = new TestClient(server.wsUrl, s1.token);
    assert.deepEqual(await again.closed, { code: 4403, reason: 'token_revoked' });

    const kick = await fetch(`${server.url}/v1/rooms/r5/peers/${victim.welcome.peerId}`, {
      method: 'DELETE',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(kick.status, 204);
    assert.deepEqual(await victim.client.closed, { code: 4403, reason: 'kicked' });
    assert.equal((await other.client.request({ type: 'ping' })).type, 'pong');
    const left = await other.client.next('presence', (p) => p.left.includes(victim.welcome.peerId));
    assert.deepEqual(left.joined, []);
    other.client.close();
  });

  test('6. a cut connection resumes with the same peerId, gets buffered messages in order, nobody sees it leave', async () => {
    const a = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'w1', rooms: { r6: ALL } })).token,
    );
    const bToken = await server.mint({ sub: 'w2', rooms: { r6: ALL } });
    const b = await connectClient(server.wsUrl, bToken.token);
    await a.client.request({ type: 'join', room: 'r6' });
    await b.client.request({ type: 'join', room: 'r6' });
    await a.client.next('presence');

    b.client.cut();
    await sleep(100); // the server sees the TCP close without a close frame
    for (let i = 0; i < 5; i++)
      assert.equal(
        (await a.client.request({ type: 'send', to: b.welcome.peerId, data: { seq: i } })).type,
        'ack',
      );

    const resumed = await connectClient(server.wsUrl, bToken.token, {
      protocols: [`resume.${b.welcome.resumeToken}`],
    });
    assert.equal(resumed.welcome.resumed, true);
    assert.equal(resumed.welcome.peerId, b.welcome.peerId);
    assert.deepEqual(resumed.welcome.rooms, ['r6']);
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++)
      seqs.push(((await resumed.client.next('message')).data as { seq: number }).seq);
    assert.deepEqual(seqs, [0, 1, 2, 3, 4]);
    // Still in the room: a publish reaches it.
    await a.client.request({ type: 'publish', room: 'r6', data: 'after' });
    assert.equal((await resumed.client.next('message')).data, 'after');
    assert.equal(
      a.client.messages.filter((m) => m.type === 'presence').length,
      0,
      'A saw no left/joined',
    );
    a.client.close();
    resumed.client.close();
  });

  test('6b. a resume token for another identity or an unknown one gives a new peer and resume_failed', async () => {
    const t = await server.mint({ sub: 'x1', rooms: { r: ALL } });
    const c = await connectClient(server.wsUrl, t.token, { protocols: ['resume.bogusbogusbogus'] });
    assert.equal(c.welcome.resumed, false);
    assert.equal((await c.client.next('error')).code, 'resume_failed');
    c.client.close();
  });

  test('7. the 101st peer gets room_full; a flood gets rate_limited then 4429', async () => {
    const clients: TestClient[] = [];
    try {
      const tokens = await Promise.all(
        Array.from({ length: 101 }, (_, i) =>
          server.mint({ sub: `p${i}`, rooms: { big: ['join'] } }),
        ),
      );
      for (const t of tokens) clients.push((await connectClient(server.wsUrl, t.token)).client);
      for (let i = 0; i < 100; i++)
        assert.equal((await clients[i]!.request({ type: 'join', room: 'big' })).type, 'ack');
      const full = await clients[100]!.request({ type: 'join', room: 'big' });
      assert.equal((full as { code: string }).code, 'room_full');
    } finally {
      for (const c of clients) c.close();
    }

    const flood = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'flood', rooms: { r: ALL } })).token,
    );
    for (let i = 0; i < 400; i++) flood.client.send({ type: 'ping', id: `f${i}` });
    const closed = await flood.client.closed;
    assert.deepEqual(closed, { code: 4429, reason: 'rate_limited' });
    const limited = flood.client.messages.filter(
      (m) => m.type === 'error' && m.code === 'rate_limited',
    );
    assert.ok(limited.length > 0);
    // Each rate-limited request is answered with its own id, so a client can settle it.
    assert.ok(
      limited.every(
        (m) =>
          typeof (m as { id?: string }).id === 'string' && (m as { id: string }).id.startsWith('f'),
      ),
    );
  });
});

test('8. SIGTERM: clients get going_away then 1001, and the process exits within the drain window', async (t) => {
  const dataDir = mkdtempSync(join(tmpdir(), 'callgate-sigterm-'));
  t.after(() => rmSync(dataDir, { recursive: true, force: true }));
  const root = new URL('../../../../', import.meta.url).pathname;
  const child = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'packages/server/src/cli/main.ts',
      'serve',
      '--dev',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
    ],
    {
      cwd: root,
      env: { ...process.env, CALLGATE_SERVER_SHUTDOWN_DRAIN_MS: '1000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  let out = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}`)), 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"event":"listening","port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
  });
  const res = await fetch(`http://127.0.0.1:${port}/dev/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ room: 'lobby', sub: 'tester' }),
  });
  const { token } = (await res.json()) as { token: string };
  const { client } = await connectClient(`ws://127.0.0.1:${port}`, token);
  const exited = new Promise<number | null>((resolve) =>
    child.once('exit', (code) => resolve(code)),
  );
  const sentAt = Date.now();
  child.kill('SIGTERM');
  const goingAway = await client.next('going_away', undefined, 3000);
  assert.ok(goingAway.retryAfterMs > 0);
  assert.deepEqual(await client.closed, { code: 1001, reason: 'going_away' });
  assert.equal(await exited, 0);
  assert.ok(
    Date.now() - sentAt < 1000 + 2000,
    'exits within the drain window (plus start-up slack)',
  );
});
