/**
 * Security catalogue F69-F75 (refresh and CSRF attacks), D45 (an upgrade carrying only the
 * session cookies) and the `/refresh` half of B24, against the browser-session routes of a real
 * server whose clock is frozen (so lifetimes are exact). docs/sessions.md describes the design.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { manualClock, startTestServer, type TestServer } from '../support/test-server.js';
import { TestClient, connectClient } from '../support/ws-client.js';
import {
  SECURE_NAMES,
  SessionBrowser,
  errorCode,
  parseSetCookie,
  sessionRequest,
  startSession,
  type SessionAnswer,
  type TokenAnswer,
} from '../support/session-browser.js';

const clock = manualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
let server: TestServer;

before(async () => {
  server = await startTestServer({
    clock,
    // The defaults: 24 h absolute, 1 h idle, 5 min access tokens.
    config: { 'signal.handshakesPerSecondPerIp': 100_000 },
  });
});
after(() => server.close());

function refused(a: SessionAnswer, status: number, code: string): void {
  assert.equal(a.status, status, JSON.stringify(a.json));
  assert.equal(errorCode(a), code);
  assert.equal(a.headers.get('cache-control'), 'no-store');
}

describe('F. refresh / CSRF attacks', () => {
  test('S45 an upgrade carrying only the session cookies and no token gets 4401', async () => {
    const tab = new SessionBrowser(server);
    await tab.signIn();
    const c = new TestClient(server.wsUrl, undefined, {
      headers: { cookie: tab.cookieHeader(), origin: server.url },
    });
    assert.deepEqual(await c.closed, { code: 4401, reason: 'token_missing' });
    assert.equal(c.messages.length, 0, 'no welcome');
  });

  test('S24 an access JWT sent to /refresh is 400 invalid_grant', async () => {
    const tab = new SessionBrowser(server);
    const { token } = await tab.signIn();
    const asCookie = tab.clone();
    asCookie.jar.set(SECURE_NAMES.refresh, token);
    refused(await asCookie.refresh(), 400, 'invalid_grant');
    const asBearer = tab.clone();
    asBearer.jar.delete(SECURE_NAMES.refresh);
    refused(
      await asBearer.post(
        '/v1/session/refresh',
        {},
        { headers: { authorization: `Bearer ${token}` } },
      ),
      400,
      'invalid_grant',
    );
  });

  test('S69 refresh reuse revokes the family', async () => {
    const tab = new SessionBrowser(server);
    const signedIn = await tab.signIn();
    const stolen = tab.clone();
    const rotated = await tab.refresh();
    assert.equal(rotated.status, 200);
    const newest = (rotated.json as TokenAnswer).token;
    const sockets = await Promise.all([
      connectClient(server.wsUrl, signedIn.token),
      connectClient(server.wsUrl, newest),
    ]);

    refused(await stolen.refresh(), 400, 'invalid_grant');
    // The newest credential now gets 400 too, and every live socket of the session closes.
    refused(await tab.refresh(), 400, 'invalid_grant');
    for (const s of sockets)
      assert.deepEqual(await s.client.closed, { code: 4403, reason: 'token_revoked' });
    // The same holds for a reused grant (the family's first credential).
    const { grant } = await startSession(server);
    const first = new SessionBrowser(server);
    assert.equal((await first.exchange(grant)).status, 200);
    refused(await new SessionBrowser(server).exchange(grant), 400, 'invalid_grant');
    refused(await first.refresh(), 400, 'invalid_grant');
  });

  test('S70 expired refresh token: 24 h absolute or 1 h idle gives 400 invalid_grant', async () => {
    const idle = new SessionBrowser(server);
    await idle.signIn();
    clock.advance(3600_000);
    refused(await idle.refresh(), 400, 'invalid_grant');

    const busy = new SessionBrowser(server);
    const { sessionExpiresAt } = await busy.signIn();
    // Refreshing every 50 minutes keeps it alive, until the absolute end.
    while (clock.now() + 3000_000 < sessionExpiresAt) {
      clock.advance(3000_000);
      assert.equal((await busy.refresh()).status, 200);
    }
    clock.set(sessionExpiresAt);
    refused(await busy.refresh(), 400, 'invalid_grant');
    // An unexchanged grant dies after 60 s.
    const { grant } = await startSession(server);
    clock.advance(60_000);
    refused(await new SessionBrowser(server).exchange(grant), 400, 'invalid_grant');
  });

  test('S71 refresh asking for broader scope is 400 invalid_scope', async () => {
    const tab = new SessionBrowser(server);
    await tab.signIn({ sub: 'alice', rooms: { lobby: ['join'] } });
    for (const body of [
      { rooms: { lobby: ['join', 'publish'] } },
      { rooms: { lobby: ['join'], admin: ['join'] } },
      { sub: 'bob' },
      { ttlSeconds: 301 },
    ])
      refused(await tab.refresh(body), 400, 'invalid_scope');
    assert.equal((await tab.refresh({ rooms: { lobby: ['join'] } })).status, 200);
  });

  test('S72 CSRF token failures: no header, header ≠ cookie, planted cookie + matching header', async () => {
    const victim = new SessionBrowser(server);
    await victim.signIn();
    const attacker = await new SessionBrowser(server).signIn({ sub: 'mallory', rooms: {} });
    refused(await victim.refresh({}, { csrf: null }), 403, 'csrf_failed');
    refused(await victim.refresh({}, { csrf: attacker.csrfToken }), 403, 'csrf_failed');
    const planted = victim.clone();
    planted.jar.set(SECURE_NAMES.csrf, attacker.csrfToken);
    refused(await planted.refresh({}, { csrf: attacker.csrfToken }), 403, 'csrf_failed');
    refused(
      await planted.post('/v1/session/logout', {}, { csrf: attacker.csrfToken }),
      403,
      'csrf_failed',
    );
    assert.equal((await victim.refresh()).status, 200, 'nothing was spent');
  });

  test('S73 cross-site or wrong-shape requests: 403, 405, 415', async () => {
    const tab = new SessionBrowser(server);
    await tab.signIn();
    const headers = { cookie: tab.cookieHeader(), 'x-csrf-token': tab.csrfCookie! };
    const post = (extra: Record<string, string>) =>
      sessionRequest(server, '/v1/session/refresh', {
        body: {},
        headers: { ...headers, ...extra },
      });
    refused(await post({ origin: 'https://evil.example' }), 403, 'origin_forbidden');
    refused(
      await post({ origin: server.url, 'sec-fetch-site': 'cross-site' }),
      403,
      'origin_forbidden',
    );
    refused(
      await sessionRequest(server, '/v1/session/refresh', { method: 'GET', headers }),
      405,
      'method_not_allowed',
    );
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded'])
      refused(
        await sessionRequest(server, '/v1/session/refresh', {
          raw: '{}',
          contentType,
          headers: { ...headers, origin: server.url },
        }),
        415,
        'unsupported_media_type',
      );
    assert.equal((await tab.refresh()).status, 200);
  });

  test('S74 cookie attributes: __Host- with Secure; HttpOnly; SameSite=Strict; Path=/, no Domain; no-store', async () => {
    const { grant } = await startSession(server);
    const tab = new SessionBrowser(server);
    const answers = [await tab.exchange(grant), await tab.refresh()];
    for (const a of answers) {
      assert.equal(a.status, 200);
      assert.equal(a.headers.get('cache-control'), 'no-store');
      const cookies = new Map(
        a.setCookies.map((raw) => [parseSetCookie(raw).name, parseSetCookie(raw)]),
      );
      const refresh = cookies.get('__Host-callgate_refresh');
      const csrf = cookies.get('__Host-callgate_csrf');
      assert.ok(refresh && csrf, [...cookies.keys()].join(', '));
      for (const c of [refresh, csrf]) {
        assert.equal(c.attributes.get('secure'), true);
        assert.equal(c.attributes.get('samesite'), 'Strict');
        assert.equal(c.attributes.get('path'), '/');
        assert.equal(c.attributes.has('domain'), false);
      }
      assert.equal(refresh.attributes.get('httponly'), true);
      assert.equal(csrf.attributes.has('httponly'), false);
    }
  });

  test('S75 logout revokes the family; refresh then 400; the access token dies at once', async () => {
    const tab = new SessionBrowser(server);
    const signedIn = await tab.signIn();
    const kept = tab.clone();
    const live = await connectClient(server.wsUrl, signedIn.token);
    const out = await tab.logout();
    assert.equal(out.status, 200);
    assert.equal((out.json as { revoked: boolean }).revoked, true);
    refused(await kept.refresh(), 400, 'invalid_grant');
    assert.deepEqual(await live.client.closed, { code: 4403, reason: 'token_revoked' });
    // Well before its 5-minute exp, through the session (sid) denylist.
    const again = new TestClient(server.wsUrl, signedIn.token);
    assert.deepEqual(await again.closed, { code: 4403, reason: 'token_revoked' });
    await assert.rejects(server.app.services.verifyToken(signedIn.token), {
      code: 'token_revoked',
    });
  });
});
