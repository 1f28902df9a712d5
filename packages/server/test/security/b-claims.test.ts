/**
 * Security catalogue B17-B30 (claims, scope, revocation) against a real server whose clock is
 * frozen (test-server's manualClock), so time boundaries are exact to the second.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { manualClock, startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';
import {
  ALL_PERMS,
  assertClosed,
  assertTokenRefused,
  claimsFor,
  signAsServer,
  sleep,
} from '../support/attack.js';
import { withPayload } from '../support/jws.js';
import { randomId } from '../../src/util/random-id.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';

const TOL = 5;
const TTL = 300;
const clock = manualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
let server: TestServer;
const now = () => Math.floor(clock.now() / 1000);

before(async () => {
  server = await startTestServer({
    clock,
    config: {
      'auth.clockToleranceSeconds': TOL,
      'auth.accessTokenTtlSeconds': TTL,
      'signal.handshakesPerSecondPerIp': 100_000,
    },
  });
});
after(() => server.close());

/** Connects with a hand-signed token and expects `welcome`. */
async function accepted(token: string) {
  const c = await connectClient(server.wsUrl, token);
  c.client.close();
  return c.welcome;
}

describe('B. claim attacks', () => {
  test('S17 no exp', async () => {
    await assertTokenRefused(
      server,
      signAsServer(server, { exp: undefined }),
      'token_invalid',
      'claim exp: missing',
    );
  });

  test('S18 exp boundaries (tolerance 5 s)', async () => {
    await assertTokenRefused(
      server,
      signAsServer(server, { exp: now() - (TOL + 1), iat: now() - 60, nbf: now() - 60 }),
      'token_expired',
      '"exp" claim timestamp check failed',
    );
    // exp == now - tol is the first expired second (jose: exp <= now - tolerance).
    await assertTokenRefused(
      server,
      signAsServer(server, { exp: now() - TOL, iat: now() - 60, nbf: now() - 60 }),
      'token_expired',
    );
    await accepted(
      signAsServer(server, { exp: now() - (TOL - 1), iat: now() - 60, nbf: now() - 60 }),
    );
    await accepted(signAsServer(server, { exp: now(), iat: now() - 60, nbf: now() - 60 }));
  });

  test('S18 exp == now is expired when the tolerance is 0', async (t) => {
    const strict = await startTestServer({
      clock,
      config: { 'auth.clockToleranceSeconds': 0, 'signal.handshakesPerSecondPerIp': 1000 },
    });
    t.after(() => strict.close());
    await assertTokenRefused(
      strict,
      signAsServer(strict, { exp: now(), iat: now() - 60, nbf: now() - 60 }),
      'token_expired',
    );
    const c = await connectClient(strict.wsUrl, signAsServer(strict, { exp: now() + 1 }));
    c.client.close();
  });

  test('S19 exp, nbf and iat of the wrong type', async () => {
    for (const claim of ['exp', 'nbf', 'iat'])
      for (const v of [String(now() + 100), null, true, [now()], { $gt: 0 }])
        await assertTokenRefused(
          server,
          signAsServer(server, { [claim]: v }),
          'token_invalid',
          `claim ${claim}: invalid`,
        );
  });

  test('S20 future nbf beyond the tolerance', async () => {
    await assertTokenRefused(
      server,
      signAsServer(server, { nbf: now() + TOL + 1 }),
      'token_invalid',
      'claim nbf: check_failed',
    );
    await accepted(signAsServer(server, { nbf: now() + TOL }));
  });

  test('S21 iat in the future, or older than the lifetime with a far exp', async () => {
    await assertTokenRefused(
      server,
      signAsServer(server, { iat: now() + TOL + 1, nbf: now() }),
      'token_invalid',
      'claim iat: check_failed',
    );
    await assertTokenRefused(
      server,
      signAsServer(server, {
        iat: now() - TTL - TOL - 1,
        nbf: now() - TTL - 10,
        exp: now() + 86_400 * 365,
      }),
      'token_expired',
      '"iat" claim timestamp check failed (too far in the past)',
    );
    await accepted(signAsServer(server, { iat: now() - TTL, exp: now() + 60 }));
  });

  test('S22 bad iss: missing, foreign, trailing slash', async () => {
    const iss = server.app.services.issuer;
    await assertTokenRefused(
      server,
      signAsServer(server, { iss: undefined }),
      'token_invalid',
      'claim iss: missing',
    );
    for (const bad of ['https://evil.example', `${iss}/`, iss.toUpperCase(), ` ${iss}`, [iss]])
      await assertTokenRefused(
        server,
        signAsServer(server, { iss: bad }),
        'token_invalid',
        'claim iss: check_failed',
      );
  });

  test('S23 bad aud: missing, empty, another service, array without ours', async () => {
    await assertTokenRefused(
      server,
      signAsServer(server, { aud: undefined }),
      'token_invalid',
      'claim aud: missing',
    );
    for (const bad of ['', 'callgate-turn', 'callgate-api', 'Callgate', [], ['other'], ['', 'x']])
      await assertTokenRefused(
        server,
        signAsServer(server, { aud: bad }),
        'token_invalid',
        'claim aud: check_failed',
      );
  });

  test('S24 wrong typ: missing, JWT, refresh+jwt', async () => {
    for (const typ of [
      undefined,
      'JWT',
      'jwt',
      'refresh+jwt',
      'application/refresh+jwt',
      'at+jwt2',
      'id+jwt',
    ])
      await assertTokenRefused(
        server,
        signAsServer(server, {}, { typ }),
        'token_invalid',
        'claim typ: check_failed',
      );
    // RFC 9068 §4: the media type compares case-insensitively, with or without `application/`.
    await accepted(signAsServer(server, {}, { typ: 'application/AT+JWT' }));
  });

  test('S26 bad sub: missing, malformed; a deleted tenant (no disabled users: sub is opaque)', async () => {
    await assertTokenRefused(
      server,
      signAsServer(server, { sub: undefined }),
      'token_invalid',
      'claim sub: missing',
    );
    for (const bad of ['', 'a b', 'x'.repeat(129), 42, null, 'é'])
      await assertTokenRefused(
        server,
        signAsServer(server, { sub: bad }),
        'token_invalid',
        'claim sub is malformed',
      );
    // Callgate keeps no user list: the unit that can be disabled is the tenant. `callgate tenant
    // delete` records a tenant revocation in the store; the running server picks it up.
    await server.app.services.store.createTenant('doomed', clock.now());
    const doomed = signAsServer(server, { tid: 'doomed' });
    await accepted(doomed);
    const cli = openSqliteStore(server.dataDir);
    await cli.addRevocation({
      tenant: 'doomed',
      kind: 'tenant',
      value: 'doomed',
      revokedAt: clock.now(),
      expiresAt: clock.now() + 86_400_000,
    });
    await cli.close();
    const deadline = Date.now() + 3000;
    while (!server.app.services.revocations.isRevoked('doomed', 'x') && Date.now() < deadline)
      await sleep(50);
    await assertTokenRefused(server, doomed, 'token_revoked', 'session or token revoked');
  });

  test('S28 edited payload with the original signature: the signature error, never a claim error', async () => {
    const token = signAsServer(server, { rooms: { lobby: ['join'] } });
    const original = JSON.parse(
      Buffer.from(token.split('.')[1]!, 'base64url').toString(),
    ) as Record<string, unknown>;
    for (const edit of [
      { ...original, rooms: { lobby: ALL_PERMS, admin: ALL_PERMS } },
      { ...original, sub: 'victim' },
      // Also wrong as claims (expired, foreign iss): a claim error here would show the claims
      // were read before the signature was checked.
      { ...original, exp: 1, iss: 'https://evil.example' },
      { ...original, tid: 'other-tenant' },
    ])
      await assertTokenRefused(
        server,
        withPayload(token, edit),
        'token_invalid',
        'signature verification failed',
      );
  });

  test('S29 scope prefix, case and wildcard confusion: rooms are exact names', async () => {
    // A wildcard is not even a room name: a token carrying one is refused, a mint asking for one
    // gets 400, and a join naming one is invalid.
    await assertTokenRefused(
      server,
      signAsServer(server, { rooms: { 'acme:*': ALL_PERMS } }),
      'token_invalid',
      'claim rooms is malformed',
    );
    const mint = await fetch(`${server.url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'w', rooms: { 'acme:*': ['join'] } }),
    });
    assert.equal(mint.status, 400);
    const c = await connectClient(
      server.wsUrl,
      signAsServer(server, { rooms: { 'acme:x': ALL_PERMS, acme: ['join'] } }),
    );
    const wild = await c.client.request({ type: 'join', room: 'acme:*' });
    assert.equal((wild as { code: string }).code, 'invalid_room');
    for (const room of [
      'acme2:x',
      'ACME:x',
      'acme:X',
      'acme:y',
      'acme:',
      'acme:x:y',
      'acme:xx',
      'acme.x',
    ]) {
      const r = await c.client.request({ type: 'join', room });
      assert.equal(r.type, 'error', room);
      assert.equal((r as { code: string }).code, 'forbidden', room);
    }
    assert.equal((await c.client.request({ type: 'join', room: 'acme:x' })).type, 'ack');
    assert.equal((await c.client.request({ type: 'join', room: 'acme' })).type, 'ack');
    // `join` only in `acme`: a grant for `acme:x` says nothing about its prefix.
    const p = await c.client.request({ type: 'publish', room: 'acme', data: 1 });
    assert.equal((p as { code: string }).code, 'forbidden');
    c.client.close();
  });

  test('S30 revoked session and jti: refused at upgrade (4403) and on the next message', async () => {
    const sid = randomId();
    const token = signAsServer(server, { sid });
    const live = await connectClient(server.wsUrl, token);
    const res = await fetch(`${server.url}/v1/sessions/${sid}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(res.status, 200);
    await assertClosed(live.client, 4403, 'token_revoked');
    await assertTokenRefused(server, token, 'token_revoked', 'session or token revoked');

    // A revocation learnt without the live close (another node, the CLI): the per-message check.
    for (const kind of ['sid', 'jti'] as const) {
      const claims = claimsFor(server);
      const c = await connectClient(server.wsUrl, signAsServer(server, claims));
      assert.equal((await c.client.request({ type: 'ping' })).type, 'pong');
      server.app.services.revocations.apply({
        tenant: server.tenant,
        kind,
        value: claims[kind] as string,
        revokedAt: clock.now(),
        expiresAt: clock.now() + 600_000,
      });
      c.client.send({ type: 'publish', room: 'lobby', data: 'after revocation' });
      await assertClosed(c.client, 4403, 'token_revoked', kind);
    }
  });
});
