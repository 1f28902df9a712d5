/**
 * Browser sessions (issue 8) in a real Chromium: the demo page in session mode (`?session=1`)
 * gets a grant from the dev server's `POST /dev/session`, exchanges it through the SDK's
 * `sessionTokenProvider`, and keeps a two-party call up across several access-token lifetimes
 * by refreshing through the HttpOnly cookie — while the page itself never holds a token in
 * `localStorage`, `sessionStorage` or a readable cookie.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import type { Browser, Request } from 'playwright-core';
import { launchChromium } from './support/chromium.js';
import { buildSdk, startDemoServer } from './support/demo-server.js';
import { Participant } from './support/participant.js';

/** Access-token lifetime of the session (the SDK refreshes at 80 %, every 4.8 s). */
const TTL_SECONDS = 6;
const CONNECT_MS = 30_000;
const JWT = /eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*/;
const CSRF_TOKEN = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;

describe('demo page on a browser session in Chromium', { timeout: 300_000 }, () => {
  let browser: Browser;
  const open: Participant[] = [];

  before(
    async () => {
      await buildSdk();
      browser = await launchChromium();
    },
    { timeout: 900_000 },
  );
  after(async () => {
    for (const p of open.splice(0)) await p.close();
    await browser?.close();
  });

  /** What page scripts can see: both storages and `document.cookie`. */
  function readableState(p: Participant) {
    return p.page.evaluate(() => ({
      local: Object.keys(localStorage).map((k) => [k, localStorage.getItem(k) ?? ''] as const),
      session: Object.keys(sessionStorage).map(
        (k) => [k, sessionStorage.getItem(k) ?? ''] as const,
      ),
      cookie: document.cookie,
    }));
  }

  test(
    'a call outlives more than two access tokens; only the CSRF cookie is readable, and it is not a JWT',
    { timeout: 180_000 },
    async (t) => {
      const server = await startDemoServer();
      t.after(() => server.close());
      const room = `e2e-session-${randomBytes(4).toString('hex')}`;
      const joinedAt = Date.now();
      const ada = await Participant.join(browser, server.url, {
        name: 'Ada',
        room,
        ttlSeconds: TTL_SECONDS,
        session: true,
      });
      open.push(ada);
      const grace = await Participant.join(browser, server.url, {
        name: 'Grace',
        room,
        ttlSeconds: TTL_SECONDS,
        session: true,
      });
      open.push(grace);

      // Every session request after the join, as the browser sent it.
      const sent: Request[] = [];
      for (const p of [ada, grace]) p.page.on('request', (r) => void sent.push(r));

      for (const p of [ada, grace])
        await p.waitFor(
          'the other person is connected',
          () =>
            Array.from(document.querySelectorAll<HTMLElement>('#grid .tile')).some(
              (el) => el.dataset.peerId !== 'local' && el.dataset.state === 'connected',
            ),
          CONNECT_MS,
        );
      const first = await Promise.all([ada.snapshot(), grace.snapshot()]);

      // More than two lifetimes of a 6 s token, refreshed through the session every ~4.8 s.
      for (const p of [ada, grace])
        await p.waitFor(
          'three token refreshes are shown',
          () => Number(document.getElementById('status-refreshes')?.dataset.count) >= 3,
          TTL_SECONDS * 4 * 1000 + 10_000,
        );
      assert.ok(Date.now() - joinedAt > 2 * TTL_SECONDS * 1000);
      for (const [i, p] of [ada, grace].entries()) {
        const now = await p.snapshot();
        assert.equal(now.signalState, 'connected', `${p.name}: signaling`);
        assert.equal(now.peerId, first[i]!.peerId, `${p.name}: never reconnected as a new peer`);
        assert.equal(now.sessionId, first[i]!.sessionId);
        assert.ok((now.tokenExpiresAt ?? 0) > (first[i]!.tokenExpiresAt ?? 0) + TTL_SECONDS * 1000);
        const tiles = await p.remoteTiles();
        assert.equal(tiles.length, 1);
        assert.equal(tiles[0]?.state, 'connected');
        assert.ok((tiles[0]?.videoWidth ?? 0) > 0, `${p.name}: no remote video`);
      }
      assert.notEqual(first[0]!.sessionId, first[1]!.sessionId, 'one session per person');

      for (const p of [ada, grace]) {
        // What page scripts can read: no token anywhere, and the one readable cookie is the
        // CSRF token (`<nonce>.<hmac>`, two segments, not a JWT).
        const state = await readableState(p);
        for (const [key, value] of [...state.local, ...state.session]) {
          assert.doesNotMatch(value, JWT, `${p.name}: a JWT in web storage (${key})`);
          assert.ok(!value.includes('cgr_'), `${p.name}: a refresh credential in web storage`);
        }
        const readable = state.cookie
          .split(';')
          .map((c) => c.trim())
          .filter(Boolean)
          .map((c) => [c.slice(0, c.indexOf('=')), c.slice(c.indexOf('=') + 1)] as const);
        assert.deepEqual(
          readable.map(([name]) => name),
          ['callgate_csrf'],
          `${p.name}: readable cookies`,
        );
        const csrf = readable[0]![1];
        assert.doesNotMatch(csrf, JWT);
        assert.match(csrf, CSRF_TOKEN);

        // The browser's jar: the refresh credential is there, HttpOnly (dev mode over plain
        // HTTP: the unprefixed names without Secure, docs/sessions.md).
        const jar = await p.context.cookies(server.url);
        const refresh = jar.find((c) => c.name === 'callgate_refresh');
        assert.ok(refresh, `${p.name}: no refresh cookie`);
        assert.equal(refresh.httpOnly, true);
        assert.equal(refresh.sameSite, 'Strict');
        assert.equal(refresh.path, '/');
        assert.match(refresh.value, /^cgr_[A-Za-z0-9_-]{43}$/);
        const csrfCookie = jar.find((c) => c.name === 'callgate_csrf');
        assert.equal(csrfCookie?.httpOnly, false);
        assert.equal(csrfCookie?.sameSite, 'Strict');
        for (const c of jar)
          assert.doesNotMatch(c.value, JWT, `${p.name}: a JWT in cookie ${c.name}`);
      }

      // The refreshes went to the session route with the CSRF header, never with a token.
      const refreshes = sent.filter((r) => new URL(r.url()).pathname === '/v1/session/refresh');
      assert.ok(refreshes.length >= 4, `refresh requests: ${refreshes.length}`);
      for (const r of refreshes) {
        const headers = await r.allHeaders();
        assert.equal(r.method(), 'POST');
        assert.match(headers['x-csrf-token'] ?? '', CSRF_TOKEN);
        assert.equal(headers.authorization, undefined);
        assert.doesNotMatch(r.url(), JWT);
      }
      assert.ok(!sent.some((r) => new URL(r.url()).pathname === '/dev/token'));
      for (const r of sent) assert.doesNotMatch(r.url(), JWT, 'a token in a URL');

      // Leaving logs the session out: the cookies are gone and the session is revoked.
      const sessionId = (await ada.snapshot()).sessionId!;
      await ada.page.getByRole('button', { name: 'Leave' }).click();
      await ada.waitFor('back on the join form', () => window.__callgate?.joined !== true, 10_000);
      const deadline = Date.now() + 10_000;
      while ((await ada.context.cookies(server.url)).some((c) => c.name === 'callgate_refresh')) {
        assert.ok(Date.now() < deadline, 'the refresh cookie was not cleared');
        await new Promise((r) => setTimeout(r, 100));
      }
      const family = await server.app.services.store.getSessionFamily(sessionId);
      assert.notEqual(family?.revokedAt ?? null, null, 'the session was not revoked');
      assert.deepEqual(
        [...ada.problems, ...grace.problems].filter((line) => !/favicon/.test(line)),
        [],
      );
    },
  );
});
