/**
 * The SDK on a browser session against the real server: the backend starts a session, the
 * provider exchanges the grant and refreshes through the cookie while the client refreshes
 * in-band, across several access-token lifetimes; logout ends the socket with 4403.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { createClient, sessionTokenProvider, type CallgateClient } from '../../src/index.js';
import { startTestServer, type TestServer } from '../../../server/test/support/test-server.js';
import { eventually, nextEvent, payloads, record } from '../support/wait.js';

/**
 * Node's fetch keeps no cookies: this one does, like a browser tab on the server's origin
 * (it sends `Origin`, stores `Set-Cookie`, and shows scripts only the non-HttpOnly cookies).
 */
function browserFetch(server: TestServer) {
  const jar = new Map<string, { value: string; httpOnly: boolean }>();
  const seen: string[] = [];
  const fetchFn = (async (input: string | URL | Request, init: RequestInit = {}) => {
    seen.push(String(input));
    assert.equal(init.credentials, 'same-origin');
    const headers = new Headers(init.headers);
    headers.set('origin', server.url);
    if (jar.size > 0) headers.set('cookie', [...jar].map(([k, c]) => `${k}=${c.value}`).join('; '));
    const res = await fetch(input, { ...init, headers });
    for (const raw of res.headers.getSetCookie()) {
      const [pair, ...attrs] = raw.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const lower = attrs.map((a) => a.trim().toLowerCase());
      if (lower.includes('max-age=0')) jar.delete(name);
      else jar.set(name, { value: pair!.slice(eq + 1), httpOnly: lower.includes('httponly') });
    }
    return res;
  }) as typeof fetch;
  const documentCookie = () =>
    [...jar]
      .filter(([, c]) => !c.httpOnly)
      .map(([k, c]) => `${k}=${c.value}`)
      .join('; ');
  return { fetch: fetchFn, documentCookie, jar, seen };
}

describe('SDK sessionTokenProvider against the real server', () => {
  let server: TestServer;
  const clients: CallgateClient[] = [];
  before(async () => {
    server = await startTestServer({
      config: { 'auth.minTokenTtlSeconds': 5, 'auth.clockToleranceSeconds': 0 },
    });
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await server.close();
  });

  test('a session outlives several access tokens without a reconnect; logout stops the client', async () => {
    // The app backend starts a session (API key) and hands the grant to the page.
    const res = await fetch(`${server.url}/v1/sessions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice', rooms: { call: ['join', 'presence'] }, ttlSeconds: 5 }),
    });
    assert.equal(res.status, 201);
    const { grant, sessionId } = (await res.json()) as { grant: string; sessionId: string };

    const tab = browserFetch(server);
    const session = sessionTokenProvider({
      baseUrl: server.url,
      fetch: tab.fetch,
      cookies: tab.documentCookie,
      grant,
    });
    const reasons: string[] = [];
    const client = createClient({
      url: server.wsUrl,
      getToken: (ctx) => {
        reasons.push(ctx.reason);
        return session.getToken(ctx);
      },
      WebSocket,
    });
    clients.push(client);
    const events = record(client);
    const welcome = await client.connect();
    assert.equal(welcome.sessionId, sessionId);
    assert.equal(session.sessionId, sessionId);
    await client.join('call');
    assert.equal(tab.jar.get('__Host-callgate_refresh')?.httpOnly, true);
    assert.ok(!tab.documentCookie().includes('callgate_refresh'), 'scripts never see it');

    // Three lifetimes of a 5 s token.
    await eventually(
      () => reasons.filter((r) => r === 'refresh').length >= 3,
      'three refreshes',
      16_000,
    );
    assert.equal(client.state, 'connected');
    assert.deepEqual(
      payloads(events, 'state').map((s) => s.state),
      ['connecting', 'connected'],
      'never reconnected',
    );
    assert.deepEqual(
      tab.seen.map((u) => u.slice(server.url.length)),
      ['/v1/session/exchange', ...reasons.slice(1).map(() => '/v1/session/refresh')],
    );

    const closed = nextEvent(client, 'closed');
    await session.logout();
    const info = await closed;
    assert.equal(info.code, 4403);
    assert.equal(info.reason, 'token_revoked');
    await eventually(() => client.state === 'disconnected', 'client stopped');
    assert.equal(tab.jar.size, 0, 'cookies cleared');
  });
});
