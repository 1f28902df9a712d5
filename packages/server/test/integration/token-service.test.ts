/**
 * The token service over real HTTP (issue 2, acceptance 1, 2 and 4): health, JWKS, issuer
 * metadata, minting with an API key, and the error answers of the API.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { createRemoteJWKSet, jwtVerify, decodeProtectedHeader } from 'jose';
import { isOpaqueId } from '@callgate/protocol';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { generateApiKey } from '../../src/auth/api-keys.js';

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: unknown;
}

async function call(
  server: TestServer,
  path: string,
  init: {
    method?: string;
    body?: unknown;
    raw?: string;
    apiKey?: string | null;
    headers?: Record<string, string>;
  } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.apiKey !== null) headers.authorization ??= `Bearer ${init.apiKey ?? server.apiKey}`;
  let body: string | undefined;
  if (init.raw !== undefined) body = init.raw;
  else if (init.body !== undefined) body = JSON.stringify(init.body);
  if (body !== undefined) headers['content-type'] ??= 'application/json';
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? (body === undefined ? 'GET' : 'POST'),
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

function errorCode(a: Answer): string | undefined {
  return (a.json as { error?: { code?: string } } | undefined)?.error?.code;
}

function errorField(a: Answer): string | undefined {
  return (a.json as { error?: { field?: string } } | undefined)?.error?.field;
}

let server: TestServer;
before(async () => {
  server = await startTestServer();
});
after(() => server.close());

describe('health and metadata (acceptance 1)', () => {
  test('GET /healthz answers 200, /readyz reports the store ready', async () => {
    const health = await call(server, '/healthz', { apiKey: null });
    assert.equal(health.status, 200);
    assert.deepEqual(health.json, { status: 'ok' });
    const ready = await call(server, '/readyz', { apiKey: null });
    assert.equal(ready.status, 200);
    assert.deepEqual(ready.json, { status: 'ready', store: 'sqlite' });
    assert.equal(ready.headers.get('cache-control'), 'no-store');
  });

  test('the JWKS lists the public RS256 keys with kid, alg and use, and no private members', async () => {
    const res = await call(server, '/.well-known/jwks.json', { apiKey: null });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type')!, /^application\/json/);
    assert.equal(res.headers.get('cache-control'), 'public, max-age=300');
    const { keys } = res.json as { keys: Record<string, unknown>[] };
    assert.equal(keys.length, 2, 'current and next');
    const kids = new Set<unknown>();
    for (const k of keys) {
      assert.equal(k.kty, 'RSA');
      assert.equal(k.alg, 'RS256');
      assert.equal(k.use, 'sig');
      assert.equal(typeof k.kid, 'string');
      assert.equal(typeof k.n, 'string');
      assert.equal(k.e, 'AQAB');
      kids.add(k.kid);
      for (const m of PRIVATE_MEMBERS) assert.equal(m in k, false, `JWKS has ${m}`);
    }
    assert.equal(kids.size, 2);
    // The private material exists in the store and none of it is in the document.
    for (const stored of await server.app.services.store.listKeys())
      for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const)
        assert.ok(!res.text.includes(stored.privateJwk[m] as string), m);
  });

  test('openid-configuration names the issuer and a JWKS URL that serves the same keys', async () => {
    const res = await call(server, '/.well-known/openid-configuration', { apiKey: null });
    assert.equal(res.status, 200);
    const meta = res.json as { issuer: string; jwks_uri: string };
    assert.equal(meta.issuer, server.app.services.issuer);
    assert.equal(meta.issuer, server.url, 'port 0 without auth.issuer: the bound URL');
    assert.equal(meta.jwks_uri, `${server.url}/.well-known/jwks.json`);
    const jwks = await (await fetch(meta.jwks_uri)).json();
    assert.deepEqual(jwks, server.app.services.keyring.jwks());
  });

  test('HEAD is answered on GET routes', async () => {
    const res = await call(server, '/healthz', { method: 'HEAD', apiKey: null });
    assert.equal(res.status, 200);
    assert.equal(res.text, '');
  });
});

describe('POST /v1/tokens (acceptance 2)', () => {
  test('the token verifies with plain jose against the JWKS URL and carries every claim', async () => {
    const before = Math.floor(Date.now() / 1000);
    const res = await call(server, '/v1/tokens', {
      body: {
        sub: 'alice',
        rooms: { lobby: ['join', 'publish'], 'team:42': ['presence'] },
        metadata: { name: 'Alice' },
      },
    });
    assert.equal(res.status, 201);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.match(res.headers.get('vary') ?? '', /\bAuthorization\b/i);
    const body = res.json as { token: string; expiresAt: number; sessionId: string };
    assert.deepEqual(Object.keys(body).sort(), ['expiresAt', 'sessionId', 'token']);

    const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
    const { payload, protectedHeader } = await jwtVerify(body.token, jwks, {
      issuer: server.url,
      audience: 'callgate',
      typ: 'at+jwt',
      algorithms: ['RS256'],
      requiredClaims: ['exp', 'iat', 'nbf', 'sub', 'jti'],
    });
    assert.equal(protectedHeader.typ, 'at+jwt');
    assert.equal(protectedHeader.alg, 'RS256');
    assert.equal(protectedHeader.kid, server.app.services.keyring.signingKey().kid);
    assert.equal(payload.iss, server.url);
    assert.equal(payload.aud, 'callgate');
    assert.equal(payload.sub, 'alice');
    assert.equal(payload.tid, 'acme');
    assert.equal(payload.sid, body.sessionId);
    assert.ok(isOpaqueId(payload.sid) && isOpaqueId(payload.jti));
    assert.deepEqual(payload.rooms, { lobby: ['join', 'publish'], 'team:42': ['presence'] });
    assert.deepEqual(payload.md, { name: 'Alice' });
    assert.equal(payload.kind, 'user');
    assert.equal(payload.exp! - payload.iat!, 300, 'default lifetime');
    assert.equal(payload.nbf, payload.iat);
    assert.ok(payload.iat! >= before - 1 && payload.iat! <= Math.floor(Date.now() / 1000) + 1);
    assert.equal(body.expiresAt, payload.exp! * 1000);
    assert.deepEqual(Object.keys(payload).sort(), [
      'aud',
      'exp',
      'iat',
      'iss',
      'jti',
      'kind',
      'md',
      'nbf',
      'rooms',
      'sid',
      'sub',
      'tid',
    ]);
    // The server's own verifier agrees.
    const verified = await server.app.services.verifyToken(body.token);
    assert.equal(verified.claims.sub, 'alice');
  });

  test('ttlSeconds, kind and sessionId are honoured; every token has its own jti', async () => {
    const first = await server.mint({
      sub: 'bot-1',
      rooms: { lobby: ['send'] },
      ttlSeconds: 30,
      kind: 'agent',
    });
    const c1 = (await server.app.services.verifyToken(first.token)).claims;
    assert.equal(c1.exp - c1.iat, 30);
    assert.equal(c1.kind, 'agent');
    const second = await server.mint({
      sub: 'bot-1',
      rooms: { lobby: ['send'] },
      sessionId: first.sessionId,
    });
    const c2 = (await server.app.services.verifyToken(second.token)).claims;
    assert.equal(second.sessionId, first.sessionId);
    assert.equal(c2.sid, first.sessionId);
    assert.notEqual(c2.jti, c1.jti);
    assert.equal(decodeProtectedHeader(second.token).kid, decodeProtectedHeader(first.token).kid);
  });

  test('a revoked session cannot be extended: 409 session_revoked', async () => {
    const { sessionId } = await server.mint({ sub: 'carol', rooms: { lobby: ['join'] } });
    const revoke = await call(server, `/v1/sessions/${sessionId}/revoke`, { method: 'POST' });
    assert.equal(revoke.status, 200);
    const res = await call(server, '/v1/tokens', {
      body: { sub: 'carol', rooms: { lobby: ['join'] }, sessionId },
    });
    assert.equal(res.status, 409);
    assert.equal(errorCode(res), 'session_revoked');
  });
});

describe('API key failures are one identical 401 (acceptance 4)', () => {
  test('no key, malformed, unknown, wrong secret, revoked, another tenant, deleted tenant', async () => {
    const store = server.app.services.store;
    const valid = { sub: 'alice', rooms: { lobby: ['join'] } };

    await store.createTenant('globex', Date.now());
    const globexKey = generateApiKey('globex', Date.now());
    await store.createApiKey(globexKey.record);
    await store.createTenant('doomed', Date.now());
    const doomedKey = generateApiKey('doomed', Date.now());
    await store.createApiKey(doomedKey.record);
    const revokedKey = generateApiKey('acme', Date.now());
    await store.createApiKey(revokedKey.record);

    // Each of these keys works before it is revoked/deleted (so the 401 below is not vacuous).
    assert.equal(
      (await call(server, '/v1/tokens', { body: valid, apiKey: revokedKey.plaintext })).status,
      201,
    );
    assert.equal(
      (await call(server, '/v1/tokens', { body: valid, apiKey: doomedKey.plaintext })).status,
      201,
    );
    assert.equal(
      (await call(server, '/v1/tokens', { body: valid, apiKey: globexKey.plaintext })).status,
      201,
    );
    assert.equal(await store.revokeApiKey('acme', revokedKey.record.id, Date.now()), true);
    assert.equal(await store.deleteTenant('doomed'), true);

    const [, id] = /^cgk_([0-9a-f]{16})_/.exec(server.apiKey)!;
    const wrongSecret = `cgk_${id}_${'A'.repeat(43)}`;
    const attempts: Record<string, Parameters<typeof call>[2]> = {
      'no Authorization header': { body: valid, apiKey: null },
      'empty bearer': { body: valid, headers: { authorization: 'Bearer ' } },
      'Basic scheme': { body: valid, headers: { authorization: `Basic ${server.apiKey}` } },
      'malformed key': { body: valid, apiKey: 'cgk_nope' },
      'an access token instead of a key': { body: valid, apiKey: (await server.mint(valid)).token },
      'unknown key id': { body: valid, apiKey: `cgk_ffffffffffffffff_${'A'.repeat(43)}` },
      'wrong secret': { body: valid, apiKey: wrongSecret },
      'revoked key': { body: valid, apiKey: revokedKey.plaintext },
      'key of a deleted tenant': { body: valid, apiKey: doomedKey.plaintext },
      'body names another tenant': { body: { ...valid, tenant: 'globex' } },
      'another tenant key naming acme': {
        body: { ...valid, tenant: 'acme' },
        apiKey: globexKey.plaintext,
      },
    };
    const bodies = new Set<string>();
    for (const [name, init] of Object.entries(attempts)) {
      const res = await call(server, '/v1/tokens', init);
      assert.equal(res.status, 401, name);
      assert.equal(errorCode(res), 'unauthorized', name);
      bodies.add(res.text);
    }
    assert.equal(bodies.size, 1, `different 401 bodies: ${[...bodies].join(' | ')}`);
    assert.deepEqual(JSON.parse([...bodies][0]!), {
      error: { code: 'unauthorized', message: 'Missing or invalid API key' },
    });
    // The key's own tenant named explicitly is fine.
    assert.equal(
      (await call(server, '/v1/tokens', { body: { ...valid, tenant: 'acme' } })).status,
      201,
    );
  });

  test('the 401 is answered before the body is judged', async () => {
    const res = await call(server, '/v1/tokens', { raw: 'not json', apiKey: null });
    assert.equal(res.status, 401);
    assert.equal(errorCode(res), 'unauthorized');
  });
});

describe('invalid mint bodies get 400 with a code naming the field (acceptance 4)', () => {
  const rooms = { lobby: ['join'] };
  const cases: [string, unknown, string, string | undefined][] = [
    ['missing sub', { rooms }, 'invalid_sub', 'sub'],
    ['129-char sub', { sub: 'x'.repeat(129), rooms }, 'invalid_sub', 'sub'],
    ['sub with whitespace', { sub: 'al ice', rooms }, 'invalid_sub', 'sub'],
    ['non-string sub', { sub: 42, rooms }, 'invalid_sub', 'sub'],
    ['missing rooms', { sub: 'a' }, 'invalid_rooms', 'rooms'],
    ['rooms as a list', { sub: 'a', rooms: ['lobby'] }, 'invalid_rooms', 'rooms'],
    ['bad room name', { sub: 'a', rooms: { 'bad room': ['join'] } }, 'invalid_room', 'rooms'],
    ['wildcard room', { sub: 'a', rooms: { 'lobby*': ['join'] } }, 'invalid_room', 'rooms'],
    [
      'unknown permission',
      { sub: 'a', rooms: { lobby: ['join', 'admin'] } },
      'invalid_permission',
      'rooms.lobby[1]',
    ],
    [
      'empty permission list',
      { sub: 'a', rooms: { lobby: [] } },
      'invalid_permission',
      'rooms.lobby',
    ],
    [
      '5 KiB metadata',
      { sub: 'a', rooms, metadata: { blob: 'x'.repeat(5 * 1024) } },
      'invalid_metadata',
      'metadata',
    ],
    [
      'metadata not an object',
      { sub: 'a', rooms, metadata: ['x'] },
      'invalid_metadata',
      'metadata',
    ],
    [
      'ttlSeconds above the maximum',
      { sub: 'a', rooms, ttlSeconds: 301 },
      'invalid_ttl',
      'ttlSeconds',
    ],
    [
      'ttlSeconds below the minimum',
      { sub: 'a', rooms, ttlSeconds: 29 },
      'invalid_ttl',
      'ttlSeconds',
    ],
    ['fractional ttlSeconds', { sub: 'a', rooms, ttlSeconds: 60.5 }, 'invalid_ttl', 'ttlSeconds'],
    ['string ttlSeconds', { sub: 'a', rooms, ttlSeconds: '60' }, 'invalid_ttl', 'ttlSeconds'],
    ['unknown kind', { sub: 'a', rooms, kind: 'admin' }, 'invalid_kind', 'kind'],
    ['malformed sessionId', { sub: 'a', rooms, sessionId: 'x' }, 'invalid_session_id', 'sessionId'],
    ['body is a list', [{ sub: 'a', rooms }], 'bad_request', undefined],
    ['body is null', null, 'bad_request', undefined],
  ];
  for (const [name, body, code, field] of cases)
    test(`${name}: 400 ${code}`, async () => {
      const res = await call(server, '/v1/tokens', { raw: JSON.stringify(body) });
      assert.equal(res.status, 400, res.text);
      assert.equal(errorCode(res), code);
      assert.equal(errorField(res), field);
      assert.equal(res.headers.get('cache-control'), 'no-store');
    });

  test('just inside the limits is accepted: 128-char sub, 4 KiB metadata, ttl 30 and 300', async () => {
    const metadata = { blob: 'x'.repeat(4096 - JSON.stringify({ blob: '' }).length) };
    assert.equal(JSON.stringify(metadata).length, 4096);
    for (const body of [
      { sub: 'x'.repeat(128), rooms },
      { sub: 'a', rooms, metadata },
      { sub: 'a', rooms, ttlSeconds: 30 },
      { sub: 'a', rooms, ttlSeconds: 300 },
      { sub: 'a', rooms: {} },
    ]) {
      const res = await call(server, '/v1/tokens', { body });
      assert.equal(res.status, 201, `${JSON.stringify(body).slice(0, 60)}: ${res.text}`);
    }
  });

  test('invalid JSON and an empty body are 400 bad_request', async () => {
    for (const raw of ['{"sub":', '', '   '])
      assert.equal(
        errorCode(await call(server, '/v1/tokens', { raw })),
        'bad_request',
        JSON.stringify(raw),
      );
  });
});

describe('a configured maximum lifetime (acceptance 4)', () => {
  test('auth.accessTokenTtlSeconds is both the default and the ceiling', async (t) => {
    const short = await startTestServer({ config: { 'auth.accessTokenTtlSeconds': 120 } });
    t.after(() => short.close());
    const { token } = await short.mint({ sub: 'a', rooms: {} });
    const { claims } = await short.app.services.verifyToken(token);
    assert.equal(claims.exp - claims.iat, 120);
    const res = await call(short, '/v1/tokens', { body: { sub: 'a', rooms: {}, ttlSeconds: 121 } });
    assert.equal(res.status, 400);
    assert.equal(errorCode(res), 'invalid_ttl');
    assert.match((res.json as { error: { message: string } }).error.message, /30 to 120/);
  });

  test('ES256 keys when auth.algorithm is ES256', async (t) => {
    const es = await startTestServer({ config: { 'auth.algorithm': 'ES256' } });
    t.after(() => es.close());
    const { token } = await es.mint({ sub: 'a', rooms: {} });
    const jwks = createRemoteJWKSet(new URL(`${es.url}/.well-known/jwks.json`));
    const { protectedHeader } = await jwtVerify(token, jwks, {
      issuer: es.url,
      audience: 'callgate',
      typ: 'at+jwt',
    });
    assert.equal(protectedHeader.alg, 'ES256');
  });

  test('mint rate per API key: past the burst, 429 rate_limited with Retry-After', async (t) => {
    const limited = await startTestServer({ config: { 'auth.mintRatePerSecond': 1 } });
    t.after(() => limited.close());
    const statuses: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < 4; i++) {
      last = await call(limited, '/v1/tokens', { body: { sub: 'a', rooms: {} } });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses.slice(0, 2), [201, 201]);
    assert.equal(statuses[3], 429);
    assert.equal(errorCode(last!), 'rate_limited');
    assert.ok(Number(last!.headers.get('retry-after')) >= 1);
  });
});

describe('HTTP errors', () => {
  test('an unknown route is 404 not_found', async () => {
    const res = await call(server, '/v1/nope', { apiKey: null });
    assert.equal(res.status, 404);
    assert.deepEqual(res.json, { error: { code: 'not_found', message: 'No such resource' } });
    assert.match(res.headers.get('content-type')!, /^application\/json/);
  });

  test('a known route with another method is 405 method_not_allowed with Allow', async () => {
    const res = await call(server, '/v1/tokens');
    assert.equal(res.status, 405);
    assert.equal(errorCode(res), 'method_not_allowed');
    assert.equal(res.headers.get('allow'), 'POST');
    const jwks = await call(server, '/.well-known/jwks.json', { method: 'DELETE', apiKey: null });
    assert.equal(jwks.status, 405);
    assert.equal(jwks.headers.get('allow'), 'GET');
  });

  test('a body that is not application/json is 415 unsupported_media_type', async () => {
    for (const type of ['text/plain', 'application/x-www-form-urlencoded', 'application/jsonx']) {
      const res = await call(server, '/v1/tokens', {
        raw: JSON.stringify({ sub: 'a', rooms: {} }),
        headers: { 'content-type': type },
      });
      assert.equal(res.status, 415, type);
      assert.equal(errorCode(res), 'unsupported_media_type');
    }
    const charset = await call(server, '/v1/tokens', {
      raw: JSON.stringify({ sub: 'a', rooms: {} }),
      headers: { 'content-type': 'application/json; charset=utf-8' },
    });
    assert.equal(charset.status, 201);
  });

  test('a body over server.maxBodyBytes is 413 payload_too_large, declared or streamed', async () => {
    const big = JSON.stringify({ sub: 'a', rooms: {}, metadata: { blob: 'x'.repeat(70 * 1024) } });
    const res = await call(server, '/v1/tokens', { raw: big });
    assert.equal(res.status, 413);
    assert.equal(errorCode(res), 'payload_too_large');
    // Chunked, with no Content-Length: the limit applies while reading.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = request(
        `${server.url}/v1/tokens`,
        {
          method: 'POST',
          headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
          timeout: 10_000,
        },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode!, body }));
        },
      );
      req.on('error', reject);
      for (let i = 0; i < 80; i++) req.write('x'.repeat(1024));
      req.end();
    });
    assert.equal(chunked.status, 413);
    assert.equal(
      (JSON.parse(chunked.body) as { error: { code: string } }).error.code,
      'payload_too_large',
    );
  });

  test('a malformed percent-encoding in a path parameter is 400 bad_request', async () => {
    const res = await call(server, '/v1/sessions/%E0%A4%A/revoke', { method: 'POST' });
    assert.equal(res.status, 400);
    assert.equal(errorCode(res), 'bad_request');
  });
});
