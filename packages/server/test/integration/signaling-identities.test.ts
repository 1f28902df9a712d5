import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';

// Connections are indexed by user and by session (one peer kept as itself, a set from the
// second on): the per-user limit, replacement of the oldest, and session revocation read that
// index, so each is checked here through a count going up and coming down again.

const ALL = ['join', 'publish', 'send', 'presence'];

describe('connections by user and by session', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      config: {
        'signal.handshakesPerSecondPerIp': 1000,
        'signal.maxConnectionsPerUser': 2,
        'signal.replaceDuplicateConnections': true,
      },
    });
  });
  after(() => server.close());

  test('past the per-user limit the oldest connection is replaced (4409), again and again', async () => {
    const { token } = await server.mint({ sub: 'dup', rooms: { r: ALL } });
    const a = await connectClient(server.wsUrl, token);
    const b = await connectClient(server.wsUrl, token);
    const c = await connectClient(server.wsUrl, token);
    assert.deepEqual(await a.client.closed, { code: 4409, reason: 'replaced' });
    // b is now the oldest of the two left.
    const d = await connectClient(server.wsUrl, token);
    assert.deepEqual(await b.client.closed, { code: 4409, reason: 'replaced' });
    for (const live of [c, d])
      assert.equal((await live.client.request({ type: 'ping' })).type, 'pong');
    c.client.close();
    d.client.close();
    await Promise.all([c.client.closed, d.client.closed]);

    // Both gone: two new connections fit without replacing anything.
    const e = await connectClient(server.wsUrl, token);
    const f = await connectClient(server.wsUrl, token);
    for (const live of [e, f])
      assert.equal((await live.client.request({ type: 'ping' })).type, 'pong');
    e.client.close();
    f.client.close();
  });

  test('a session revocation closes every socket of that session and counts them; others stay', async () => {
    const first = await server.mint({ sub: 'rev', rooms: { r: ALL } });
    const same = await server.mint({ sub: 'rev2', rooms: { r: ALL }, sessionId: first.sessionId });
    const other = await server.mint({ sub: 'rev', rooms: { r: ALL } });
    const a = await connectClient(server.wsUrl, first.token);
    const b = await connectClient(server.wsUrl, same.token);
    const keep = await connectClient(server.wsUrl, other.token);

    const revoke = async (): Promise<number> => {
      const res = await fetch(`${server.url}/v1/sessions/${first.sessionId}/revoke`, {
        method: 'POST',
        headers: { authorization: `Bearer ${server.apiKey}` },
        signal: AbortSignal.timeout(10_000),
      });
      assert.equal(res.status, 200);
      return ((await res.json()) as { closedConnections: number }).closedConnections;
    };
    assert.equal(await revoke(), 2);
    assert.deepEqual(await a.client.closed, { code: 4403, reason: 'token_revoked' });
    assert.deepEqual(await b.client.closed, { code: 4403, reason: 'token_revoked' });
    assert.equal((await keep.client.request({ type: 'ping' })).type, 'pong');

    // Revoking it again finds no socket left in the index.
    assert.equal(await revoke(), 0);
    keep.client.close();
  });
});
