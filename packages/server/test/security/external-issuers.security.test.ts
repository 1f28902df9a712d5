/**
 * Security catalogue items for tokens from external issuers (issue 8): B25, B27, C32 and
 * C36-C43, against a real Callgate that trusts a real OpenID provider (`oidc-provider`) and
 * several hand-made JWKS servers on 127.0.0.1 that count requests and misbehave on demand.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient, TestClient } from '../support/ws-client.js';
import {
  startOidcProvider,
  untilKeysFetched,
  CLIENT_ID,
  type TestOidcProvider,
} from '../support/oidc-provider.js';
import { startJwksServer, type JwksServer, type JwksMode } from '../support/jwks-server.js';
import { assertClosed, assertTokenRefused, sleep } from '../support/attack.js';
import { decodeSegment, signCompact } from '../support/jws.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/config/config.js';
import { checkJwksHosts } from '../../src/auth/external-issuers.js';
import { fetchJwks, JwksFetchError } from '../../src/auth/fetch-jwks.js';
import type { TrustedIssuerConfig } from '../../src/config/trusted-issuers.js';

const RESOURCE = 'https://callgate.test';
const ROOMS_CLAIM = 'https://callgate.test/rooms';
const SHARED_KID = 'shared-kid';
const SHARED_SID = 'shared-session-id-0001';
const COOLDOWN = 2500; // the flood issuer's jwksCooldownMs
const OUTAGES = [
  'status-500',
  'not-json',
  'keys-not-a-list',
  'redirect',
  'hang',
  'huge',
  'private-members',
] as const satisfies readonly JwksMode[];

let provider: TestOidcProvider; // issuer A: a real OpenID provider
let b: JwksServer; // issuer B: same kid as A; rooms from `scope`
let flood: JwksServer; // C36
let rotating: JwksServer; // C37
let weak: JwksServer; // C39
let down: JwksServer; // C41: closed before the test
const outage = new Map<string, JwksServer>(); // C41, C42
let server: TestServer;

const now = () => Math.floor(Date.now() / 1000);
const tokenFor = (s: JwksServer, claims: Record<string, unknown> = {}, header = {}) =>
  s.sign(
    { iss: s.issuer, aud: RESOURCE, sub: 'robot', iat: now(), exp: now() + 300, ...claims },
    header,
  );
const turn = (token: string) =>
  fetch(`${server.url}/v1/turn/credentials`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
  });
const issuerEntry = (s: JwksServer, extra: Record<string, unknown> = {}) => ({
  issuer: s.issuer,
  jwksUri: s.jwksUri,
  audience: RESOURCE,
  tenant: { value: 'acme' },
  rooms: { grant: { lobby: ['join'] } },
  allowInsecureLoopback: true,
  jwksCooldownMs: 100,
  jwksTimeoutMs: 500,
  ...extra,
});

before(async () => {
  provider = await startOidcProvider({
    resource: RESOURCE,
    kid: SHARED_KID,
    claims: (sub) => ({
      [ROOMS_CLAIM]: { lobby: ['join', 'presence'] },
      // None of these is in the mapping: they must grant nothing (B27).
      scope: 'signal room:* admin',
      role: 'admin',
      tid: 'other',
      rooms: { '*': ['join'], admin: ['join', 'publish', 'send', 'presence'] },
      kind: 'service',
      md: { role: 'admin' },
      ...(sub === CLIENT_ID ? { sid: SHARED_SID } : {}),
    }),
  });
  b = await startJwksServer({ kid: SHARED_KID });
  flood = await startJwksServer();
  rotating = await startJwksServer();
  weak = await startJwksServer();
  for (const mode of OUTAGES) {
    const s = await startJwksServer();
    s.mode = mode;
    outage.set(mode, s);
  }
  down = await startJwksServer();
  await down.close();
  weak.publish([
    {
      ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }),
      kid: weak.kid,
      alg: 'RS256',
    },
  ]);

  server = await startTestServer({
    config: {
      'signal.handshakesPerSecondPerIp': 100_000,
      'signal.maxEventLoopLagMs': 0,
      'turn.requestsPerMinutePerUser': 100_000,
      'auth.trustedIssuers': [
        {
          issuer: provider.issuer,
          jwksUri: provider.jwksUri,
          audience: RESOURCE,
          typ: 'at+jwt',
          tenant: { value: 'acme' },
          rooms: { claim: ROOMS_CLAIM },
          allowInsecureLoopback: true,
          jwksCooldownMs: 200,
        },
        issuerEntry(b, {
          rooms: { claim: 'scope', permissions: ['join'], prefix: 'room:' },
          jwksCooldownMs: 300,
        }),
        issuerEntry(flood, { jwksCooldownMs: COOLDOWN }),
        issuerEntry(rotating),
        issuerEntry(weak),
        issuerEntry(down),
        ...[...outage.values()].map((s) => issuerEntry(s, { jwksTimeoutMs: 300 })),
      ],
    },
  });
  await untilKeysFetched(server, await provider.clientCredentialsToken());
});

after(async () => {
  await server.close();
  await provider.close();
  for (const s of [b, flood, rotating, weak, ...outage.values()]) await s.close();
});

describe('B. claims of external tokens', () => {
  test('S25 an ID token from the provider is refused: wrong typ, and its aud is the client id', async () => {
    const { accessToken, idToken } = await provider.login('erin');
    // The control: the access token of the same login is accepted.
    const ok = await connectClient(server.wsUrl, accessToken);
    ok.client.close();
    const id = decodeSegment(idToken, 1);
    assert.equal(id.aud, CLIENT_ID, 'an ID token is addressed to the client');
    assert.equal(decodeSegment(idToken, 0).typ, undefined);
    await assertTokenRefused(server, idToken, 'token_invalid', 'claim typ: check_failed');
    // An issuer without a `typ` requirement still refuses it on the audience...
    await assertTokenRefused(
      server,
      tokenFor(b, { aud: CLIENT_ID, nonce: 'n', sub: 'erin' }, { typ: 'JWT' }),
      'token_invalid',
      'claim aud: check_failed',
    );
    // ...and any explicitly typed token that is not a generic JWT or an access token.
    for (const typ of ['logout+jwt', 'refresh+jwt', 'dpop+jwt', 'application/secevent+jwt'])
      await assertTokenRefused(
        server,
        tokenFor(b, {}, { typ }),
        'token_invalid',
        'claim typ: check_failed',
      );
  });

  test('S27 scope "room:*", role "admin", tid, rooms, kind and md outside the mapping grant nothing', async () => {
    const token = await provider.clientCredentialsToken();
    const p = decodeSegment(token, 1);
    assert.equal(p.role, 'admin');
    assert.equal(p.scope, 'signal');
    const { client, welcome } = await connectClient(server.wsUrl, token);
    try {
      assert.equal(welcome.tenant, 'acme', 'the tenant comes from the mapping, not `tid`');
      for (const room of ['admin', 'other', 'room:admin']) {
        const r = await client.request({ type: 'join', room });
        assert.equal((r as { code?: string }).code, 'forbidden', room);
      }
      const wildcard = await client.request({ type: 'join', room: '*' });
      assert.equal(wildcard.type, 'error');
      assert.equal((await client.request({ type: 'join', room: 'lobby' })).type, 'ack');
      // The mapped grant is join + presence: publishing is not in it.
      const pub = await client.request({ type: 'publish', room: 'lobby', data: 1 });
      assert.equal((pub as { code?: string }).code, 'forbidden');
    } finally {
      client.close();
    }
    // An access token is never an API key: admin routes stay closed.
    for (const [method, path] of [
      ['GET', '/v1/rooms'],
      ['POST', '/v1/rooms/lobby/messages'],
      ['POST', '/v1/tokens'],
    ] as const) {
      const res = await fetch(`${server.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: method === 'POST' ? '{}' : null,
      });
      assert.equal(res.status, 401, `${method} ${path}`);
    }
    // A list mapping from `scope` with the prefix `room:`: `room:*` is no wildcard, and
    // `admin` lacks the prefix.
    const listed = tokenFor(b, { scope: 'openid admin room:* room:lobby room:' });
    const c = await connectClient(server.wsUrl, listed);
    try {
      assert.equal((await c.client.request({ type: 'join', room: 'lobby' })).type, 'ack');
      const admin = await c.client.request({ type: 'join', room: 'admin' });
      assert.equal((admin as { code?: string }).code, 'forbidden');
      const presence = await c.client.request({ type: 'join', room: 'lobby' });
      void presence;
    } finally {
      c.client.close();
    }
  });
});

describe('C. keys of external issuers', () => {
  test('S32 jku or x5u in an external token: refused, and nothing is fetched', async () => {
    const before = b.requests;
    for (const member of ['jku', 'x5u'])
      await assertTokenRefused(
        server,
        tokenFor(b, {}, { [member]: `${b.issuer}/attacker.json` }),
        'token_invalid',
        `header member ${member} not accepted`,
      );
    assert.equal(b.requests, before);
  });

  test('S36 unknown-kid flood: every token refused, at most one JWKS fetch per cooldown, reloads de-duplicated', async () => {
    const burst = async () => {
      const answers = await Promise.all(
        Array.from({ length: 150 }, () =>
          turn(tokenFor(flood, {}, { kid: randomBytes(12).toString('base64url') })),
        ),
      );
      for (const res of answers) {
        assert.equal(res.status, 401);
        assert.equal(
          ((await res.json()) as { error: { code: string } }).error.code,
          'token_invalid',
        );
      }
    };
    // At most one fetch per cooldown window begun since `t0`; on a loaded machine a burst may
    // outlast a window, so the bound is counted, not assumed.
    const atMostOnePerWindow = (start: number, t0: number, what: string) => {
      const windows = Math.floor((Date.now() - t0) / COOLDOWN) + 1;
      const fetches = flood.requests - start;
      assert.ok(fetches <= windows, `${what}: ${fetches} fetches in ${windows} window(s)`);
      return { fetches, windows };
    };
    await sleep(COOLDOWN + 100); // past the cooldown of the warm-up fetch
    const start = flood.requests;
    const t0 = Date.now();
    await burst();
    const first = atMostOnePerWindow(start, t0, 'first burst');
    assert.ok(first.fetches >= 1, 'an unknown kid past the cooldown fetches');
    if (first.windows === 1) assert.equal(first.fetches, 1, 'one fetch for 150 unknown kids');
    await burst();
    const second = atMostOnePerWindow(start, t0, 'second burst');
    if (second.windows === 1) assert.equal(second.fetches, 1, 'none within the cooldown');
    await sleep(COOLDOWN + 100);
    const mid = flood.requests;
    const t1 = Date.now();
    await burst();
    assert.ok(atMostOnePerWindow(mid, t1, 'after the cooldown').fetches >= 1);
    // The known key still verifies throughout.
    assert.equal((await turn(tokenFor(flood))).status, 200);
  });

  test('S37 rotation: the new key is picked up on first sight, the removed key stops verifying', async () => {
    const oldToken = tokenFor(rotating);
    assert.equal((await turn(oldToken)).status, 200);
    const next = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    rotating.publish([
      { ...next.publicKey.export({ format: 'jwk' }), kid: 'key-2', alg: 'ES256', use: 'sig' },
    ]);
    await sleep(150);
    const newToken = signCompact(
      { alg: 'ES256', typ: 'at+jwt', kid: 'key-2' },
      { iss: rotating.issuer, aud: RESOURCE, sub: 'robot', iat: now(), exp: now() + 300 },
      'ES256',
      next.privateKey,
    );
    // ES256 is not on this issuer's list (default RS256 only): refused before any fetch.
    const before = rotating.requests;
    await assertTokenRefused(server, newToken, 'token_invalid', 'algorithm not allowed');
    assert.equal(rotating.requests, before);
    // An RS256 key under a new kid is fetched on first sight.
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    rotating.publish([
      { ...rsa.publicKey.export({ format: 'jwk' }), kid: 'key-3', alg: 'RS256', use: 'sig' },
    ]);
    const rsaToken = signCompact(
      { alg: 'RS256', typ: 'at+jwt', kid: 'key-3' },
      { iss: rotating.issuer, aud: RESOURCE, sub: 'robot', iat: now(), exp: now() + 300 },
      'RS256',
      rsa.privateKey,
    );
    assert.equal((await turn(rsaToken)).status, 200);
    await assertTokenRefused(server, oldToken, 'token_invalid', 'unknown kid');
  });

  test('S38 a foreign JWKS with private members is refused whole (fail closed)', async () => {
    const s = outage.get('private-members')!;
    const res = await turn(tokenFor(s));
    assert.equal(res.status, 503);
    assert.equal(
      ((await res.json()) as { error: { code: string } }).error.code,
      'issuer_unavailable',
    );
  });

  test('S39 an unusable foreign key (RSA 1024) never verifies', async () => {
    await assertTokenRefused(server, tokenFor(weak), 'token_invalid', 'unknown kid');
    assert.ok(weak.requests >= 1);
    assert.ok(
      server.logs.some(
        (l) => l.includes('"jwks_fetched"') && l.includes('modulus under 2048 bits'),
      ),
      'the rejected key is logged with its reason',
    );
  });

  test('S40 unsafe JWKS URLs are refused at startup', async () => {
    const entry = (jwksUri: string, extra: Record<string, unknown> = {}) => ({
      issuer: 'https://id.example.com/',
      jwksUri,
      audience: RESOURCE,
      tenant: { value: 'acme' },
      ...extra,
    });
    const refused: Array<[string, RegExp, Record<string, unknown>?]> = [
      ['http://id.example.com/jwks', /must be https/],
      ['https://10.0.0.5/jwks', /private, link-local or reserved/],
      ['https://169.254.169.254/latest/meta-data/', /private, link-local or reserved/],
      ['https://192.168.1.10/jwks', /private, link-local or reserved/],
      ['https://[fd00::1]/jwks', /private, link-local or reserved/],
      ['https://[fe80::1]/jwks', /private, link-local or reserved/],
      ['https://[::ffff:10.0.0.1]/jwks', /private, link-local or reserved/],
      ['https://0.0.0.0/jwks', /private, link-local or reserved/],
      ['https://127.0.0.1/jwks', /loopback/],
      ['https://[::1]/jwks', /loopback/],
      ['https://localhost/jwks', /loopback/],
      ['http://127.0.0.1:9/jwks', /loopback/],
      ['https://user:pw@id.example.com/jwks', /credentials/],
      ['file:///etc/passwd', /https/],
      ['not a url', /absolute https URL/],
      // The loopback exception never covers private addresses or plain http elsewhere.
      ['http://10.0.0.5/jwks', /private/, { allowInsecureLoopback: true }],
      ['http://id.example.com/jwks', /must be https/, { allowInsecureLoopback: true }],
    ];
    for (const [uri, message, extra] of refused) {
      assert.throws(
        () =>
          loadConfig({
            env: {},
            overrides: { 'auth.trustedIssuers': [entry(uri, extra)] },
          }),
        (err: unknown) =>
          err instanceof ConfigError &&
          err.issues.some(
            (i) => i.path === 'auth.trustedIssuers[0].jwksUri' && message.test(i.message),
          ),
        uri,
      );
    }
    // Allowed: https to a public name, and loopback with `dev` or allowInsecureLoopback.
    const ok = loadConfig({
      env: {},
      overrides: {
        'auth.trustedIssuers': [
          entry('https://id.example.com/.well-known/jwks.json'),
          { ...entry('http://127.0.0.1:9/jwks', { allowInsecureLoopback: true }), issuer: 'a' },
        ],
      },
    });
    assert.equal(ok.auth.trustedIssuers.length, 2);
    assert.doesNotThrow(() =>
      loadConfig({
        env: {},
        overrides: { dev: true, 'auth.trustedIssuers': [entry('http://localhost:9/jwks')] },
      }),
    );

    // Names are resolved at startup: one that resolves to a private address is refused.
    const configs = [
      { jwksUri: 'https://jwks.internal.example/keys', allowInsecureLoopback: false },
      { jwksUri: 'https://id.example.com/keys', allowInsecureLoopback: false },
      { jwksUri: 'https://rebind.example/keys', allowInsecureLoopback: false },
    ] as unknown as TrustedIssuerConfig[];
    const hosts: Record<string, string[]> = {
      'jwks.internal.example': ['10.1.2.3'],
      'id.example.com': ['93.184.215.14', '2606:2800:21f:cb07:6820:80da:af6b:8b2c'],
      'rebind.example': ['93.184.215.14', '169.254.169.254'],
    };
    const lookupAll = async (h: string) =>
      (hosts[h] ?? []).map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
    const issues = await checkJwksHosts(configs, { dev: false, lookupAll });
    assert.deepEqual(issues.map((i) => i.path).sort(), [
      'auth.trustedIssuers[0].jwksUri',
      'auth.trustedIssuers[2].jwksUri',
    ]);
    assert.match(issues.find((i) => i.path.includes('[2]'))!.message, /169\.254\.169\.254/);

    // And again on every connection (DNS rebinding): the name now resolves to the metadata
    // address, so the request is refused before any byte is sent.
    const before = flood.requests;
    const port = new URL(flood.issuer).port;
    await assert.rejects(
      fetchJwks(`https://rebind.example:${port}/jwks.json`, {
        timeoutMs: 1000,
        maxBytes: 1024,
        allowLoopback: true,
        lookupAll: async () => [{ address: '169.254.169.254', family: 4 }],
      }),
      (err: unknown) => err instanceof JwksFetchError && /not a public address/.test(err.message),
    );
    // A name resolving to loopback is refused unless loopback is allowed.
    await assert.rejects(
      fetchJwks(`http://jwks.test.localhost:${port}/jwks.json`, {
        timeoutMs: 1000,
        maxBytes: 1024,
        allowLoopback: false,
      }),
      JwksFetchError,
    );
    assert.equal(flood.requests, before, 'no request reached any server');
  });

  test('S41 JWKS outage or garbage fails closed with 503 issuer_unavailable and Retry-After', async () => {
    const cases: Array<[string, JwksServer, RegExp]> = [
      ['down', down, /ECONNREFUSED/],
      ['status-500', outage.get('status-500')!, /HTTP 500/],
      ['not-json', outage.get('not-json')!, /not JSON/],
      ['keys-not-a-list', outage.get('keys-not-a-list')!, /not a JWK set/],
      ['redirect', outage.get('redirect')!, /redirects are refused/],
      ['hang', outage.get('hang')!, /no complete response within 300 ms/],
    ];
    for (const [name, s, detail] of cases) {
      await sleep(120); // past the 100 ms cooldown: this token's lookup fetches
      const before = s.requests;
      const token = tokenFor(s);
      const res = await turn(token);
      assert.equal(res.status, 503, name);
      assert.equal(
        ((await res.json()) as { error: { code: string } }).error.code,
        'issuer_unavailable',
      );
      assert.ok(Number(res.headers.get('retry-after')) >= 1, `${name}: Retry-After`);
      assert.equal(res.headers.get('www-authenticate'), null, 'not an invalid-token answer');
      if (name !== 'down') assert.equal(s.requests, before + 1, `${name}: one fetch`);
      const c = new TestClient(server.wsUrl, token);
      await assertClosed(c, 4503, 'issuer_unavailable', name);
      const failures = server.logs.filter(
        (l) => l.includes('"ws_auth_failed"') && l.includes('issuer keys unavailable'),
      );
      assert.ok(
        failures.some((l) => detail.test(l)),
        `${name}: the log says why`,
      );
    }
    assert.equal(outage.get('redirect')!.requests > 0, true);
  });

  test('S41 a fresh cached key set survives an outage; an unknown kid is then 401, not 503', async () => {
    const token = tokenFor(b);
    assert.equal((await turn(token)).status, 200);
    b.mode = 'status-500';
    try {
      await sleep(350);
      assert.equal((await turn(tokenFor(b))).status, 200, 'cached key still verifies');
      const unknown = await turn(tokenFor(b, {}, { kid: 'rotated-away' }));
      assert.equal(unknown.status, 401);
    } finally {
      b.mode = 'ok';
    }
  });

  test('S41 a refresh that meets an unavailable issuer keeps the connection on its current token', async () => {
    const { client } = await connectClient(server.wsUrl, await provider.clientCredentialsToken());
    try {
      await sleep(120);
      const answer = await client.request({ type: 'refresh', token: tokenFor(down) });
      assert.equal(answer.type, 'error');
      assert.equal((answer as { code?: string }).code, 'issuer_unavailable');
      assert.equal((await client.request({ type: 'join', room: 'lobby' })).type, 'ack');
      // A refresh that fails verification outright still closes.
      client.send({ type: 'refresh', token: tokenFor(b, {}, { kid: 'no-such-kid' }) });
      await assertClosed(client, 4401, 'token_invalid');
    } finally {
      client.close();
    }
  });

  test('S42 a huge JWKS is aborted at the size cap', async () => {
    const s = outage.get('huge')!;
    await sleep(120);
    const started = Date.now();
    const before = s.requests;
    const res = await turn(tokenFor(s));
    assert.equal(res.status, 503);
    assert.equal(s.requests, before + 1);
    await s.huge!.closed;
    assert.ok(Date.now() - started < 5000);
    assert.ok(
      s.huge!.bytesWritten < 16 * 1024 * 1024,
      `the connection was cut early: ${s.huge!.bytesWritten} bytes of 50 MB written`,
    );
    assert.ok(server.logs.some((l) => l.includes('response over 262144 bytes')));
  });

  test('S43 cross-issuer key: a colliding kid never selects the other issuer\u2019s key', async () => {
    assert.equal(decodeSegment(await provider.clientCredentialsToken(), 0).kid, SHARED_KID);
    assert.equal(b.kid, SHARED_KID);
    const claims = (iss: string) => ({
      iss,
      aud: RESOURCE,
      sub: 'mallory',
      iat: now(),
      exp: now() + 300,
      [ROOMS_CLAIM]: { lobby: ['join'] },
      scope: 'room:lobby',
    });
    // iss = A, signed with B's key under the shared kid.
    await assertTokenRefused(
      server,
      signCompact(
        { alg: 'RS256', typ: 'at+jwt', kid: SHARED_KID },
        claims(provider.issuer),
        'RS256',
        b.privateKey,
      ),
      'token_invalid',
      'signature verification failed',
    );
    // iss = B, signed with A's key.
    await assertTokenRefused(
      server,
      signCompact(
        { alg: 'RS256', typ: 'at+jwt', kid: SHARED_KID },
        claims(b.issuer),
        'RS256',
        provider.privateKey,
      ),
      'token_invalid',
      'signature verification failed',
    );
    // iss = Callgate itself, or a trailing-slash variant of A: the keyring, which has no such kid.
    for (const iss of [server.app.services.issuer, `${provider.issuer}/`])
      await assertTokenRefused(
        server,
        signCompact(
          { alg: 'RS256', typ: 'at+jwt', kid: SHARED_KID },
          { ...claims(iss), tid: 'acme', sid: SHARED_SID, jti: SHARED_SID },
          'RS256',
          b.privateKey,
        ),
        'token_invalid',
        'unknown kid',
      );
    // Controls: each issuer's own tokens verify.
    assert.equal(
      (
        await turn(
          signCompact(
            { alg: 'RS256', typ: 'at+jwt', kid: SHARED_KID },
            claims(b.issuer),
            'RS256',
            b.privateKey,
          ),
        )
      ).status,
      200,
    );
    assert.equal((await turn(await provider.clientCredentialsToken())).status, 200);
  });

  test('S43 a refresh with another issuer\u2019s token for the same sub and sid is identity_changed', async () => {
    const a = await provider.clientCredentialsToken();
    assert.equal(decodeSegment(a, 1).sid, SHARED_SID);
    const { client, welcome } = await connectClient(server.wsUrl, a);
    assert.equal(welcome.sessionId, SHARED_SID);
    const fromB = tokenFor(b, { sub: CLIENT_ID, sid: SHARED_SID });
    assert.equal((await turn(fromB)).status, 200, 'B maps to the same tenant, sub and sid');
    client.send({ type: 'refresh', token: fromB });
    await assertClosed(client, 4403, 'identity_changed');
  });
});
