/**
 * sessionTokenProvider against a fake fetch that plays the browser (a cookie jar with an
 * HttpOnly part that scripts cannot read) and the session routes of the server.
 */
import { test, describe, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import {
  CallgateClientError,
  sessionTokenProvider,
  type LockManagerLike,
} from '../../src/index.js';

interface Call {
  url: string;
  method: string | undefined;
  credentials: RequestCredentials | undefined;
  headers: Record<string, string>;
  body: unknown;
}

/** The server side of the session routes plus the browser's cookie jar. */
class FakeSession {
  readonly calls: Call[] = [];
  grants = new Set(['grant-1']);
  /** The HttpOnly refresh cookie: the fake browser sends it, scripts never see it. */
  refreshCookie: string | undefined;
  /** The readable CSRF cookie. */
  csrfCookie: string | undefined;
  csrfName = '__Host-callgate_csrf';
  seq = 0;
  /** Set to make the next answer an error. */
  failWith: { status: number; code: string } | undefined;
  /** Delay each answer (ms) so concurrency can be observed. */
  delayMs = 0;

  cookies = (): string =>
    this.csrfCookie ? `theme=dark; ${this.csrfName}=${this.csrfCookie}` : 'theme=dark';

  fetch = (async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const url = String(input);
    const headers = Object.fromEntries(
      Object.entries((init?.headers as Record<string, string>) ?? {}).map(([k, v]) => [
        k.toLowerCase(),
        v,
      ]),
    );
    const body = init?.body === undefined ? undefined : JSON.parse(String(init.body));
    this.calls.push({ url, method: init?.method, credentials: init?.credentials, headers, body });
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const fail = this.failWith;
    if (fail) {
      this.failWith = undefined;
      return json(fail.status, { error: { code: fail.code, message: 'refused' } });
    }
    const route = url.split('/v1/session/')[1];
    const issue = () => {
      this.seq++;
      this.refreshCookie = `rt${this.seq}`;
      this.csrfCookie ??= 'csrf-A';
      return json(200, {
        token: `at${this.seq}`,
        expiresAt: Date.now() + 300_000,
        sessionId: 'sid-1',
        csrfToken: this.csrfCookie,
        sessionExpiresAt: Date.now() + 86_400_000,
      });
    };
    if (route === 'exchange') {
      if (!this.grants.delete((body as { grant: string }).grant))
        return json(400, { error: { code: 'invalid_grant', message: 'no' } });
      return issue();
    }
    if (route === 'refresh') {
      if (headers['x-csrf-token'] !== this.csrfCookie)
        return json(403, { error: { code: 'csrf_failed', message: 'no' } });
      if (this.refreshCookie === undefined)
        return json(400, { error: { code: 'invalid_grant', message: 'no' } });
      return issue();
    }
    if (route === 'logout') {
      this.refreshCookie = undefined;
      this.csrfCookie = undefined;
      return json(200, { revoked: true, sessionId: 'sid-1', closedConnections: 0 });
    }
    return json(404, { error: { code: 'not_found', message: 'no' } });
  }) as typeof fetch;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json' },
  });
}

const BASE = 'https://app.example.com';

describe('sessionTokenProvider', () => {
  test('exchanges the grant once, then refreshes with the CSRF cookie as X-CSRF-Token', async () => {
    const fake = new FakeSession();
    const session = sessionTokenProvider({
      baseUrl: `${BASE}/`,
      fetch: fake.fetch,
      cookies: fake.cookies,
      grant: 'grant-1',
      locks: null,
    });
    assert.equal(await session.getToken({ reason: 'connect' }), 'at1');
    assert.equal(session.sessionId, 'sid-1');
    assert.equal(await session.getToken({ reason: 'refresh' }), 'at2');
    assert.equal(await session.getToken({ reason: 'reconnect' }), 'at3');
    assert.deepEqual(
      fake.calls.map((c) => [c.url, c.method, c.credentials]),
      [
        [`${BASE}/v1/session/exchange`, 'POST', 'same-origin'],
        [`${BASE}/v1/session/refresh`, 'POST', 'same-origin'],
        [`${BASE}/v1/session/refresh`, 'POST', 'same-origin'],
      ],
    );
    assert.deepEqual(fake.calls[0]!.body, { grant: 'grant-1' });
    assert.equal(fake.calls[0]!.headers['x-csrf-token'], undefined);
    assert.equal(fake.calls[0]!.headers['content-type'], 'application/json');
    assert.deepEqual(fake.calls[1]!.body, {});
    assert.equal(fake.calls[1]!.headers['x-csrf-token'], 'csrf-A');
    assert.equal(fake.calls[1]!.headers['content-type'], 'application/json');
  });

  test('concurrent getToken calls share one request', async () => {
    const fake = new FakeSession();
    fake.delayMs = 20;
    const session = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      grant: 'grant-1',
      locks: null,
    });
    const tokens = await Promise.all([1, 2, 3].map(() => session.getToken({ reason: 'connect' })));
    assert.deepEqual(tokens, ['at1', 'at1', 'at1']);
    assert.equal(fake.calls.length, 1);
    const again = await Promise.all([1, 2].map(() => session.getToken({ reason: 'refresh' })));
    assert.deepEqual(again, ['at2', 'at2']);
    assert.equal(fake.calls.length, 2);
  });

  test('refreshes run inside a Web Lock (tabs share the refresh cookie)', async () => {
    const fake = new FakeSession();
    const held: string[] = [];
    let queue = Promise.resolve();
    const locks: LockManagerLike = {
      request<T>(name: string, callback: () => Promise<T>): Promise<T> {
        const run = queue.then(async () => {
          held.push(name);
          return callback();
        });
        queue = run.then(
          () => undefined,
          () => undefined,
        );
        return run;
      },
    };
    const session = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      grant: 'grant-1',
      locks,
    });
    await session.getToken({ reason: 'connect' });
    await session.getToken({ reason: 'refresh' });
    assert.deepEqual(held, ['callgate-session', 'callgate-session']);
  });

  test("a refusal rejects with the server's code; the next call tries again", async () => {
    const fake = new FakeSession();
    const session = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      grant: 'grant-1',
      locks: null,
    });
    await session.getToken({ reason: 'connect' });
    fake.failWith = { status: 400, code: 'invalid_grant' };
    await assert.rejects(session.getToken({ reason: 'refresh' }), (err: unknown) => {
      assert.ok(err instanceof CallgateClientError);
      assert.equal(err.code, 'invalid_grant');
      assert.ok(!err.message.includes('rt'), 'no credential in the message');
      return true;
    });
    assert.equal(await session.getToken({ reason: 'refresh' }), 'at2');
    // A grant is single use even when its exchange fails.
    const other = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: () => '',
      grant: 'nope',
      locks: null,
    });
    await assert.rejects(other.getToken({ reason: 'connect' }), { code: 'invalid_grant' });
    await assert.rejects(other.getToken({ reason: 'connect' }), { code: 'token_unavailable' });
    // A network failure is token_unavailable.
    const down = sessionTokenProvider({
      baseUrl: BASE,
      fetch: (async () => {
        throw new TypeError('fetch failed');
      }) as typeof fetch,
      grant: 'g',
      locks: null,
    });
    await assert.rejects(down.getToken({ reason: 'connect' }), { code: 'token_unavailable' });
  });

  test('without a grant or a CSRF cookie it fails without a request', async () => {
    const fake = new FakeSession();
    const session = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: () => 'theme=dark',
      locks: null,
    });
    await assert.rejects(session.getToken({ reason: 'connect' }), { code: 'token_unavailable' });
    assert.equal(fake.calls.length, 0);
  });

  test('after a reload (a new provider, no grant) the cookies are enough', async () => {
    const fake = new FakeSession();
    const first = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      grant: 'grant-1',
      locks: null,
    });
    await first.getToken({ reason: 'connect' });
    const reloaded = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      locks: null,
    });
    assert.equal(await reloaded.getToken({ reason: 'connect' }), 'at2');
    assert.equal(fake.calls.at(-1)!.url, `${BASE}/v1/session/refresh`);
  });

  test('the dev-mode CSRF cookie name is read too; the __Host- one wins', async () => {
    const fake = new FakeSession();
    fake.csrfName = 'callgate_csrf';
    const session = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      grant: 'grant-1',
      locks: null,
    });
    await session.getToken({ reason: 'connect' });
    await session.getToken({ reason: 'refresh' });
    assert.equal(fake.calls[1]!.headers['x-csrf-token'], 'csrf-A');
    const both = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: () => 'callgate_csrf=dev; __Host-callgate_csrf=csrf-A',
      locks: null,
    });
    await both.getToken({ reason: 'connect' });
    assert.equal(fake.calls.at(-1)!.headers['x-csrf-token'], 'csrf-A');
  });

  test('exchange() and refresh() keep their token for the next getToken; useGrant after logout', async () => {
    const fake = new FakeSession();
    fake.grants.add('grant-2');
    const session = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      locks: null,
    });
    const t = await session.exchange('grant-1');
    assert.equal(t.token, 'at1');
    assert.equal(t.sessionId, 'sid-1');
    assert.equal(await session.getToken({ reason: 'connect' }), 'at1', 'handed out once');
    assert.equal(fake.calls.length, 1);
    assert.equal(await session.getToken({ reason: 'refresh' }), 'at2');

    await session.logout();
    const logout = fake.calls.at(-1)!;
    assert.equal(logout.url, `${BASE}/v1/session/logout`);
    assert.equal(logout.headers['x-csrf-token'], 'csrf-A');
    assert.equal(logout.credentials, 'same-origin');
    assert.equal(session.sessionId, undefined);
    await assert.rejects(session.getToken({ reason: 'connect' }), { code: 'token_unavailable' });

    session.useGrant('grant-2');
    assert.equal(await session.getToken({ reason: 'connect' }), 'at3');
    assert.throws(() => session.useGrant(''), TypeError);
  });

  test('a refresh that answers for another session (a sign-in in another tab) is refused', async () => {
    const fake = new FakeSession();
    fake.grants.add('grant-2');
    const tabA = sessionTokenProvider({
      baseUrl: BASE,
      fetch: (input, init) => fake.fetch(input, init),
      cookies: fake.cookies,
      grant: 'grant-1',
      locks: null,
    });
    assert.equal(await tabA.getToken({ reason: 'connect' }), 'at1');
    // Tab B signs in: the fake server starts a new session and the browser's cookies follow.
    const original = fake.fetch;
    fake.fetch = (async (input: string | URL | Request, init?: RequestInit) => {
      const res = await original(input, init);
      const body = (await res.clone().json()) as { sessionId?: string };
      if (body.sessionId === undefined) return res;
      return json(res.status, { ...body, sessionId: 'sid-2' });
    }) as typeof fetch;
    const tabB = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      cookies: fake.cookies,
      grant: 'grant-2',
      locks: null,
    });
    await tabB.getToken({ reason: 'connect' });
    assert.equal(tabB.sessionId, 'sid-2');
    await assert.rejects(tabA.getToken({ reason: 'refresh' }), { code: 'identity_changed' });
    assert.equal(tabA.sessionId, 'sid-1');
  });

  test('misuse throws a TypeError naming the option', () => {
    assert.throws(() => sessionTokenProvider({ baseUrl: 1 as unknown as string }), /"baseUrl"/);
    assert.throws(() => sessionTokenProvider({ grant: 1 as unknown as string }), /"grant"/);
    assert.throws(() => sessionTokenProvider({ fetch: 'x' as unknown as typeof fetch }), /"fetch"/);
  });
});

describe('sessionTokenProvider in a page', () => {
  const g = globalThis as Record<string, unknown>;
  const saved = {
    document: g.document,
    localStorage: g.localStorage,
    sessionStorage: g.sessionStorage,
  };
  afterEach(() => {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete g[k];
      else g[k] = v;
    }
  });

  test('reads document.cookie and writes no token to any storage or cookie', async () => {
    const fake = new FakeSession();
    const writes: string[] = [];
    const storage = () =>
      new Proxy(
        {},
        {
          get: (_t, key) => {
            writes.push(`storage read ${String(key)}`);
            return () => undefined;
          },
          set: (_t, key) => {
            writes.push(`storage write ${String(key)}`);
            return true;
          },
        },
      );
    g.localStorage = storage();
    g.sessionStorage = storage();
    g.document = {
      get cookie() {
        return fake.cookies();
      },
      set cookie(v: string) {
        writes.push(`cookie write ${v}`);
      },
    };
    const session = sessionTokenProvider({
      baseUrl: BASE,
      fetch: fake.fetch,
      grant: 'grant-1',
      locks: null,
    });
    await session.getToken({ reason: 'connect' });
    await session.getToken({ reason: 'refresh' });
    await session.logout();
    assert.deepEqual(writes, []);
    assert.equal(fake.calls[1]!.headers['x-csrf-token'], 'csrf-A', 'read from document.cookie');
  });
});
