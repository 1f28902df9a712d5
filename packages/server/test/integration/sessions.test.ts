/**
 * Browser sessions (issue 8) over real HTTP: the backend starts a session, the page exchanges
 * the grant for an access token and two cookies, refreshes with the cookie and the CSRF header,
 * and logs out. Cookies are asserted from the real `Set-Cookie` headers.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isOpaqueId } from '@callgate/protocol';
import { manualClock, startTestServer, type TestServer } from '../support/test-server.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import type { Store } from '../../src/store/store.js';
import { TestClient, connectClient } from '../support/ws-client.js';
import {
  DEV_NAMES,
  SECURE_NAMES,
  SessionBrowser,
  errorCode,
  parseSetCookie,
  sessionRequest,
  startSession,
  type SessionAnswer,
  type TokenAnswer,
} from '../support/session-browser.js';

const ROOMS = { lobby: ['join', 'presence', 'publish'], side: ['join'] };

function assertNoStore(a: SessionAnswer): void {
  assert.equal(a.headers.get('cache-control'), 'no-store');
}

function assertError(a: SessionAnswer, status: number, code: string): void {
  assert.equal(a.status, status, JSON.stringify(a.json));
  assert.equal(errorCode(a), code);
  assertNoStore(a);
}

describe('browser sessions', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      config: {
        'auth.sessionAllowedOrigins': ['https://app.example.com'],
        'signal.handshakesPerSecondPerIp': 100_000,
      },
    });
  });
  after(() => server.close());

  const verify = (token: string) => server.app.services.verifyToken(token);

  describe('POST /v1/sessions (backend, API key)', () => {
    test('201 with a one-time grant valid for 60 s and a new session id; no-store', async () => {
      const before = Date.now();
      const a = await sessionRequest(server, '/v1/sessions', {
        body: { sub: 'alice', rooms: ROOMS, metadata: { name: 'Alice' }, kind: 'user' },
        headers: { authorization: `Bearer ${server.apiKey}` },
      });
      assert.equal(a.status, 201);
      assertNoStore(a);
      const body = a.json as Record<string, unknown>;
      assert.deepEqual(Object.keys(body).sort(), [
        'expiresAt',
        'grant',
        'sessionExpiresAt',
        'sessionId',
      ]);
      assert.match(body.grant as string, /^cgg_[A-Za-z0-9_-]{43}$/);
      assert.ok(isOpaqueId(body.sessionId));
      const exp = body.expiresAt as number;
      assert.ok(exp >= before + 60_000 && exp <= Date.now() + 60_000, 'grant lives 60 s');
      assert.ok((body.sessionExpiresAt as number) >= before + 86_400_000);
      // No cookie is set for the backend.
      assert.deepEqual(a.setCookies, []);
    });

    test('validated like POST /v1/tokens; no key 401; another tenant 401; sessionId refused', async () => {
      const post = (body: unknown, key: string | null = server.apiKey) =>
        sessionRequest(server, '/v1/sessions', {
          body,
          headers: key === null ? {} : { authorization: `Bearer ${key}` },
        });
      assertError(await post({ sub: 'alice', rooms: ROOMS }, null), 401, 'unauthorized');
      assertError(await post({ sub: 'a b', rooms: ROOMS }), 400, 'invalid_sub');
      assertError(await post({ sub: 'alice' }), 400, 'invalid_rooms');
      assertError(await post({ sub: 'alice', rooms: { 'lob*': ['join'] } }), 400, 'invalid_room');
      assertError(await post({ sub: 'alice', rooms: { r: ['admin'] } }), 400, 'invalid_permission');
      assertError(await post({ sub: 'alice', rooms: ROOMS, kind: 'root' }), 400, 'invalid_kind');
      assertError(
        await post({ sub: 'alice', rooms: ROOMS, metadata: [] }),
        400,
        'invalid_metadata',
      );
      assertError(await post({ sub: 'alice', rooms: ROOMS, ttlSeconds: 301 }), 400, 'invalid_ttl');
      assertError(
        await post({ sub: 'alice', rooms: ROOMS, tenant: 'someone-else' }),
        401,
        'unauthorized',
      );
      const withSid = await post({
        sub: 'alice',
        rooms: ROOMS,
        sessionId: 'AAAAAAAAAAAAAAAAAAAAAA',
      });
      assertError(withSid, 400, 'invalid_session_id');
      const text = await sessionRequest(server, '/v1/sessions', {
        raw: 'sub=alice',
        contentType: 'application/x-www-form-urlencoded',
        headers: { authorization: `Bearer ${server.apiKey}` },
      });
      assertError(text, 415, 'unsupported_media_type');
    });
  });

  describe('POST /v1/session/exchange', () => {
    test('returns an access token of the session and sets both cookies with exact attributes', async () => {
      const started = await startSession(server, {
        sub: 'alice',
        rooms: ROOMS,
        metadata: { name: 'Alice' },
        kind: 'agent',
        ttlSeconds: 120,
      });
      const tab = new SessionBrowser(server);
      const a = await tab.exchange(started.grant);
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assertNoStore(a);
      assert.equal(a.headers.get('pragma'), 'no-cache');
      const body = a.json as TokenAnswer;
      assert.deepEqual(Object.keys(body).sort(), [
        'csrfToken',
        'expiresAt',
        'sessionExpiresAt',
        'sessionId',
        'token',
      ]);
      assert.equal(body.sessionId, started.sessionId);
      assert.equal(body.sessionExpiresAt, started.sessionExpiresAt);
      const { claims } = await verify(body.token);
      assert.equal(claims.sid, started.sessionId);
      assert.equal(claims.sub, 'alice');
      assert.equal(claims.tid, server.tenant);
      assert.equal(claims.kind, 'agent');
      assert.deepEqual(claims.md, { name: 'Alice' });
      assert.deepEqual(claims.rooms, ROOMS);
      assert.equal(claims.exp - claims.iat, 120);
      assert.equal(body.expiresAt, claims.exp * 1000);

      // Exactly two cookies, parsed from the real Set-Cookie headers.
      assert.equal(a.setCookies.length, 2);
      const cookies = new Map(
        a.setCookies.map((raw) => [parseSetCookie(raw).name, parseSetCookie(raw)]),
      );
      const refresh = cookies.get(SECURE_NAMES.refresh)!;
      const csrf = cookies.get(SECURE_NAMES.csrf)!;
      assert.ok(refresh && csrf, `cookie names: ${[...cookies.keys()].join(', ')}`);
      assert.match(refresh.value, /^cgr_[A-Za-z0-9_-]{43}$/);
      assert.equal(csrf.value, body.csrfToken);
      for (const c of [refresh, csrf]) {
        assert.equal(c.attributes.get('path'), '/');
        assert.equal(c.attributes.get('secure'), true);
        assert.equal(c.attributes.get('samesite'), 'Strict');
        assert.equal(c.attributes.has('domain'), false, 'no Domain (a __Host- cookie)');
        const maxAge = Number(c.attributes.get('max-age'));
        assert.ok(maxAge > 86_390 && maxAge <= 86_400, `Max-Age ${maxAge}`);
      }
      assert.equal(refresh.attributes.get('httponly'), true);
      assert.equal(csrf.attributes.has('httponly'), false, 'the page must read the CSRF cookie');
      // The refresh credential appears nowhere but in its HttpOnly cookie.
      assert.ok(!JSON.stringify(body).includes(refresh.value));
    });

    test('a grant is single use: a second exchange is 400 invalid_grant and revokes the session', async () => {
      const { grant } = await startSession(server);
      const tab = new SessionBrowser(server);
      const first = await tab.exchange(grant);
      assert.equal(first.status, 200);
      const token = (first.json as TokenAnswer).token;
      const live = await connectClient(server.wsUrl, token);

      const again = await new SessionBrowser(server).exchange(grant);
      assertError(again, 400, 'invalid_grant');
      assert.deepEqual(await live.client.closed, { code: 4403, reason: 'token_revoked' });
      assertError(await tab.refresh(), 400, 'invalid_grant');
    });

    test('garbage, a refresh credential or an access token as grant: 400 invalid_grant', async () => {
      const tab = new SessionBrowser(server);
      const signedIn = await tab.signIn();
      for (const grant of [
        undefined,
        '',
        42,
        'cgg_short',
        `cgg_${'A'.repeat(43)}`,
        tab.refreshCookie,
        signedIn.token,
      ])
        assertError(
          await new SessionBrowser(server).exchange(grant as string),
          400,
          'invalid_grant',
        );
      // None of that touched the session.
      assert.equal((await tab.refresh()).status, 200);
    });
  });

  describe('POST /v1/session/refresh', () => {
    test('a new access token and a rotated refresh cookie; the CSRF token stays', async () => {
      const tab = new SessionBrowser(server);
      const signedIn = await tab.signIn({ sub: 'bob', rooms: ROOMS });
      const oldRefresh = tab.refreshCookie!;
      const a = await tab.refresh();
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assertNoStore(a);
      const body = a.json as TokenAnswer;
      assert.equal(body.sessionId, signedIn.sessionId);
      assert.equal(body.csrfToken, signedIn.csrfToken);
      assert.notEqual(body.token, signedIn.token);
      const { claims } = await verify(body.token);
      assert.equal(claims.sid, signedIn.sessionId);
      assert.equal(claims.sub, 'bob');
      assert.deepEqual(claims.rooms, ROOMS);
      const cookies = a.setCookies.map(parseSetCookie);
      assert.deepEqual(
        cookies.map((c) => c.name).sort(),
        [SECURE_NAMES.csrf, SECURE_NAMES.refresh].sort(),
      );
      assert.notEqual(tab.refreshCookie, oldRefresh, 'the refresh credential rotated');
      assert.equal(tab.csrfCookie, signedIn.csrfToken);
      // And again with the rotated one.
      assert.equal((await tab.refresh()).status, 200);
    });

    test('reusing a rotated credential: 400 invalid_grant, the family is revoked, live sockets close 4403', async () => {
      const tab = new SessionBrowser(server);
      const signedIn = await tab.signIn();
      const stolen = tab.clone();
      const refreshed = await tab.refresh();
      assert.equal(refreshed.status, 200);
      const newest = (refreshed.json as TokenAnswer).token;
      const a = await connectClient(server.wsUrl, signedIn.token);
      const b = await connectClient(server.wsUrl, newest);

      const reuse = await stolen.refresh();
      assertError(reuse, 400, 'invalid_grant');
      // The dead cookies are cleared.
      assert.equal(stolen.refreshCookie, undefined);
      assert.deepEqual(await a.client.closed, { code: 4403, reason: 'token_revoked' });
      assert.deepEqual(await b.client.closed, { code: 4403, reason: 'token_revoked' });
      // The newest credential is dead too, and so are the access tokens.
      assertError(await tab.refresh(), 400, 'invalid_grant');
      await assert.rejects(verify(newest), { code: 'token_revoked' });
      const again = new TestClient(server.wsUrl, newest);
      assert.deepEqual(await again.closed, { code: 4403, reason: 'token_revoked' });
    });

    test('two concurrent refreshes with one credential: exactly one succeeds', async () => {
      const tab = new SessionBrowser(server);
      await tab.signIn();
      const tabs = Array.from({ length: 8 }, () => tab.clone());
      const answers = await Promise.all(tabs.map((t) => t.refresh()));
      const ok = answers.filter((a) => a.status === 200);
      assert.equal(ok.length, 1, answers.map((a) => a.status).join(','));
      for (const a of answers.filter((x) => x.status !== 200)) assertError(a, 400, 'invalid_grant');
      // The losers presented a credential that had just been rotated: that is reuse, so the
      // session ends (RFC 9700 §4.14.2) — the SDK single-flights refreshes so a page never races.
      const winner = tabs[answers.indexOf(ok[0]!)]!;
      assertError(await winner.refresh(), 400, 'invalid_grant');
    });

    test('CSRF: no header, header ≠ cookie, no cookie, a planted cookie with matching header: 403', async () => {
      const tab = new SessionBrowser(server);
      await tab.signIn();
      const other = new SessionBrowser(server);
      const otherSession = await other.signIn({ sub: 'mallory', rooms: ROOMS });

      assertError(await tab.refresh({}, { csrf: null }), 403, 'csrf_failed');
      // Change the last character (to one it is not), so the header always differs.
      const csrf = tab.csrfCookie!;
      const mismatched = `${csrf.slice(0, -1)}${csrf.endsWith('A') ? 'B' : 'A'}`;
      assert.notEqual(mismatched, csrf);
      assertError(await tab.refresh({}, { csrf: mismatched }), 403, 'csrf_failed');
      const noCsrfCookie = tab.clone();
      const header = noCsrfCookie.csrfCookie!;
      noCsrfCookie.jar.delete(SECURE_NAMES.csrf);
      assertError(await noCsrfCookie.refresh({}, { csrf: header }), 403, 'csrf_failed');
      // A sibling subdomain plants its own (valid, but someone else's) CSRF token as the cookie
      // and sends it as the header: the pair matches, the HMAC binding does not.
      const planted = tab.clone();
      planted.jar.set(SECURE_NAMES.csrf, otherSession.csrfToken);
      assertError(await planted.refresh({}, { csrf: otherSession.csrfToken }), 403, 'csrf_failed');
      // A made-up token of the right shape.
      const forged = tab.clone();
      const fake = `${'A'.repeat(22)}.${'B'.repeat(43)}`;
      forged.jar.set(SECURE_NAMES.csrf, fake);
      assertError(await forged.refresh({}, { csrf: fake }), 403, 'csrf_failed');
      // Two CSRF cookies of the same name (one planted): ambiguous, refused.
      const doubled = await sessionRequest(server, '/v1/session/refresh', {
        body: {},
        headers: {
          origin: server.url,
          cookie: `${tab.cookieHeader()}; ${SECURE_NAMES.csrf}=${otherSession.csrfToken}`,
          'x-csrf-token': tab.csrfCookie!,
        },
      });
      assertError(doubled, 403, 'csrf_failed');
      // None of those rotated anything: the real tab still refreshes.
      assert.equal((await tab.refresh()).status, 200);
    });

    test('wrong method 405, wrong content type 415, cross-site 403: coded, no-store', async () => {
      const tab = new SessionBrowser(server);
      await tab.signIn();
      const base = {
        origin: server.url,
        cookie: tab.cookieHeader(),
        'x-csrf-token': tab.csrfCookie!,
      };
      for (const path of ['/v1/session/refresh', '/v1/session/exchange', '/v1/session/logout']) {
        for (const method of ['GET', 'PUT', 'DELETE']) {
          const a = await sessionRequest(server, path, { method, headers: base });
          assertError(a, 405, 'method_not_allowed');
          assert.equal(a.headers.get('allow'), 'POST');
        }
        for (const [raw, type] of [
          ['{}', 'text/plain'],
          ['a=b', 'application/x-www-form-urlencoded'],
          ['--x--', 'multipart/form-data; boundary=x'],
        ] as const)
          assertError(
            await sessionRequest(server, path, { raw, contentType: type, headers: base }),
            415,
            'unsupported_media_type',
          );
        assertError(
          await sessionRequest(server, path, { raw: '{}', contentType: null, headers: base }),
          415,
          'unsupported_media_type',
        );
        for (const origin of [
          'https://evil.example',
          'null',
          'https://app.example.com.evil.io',
          'http://app.example.com',
          server.url.replace('127.0.0.1', '127.0.0.2'),
        ])
          assertError(
            await sessionRequest(server, path, { body: {}, headers: { ...base, origin } }),
            403,
            'origin_forbidden',
          );
        assertError(
          await sessionRequest(server, path, {
            body: {},
            headers: { ...base, 'sec-fetch-site': 'cross-site' },
          }),
          403,
          'origin_forbidden',
        );
      }
      // The configured app origin, same-site fetch metadata, or no Origin (a non-browser
      // client) pass the origin check; the CSRF token still guards them.
      tab.origin = 'https://app.example.com';
      assert.equal((await tab.refresh()).status, 200);
      tab.origin = null;
      assert.equal((await tab.refresh({}, { csrf: tab.csrfCookie! })).status, 200);
      tab.origin = server.url;
      const sameSite = await tab.post(
        '/v1/session/refresh',
        {},
        { headers: { 'sec-fetch-site': 'same-origin' } },
      );
      assert.equal(sameSite.status, 200);
    });

    test('an access JWT or a grant in the refresh cookie: 400 invalid_grant (catalogue 24)', async () => {
      const tab = new SessionBrowser(server);
      const signedIn = await tab.signIn();
      const { grant } = await startSession(server);
      for (const wrong of [signedIn.token, grant, 'cgr_x', '']) {
        const t = tab.clone();
        t.jar.set(SECURE_NAMES.refresh, wrong);
        assertError(await t.refresh(), 400, 'invalid_grant');
      }
      const noCookie = tab.clone();
      noCookie.jar.delete(SECURE_NAMES.refresh);
      assertError(await noCookie.refresh(), 400, 'invalid_grant');
      // An access token as bearer with no refresh cookie is not a refresh credential either.
      const bearer = tab.clone();
      bearer.jar.delete(SECURE_NAMES.refresh);
      const a = await bearer.post(
        '/v1/session/refresh',
        {},
        { headers: { authorization: `Bearer ${signedIn.token}` } },
      );
      assertError(a, 400, 'invalid_grant');
      // The unprefixed (dev) name is never read outside dev mode.
      const unprefixed = tab.clone();
      unprefixed.jar.delete(SECURE_NAMES.refresh);
      unprefixed.jar.set(DEV_NAMES.refresh, tab.refreshCookie!);
      assertError(await unprefixed.refresh(), 400, 'invalid_grant');
      assert.equal((await tab.refresh()).status, 200);
    });

    test('scope: a subset is granted, anything broader is 400 invalid_scope', async () => {
      const tab = new SessionBrowser(server);
      await tab.signIn({ sub: 'carol', rooms: ROOMS, metadata: { n: 1 }, ttlSeconds: 200 });
      const narrow = await tab.refresh({ rooms: { lobby: ['join'] }, ttlSeconds: 60 });
      assert.equal(narrow.status, 200, JSON.stringify(narrow.json));
      const { claims } = await verify((narrow.json as TokenAnswer).token);
      assert.deepEqual(claims.rooms, { lobby: ['join'] });
      assert.equal(claims.exp - claims.iat, 60);
      // Same identity restated: fine.
      assert.equal(
        (await tab.refresh({ sub: 'carol', kind: 'user', metadata: { n: 1 } })).status,
        200,
      );

      const broader: Array<[Record<string, unknown>, string]> = [
        [{ rooms: { other: ['join'] } }, 'rooms.other'],
        [{ rooms: { side: ['join', 'publish'] } }, 'rooms.side'],
        [{ rooms: { ...ROOMS, more: ['join'] } }, 'rooms.more'],
        [{ sub: 'admin' }, 'sub'],
        [{ kind: 'service' }, 'kind'],
        [{ metadata: { n: 2 } }, 'metadata'],
        [{ tenant: 'other' }, 'tenant'],
        [{ sessionId: 'AAAAAAAAAAAAAAAAAAAAAA' }, 'sessionId'],
        [{ ttlSeconds: 201 }, 'ttlSeconds'],
      ];
      for (const [body, field] of broader) {
        const a = await tab.refresh(body);
        assertError(a, 400, 'invalid_scope');
        assert.equal((a.json as { error: { field?: string } }).error.field, field);
      }
      assertError(await tab.refresh({ rooms: { 'bad*': ['join'] } }), 400, 'invalid_room');
      // A refused scope does not spend the credential.
      assert.equal((await tab.refresh()).status, 200);
    });

    test('a session revoked through the API cannot refresh', async () => {
      const tab = new SessionBrowser(server);
      const { sessionId } = await tab.signIn();
      const r = await sessionRequest(server, `/v1/sessions/${sessionId}/revoke`, {
        headers: { authorization: `Bearer ${server.apiKey}` },
      });
      assert.equal(r.status, 200);
      assertError(await tab.refresh(), 400, 'invalid_grant');
    });
  });

  test('no grant, refresh credential, CSRF token or access token reaches a log line', async () => {
    const { grant } = await startSession(server);
    const tab = new SessionBrowser(server);
    const secrets = [grant];
    const a = await tab.exchange(grant);
    secrets.push((a.json as TokenAnswer).token, tab.refreshCookie!, tab.csrfCookie!);
    const b = await tab.refresh();
    secrets.push((b.json as TokenAnswer).token, tab.refreshCookie!);
    await tab.clone().refresh({}, { csrf: null });
    await new SessionBrowser(server).exchange(grant); // reuse: revoked, logged at warn
    await tab.logout();
    const text = server.logs.join('');
    assert.match(text, /"event":"session_revoked"/);
    for (const secret of secrets) assert.ok(!text.includes(secret), 'a secret was logged');
  });

  describe('POST /v1/session/logout', () => {
    test('revokes the session, clears both cookies, closes live sockets; refresh then fails', async () => {
      const tab = new SessionBrowser(server);
      const signedIn = await tab.signIn();
      const before = tab.clone();
      const live = await connectClient(server.wsUrl, signedIn.token);
      const a = await tab.logout();
      assert.equal(a.status, 200, JSON.stringify(a.json));
      assertNoStore(a);
      assert.deepEqual(a.json, {
        revoked: true,
        sessionId: signedIn.sessionId,
        closedConnections: 1,
      });
      const cleared = a.setCookies.map(parseSetCookie);
      assert.deepEqual(
        cleared.map((c) => c.name).sort(),
        [SECURE_NAMES.csrf, SECURE_NAMES.refresh].sort(),
      );
      for (const c of cleared) {
        assert.equal(c.value, '');
        assert.equal(c.attributes.get('max-age'), '0');
        assert.equal(c.attributes.get('path'), '/');
        assert.equal(c.attributes.get('secure'), true);
      }
      assert.equal(tab.jar.size, 0);
      assert.deepEqual(await live.client.closed, { code: 4403, reason: 'token_revoked' });
      assertError(await before.refresh(), 400, 'invalid_grant');
      await assert.rejects(verify(signedIn.token), { code: 'token_revoked' });
    });

    test('needs the CSRF pair; without a live session it only clears the cookies', async () => {
      const tab = new SessionBrowser(server);
      await tab.signIn();
      assertError(await tab.post('/v1/session/logout', {}, { csrf: null }), 403, 'csrf_failed');
      const planted = tab.clone();
      const other = await new SessionBrowser(server).signIn();
      planted.jar.set(SECURE_NAMES.csrf, other.csrfToken);
      assertError(
        await planted.post('/v1/session/logout', {}, { csrf: other.csrfToken }),
        403,
        'csrf_failed',
      );
      // Still alive after the refused logouts.
      assert.equal((await tab.refresh()).status, 200);
      const stale = tab.clone();
      stale.jar.set(SECURE_NAMES.refresh, `cgr_${'Z'.repeat(43)}`);
      const a = await stale.logout();
      assert.equal(a.status, 200);
      assert.deepEqual(a.json, { revoked: false, closedConnections: 0 });
      assert.equal(stale.jar.size, 0);
      assert.equal((await tab.refresh()).status, 200);
    });
  });
});

describe('browser sessions: the rotation race, forced', () => {
  // Both requests are held just before the compare-and-swap until both have found the
  // credential current and signed their token, so the store's CAS alone decides the winner.
  const dataDir = mkdtempSync(join(tmpdir(), 'callgate-race-'));
  const sqlite = openSqliteStore(dataDir);
  let waiting: Array<() => void> = [];
  let gate = 0;
  const store: Store = Object.create(sqlite) as Store;
  store.rotateSessionCredential = async (change) => {
    if (gate > 0) {
      await new Promise<void>((resolve) => {
        waiting.push(resolve);
        if (waiting.length >= gate) {
          for (const w of waiting) w();
          waiting = [];
        }
        setTimeout(resolve, 2000);
      });
    }
    return sqlite.rotateSessionCredential(change);
  };
  let server: TestServer;
  before(async () => {
    server = await startTestServer({ store, dataDir });
  });
  after(async () => {
    await server.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('two refreshes that both passed every check: the CAS lets exactly one through', async () => {
    const tab = new SessionBrowser(server);
    const signedIn = await tab.signIn();
    const twin = tab.clone();
    const live = await connectClient(server.wsUrl, signedIn.token);
    gate = 2;
    const answers = await Promise.all([tab.refresh(), twin.refresh()]);
    gate = 0;
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400]);
    const loser = answers.find((a) => a.status === 400)!;
    assertError(loser, 400, 'invalid_grant');
    // The loser is a reuse: the family ends and the session's sockets close.
    assert.deepEqual(await live.client.closed, { code: 4403, reason: 'token_revoked' });
    const family = await sqlite.getSessionFamily(signedIn.sessionId);
    assert.equal(family?.generation, 2, 'one rotation happened after the exchange, not two');
    assert.notEqual(family?.revokedAt, null);
  });
});

describe('browser sessions: lifetimes on a frozen clock', () => {
  const clock = manualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      clock,
      config: { 'auth.sessionTtlSeconds': 3600, 'auth.sessionIdleSeconds': 600 },
    });
  });
  after(() => server.close());

  test('the grant expires after 60 s', async () => {
    const { grant } = await startSession(server);
    clock.advance(60_000);
    assertError(await new SessionBrowser(server).exchange(grant), 400, 'invalid_grant');
    const fresh = await startSession(server);
    clock.advance(59_000);
    assert.equal((await new SessionBrowser(server).exchange(fresh.grant)).status, 200);
  });

  test('idle timeout: a refresh restarts it; past it, 400 invalid_grant', async () => {
    const tab = new SessionBrowser(server);
    await tab.signIn();
    for (let i = 0; i < 3; i++) {
      clock.advance(599_000);
      assert.equal((await tab.refresh()).status, 200, `refresh ${i}`);
    }
    clock.advance(600_000);
    assertError(await tab.refresh(), 400, 'invalid_grant');
    assert.equal(tab.refreshCookie, undefined, 'cookies cleared');
  });

  test('absolute lifetime: no refresh past auth.sessionTtlSeconds, and tokens never outlive it', async () => {
    const tab = new SessionBrowser(server);
    const signedIn = await tab.signIn();
    const end = signedIn.sessionExpiresAt;
    assert.equal(end, clock.now() + 3600_000);
    while (clock.now() + 500_000 < end) {
      clock.advance(500_000);
      assert.equal((await tab.refresh()).status, 200);
    }
    clock.set(end - 100_000);
    const last = await tab.refresh();
    assert.equal(last.status, 200);
    assert.ok((last.json as TokenAnswer).expiresAt <= end, 'the last token ends with the session');
    const cookie = last.setCookies
      .map(parseSetCookie)
      .find((c) => c.name === SECURE_NAMES.refresh)!;
    assert.equal(cookie.attributes.get('max-age'), '100');
    clock.set(end);
    assertError(await tab.refresh(), 400, 'invalid_grant');
  });

  test('maintenance purges ended families from the store', async () => {
    const store = server.app.services.store;
    const { sessionId } = await startSession(server);
    assert.notEqual(await store.getSessionFamily(sessionId), null);
    clock.advance(61_000);
    assert.ok((await store.purgeSessionFamilies(clock.now())) >= 1);
    assert.equal(await store.getSessionFamily(sessionId), null);
  });
});

describe('browser sessions: restart and dev mode', () => {
  test('a session survives a restart (families and the CSRF key are in the store)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'callgate-sessions-'));
    try {
      const first = await startTestServer({ dataDir });
      const tab = new SessionBrowser(first);
      const signedIn = await tab.signIn();
      const stolen = tab.clone();
      assert.equal((await tab.refresh()).status, 200);
      await first.close();

      const second = await startTestServer({ dataDir });
      try {
        const moved = new SessionBrowser(second);
        for (const [k, v] of tab.jar) moved.jar.set(k, v);
        const a = await moved.refresh();
        assert.equal(a.status, 200, JSON.stringify(a.json));
        assert.equal((a.json as TokenAnswer).sessionId, signedIn.sessionId);
        // Reuse detection survives too.
        const thief = new SessionBrowser(second);
        for (const [k, v] of stolen.jar) thief.jar.set(k, v);
        assertError(await thief.refresh(), 400, 'invalid_grant');
        assertError(await moved.refresh(), 400, 'invalid_grant');
      } finally {
        await second.close();
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  test('dev mode over plain HTTP: unprefixed cookie names without Secure; /dev/session from loopback', async () => {
    const server = await startTestServer({ config: { dev: true }, tenant: 'default' });
    try {
      const dev = await sessionRequest(server, '/dev/session', {
        body: { room: 'demo', sub: 'dev-user' },
      });
      assert.equal(dev.status, 201, JSON.stringify(dev.json));
      const started = dev.json as { grant: string; sessionId: string; sub: string; room: string };
      assert.equal(started.sub, 'dev-user');
      const tab = new SessionBrowser(server, { names: DEV_NAMES });
      const a = await tab.exchange(started.grant);
      assert.equal(a.status, 200);
      const cookies = a.setCookies.map(parseSetCookie);
      assert.deepEqual(
        cookies.map((c) => c.name).sort(),
        [DEV_NAMES.csrf, DEV_NAMES.refresh].sort(),
      );
      for (const c of cookies) {
        assert.equal(c.attributes.has('secure'), false);
        assert.equal(c.attributes.get('samesite'), 'Strict');
        assert.equal(c.attributes.get('path'), '/');
        assert.equal(c.attributes.has('domain'), false);
      }
      assert.equal(
        cookies.find((c) => c.name === DEV_NAMES.refresh)!.attributes.get('httponly'),
        true,
      );
      const { claims } = await server.app.services.verifyToken((a.json as TokenAnswer).token);
      assert.deepEqual(claims.rooms, { demo: ['join', 'publish', 'send', 'presence'] });
      assert.equal((await tab.refresh()).status, 200);
    } finally {
      await server.close();
    }
  });

  test('dev mode behind a trusted TLS proxy uses the __Host- cookies', async () => {
    const server = await startTestServer({
      config: { dev: true, 'server.trustProxy': true },
      tenant: 'default',
    });
    try {
      const { grant } = await startSession(server);
      const a = await sessionRequest(server, '/v1/session/exchange', {
        body: { grant },
        headers: { 'x-forwarded-proto': 'https' },
      });
      assert.equal(a.status, 200);
      const names = a.setCookies.map((c) => parseSetCookie(c).name).sort();
      assert.deepEqual(names, [SECURE_NAMES.csrf, SECURE_NAMES.refresh].sort());
      assert.ok(a.setCookies.every((c) => parseSetCookie(c).attributes.get('secure') === true));
    } finally {
      await server.close();
    }
  });

  test('POST /dev/session does not exist outside dev mode', async () => {
    const server = await startTestServer();
    try {
      assertError(
        await sessionRequest(server, '/dev/session', { body: { room: 'demo' } }),
        404,
        'not_found',
      );
    } finally {
      await server.close();
    }
  });
});
