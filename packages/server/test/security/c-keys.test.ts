/**
 * Security catalogue C31-C35, C37-C39: key selection, rotation and the keyring's own JWKS,
 * against a real server on a frozen clock. (C36 and C40-C43 concern fetching other issuers'
 * JWKS, which Callgate does not do yet: docs/security.md lists them as pending.)
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createPrivateKey, generateKeyPairSync, type JsonWebKey } from 'node:crypto';
import type { JWK } from 'jose';
import { manualClock, startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';
import { assertTokenRefused, claimsFor, signAsServer, sleep } from '../support/attack.js';
import { signCompact, type RawAlg } from '../support/jws.js';
import { importVerificationKeySet, PRIVATE_JWK_MEMBERS } from '../../src/auth/verification-key.js';

const clock = manualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
let server: TestServer;

before(async () => {
  server = await startTestServer({
    clock,
    config: { 'signal.handshakesPerSecondPerIp': 100_000 },
  });
});
after(() => server.close());

const current = () => server.app.services.keyring.signingKey();
const header = (over: Record<string, unknown> = {}) => ({
  alg: current().alg,
  kid: current().kid,
  typ: 'at+jwt',
  ...over,
});

describe('C. key and JWKS attacks', () => {
  test('S31 embedded jwk with the attacker key and our kid', async () => {
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = attacker.publicKey.export({ format: 'jwk' });
    await assertTokenRefused(
      server,
      signCompact(
        header({ jwk: { ...jwk, kid: current().kid } }),
        claimsFor(server),
        'RS256',
        attacker.privateKey,
      ),
      'token_invalid',
      'header member jwk not accepted',
    );
    // Even when the token is signed by our own key: the member alone is refused.
    await assertTokenRefused(
      server,
      signAsServer(server, {}, { jwk }),
      'token_invalid',
      'header member jwk not accepted',
    );
  });

  test('S32 jku / x5u at an attacker URL or the metadata address: refused, zero outbound requests', async (t) => {
    let hits = 0;
    const attacker = createServer((req, res) => {
      hits++;
      res.end('{"keys":[]}');
    });
    await new Promise<void>((r) => attacker.listen(0, '127.0.0.1', r));
    t.after(() => new Promise<void>((r) => attacker.close(() => r())));
    const url = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/jwks.json`;
    for (const member of ['jku', 'x5u'])
      for (const target of [url, 'http://169.254.169.254/latest/meta-data/'])
        await assertTokenRefused(
          server,
          signAsServer(server, {}, { [member]: target }),
          'token_invalid',
          `header member ${member} not accepted`,
        );
    await sleep(200);
    assert.equal(hits, 0, 'no request reached the attacker listener');
  });

  test('S33 x5c chain (self-signed or any) is refused', async () => {
    const fakeCert = Buffer.from(
      '30820122300d06092a864886f70d01010105000382010f00',
      'hex',
    ).toString('base64');
    await assertTokenRefused(
      server,
      signAsServer(server, {}, { x5c: [fakeCert] }),
      'token_invalid',
      'header member x5c not accepted',
    );
  });

  test('S34 non-string kid', async () => {
    for (const kid of [{ $ne: null }, 0, [], null, true, '', 'k'.repeat(129)])
      await assertTokenRefused(
        server,
        signAsServer(server, {}, { kid }),
        'token_invalid',
        'kid missing or not a string',
      );
  });

  test('S35 no kid while several keys could match (current and next are both published)', async () => {
    assert.ok(server.app.services.keyring.jwks().keys.length >= 2);
    await assertTokenRefused(
      server,
      signAsServer(server, {}, { kid: undefined }),
      'token_invalid',
      'kid missing or not a string',
    );
  });

  test('S37 rotation: retired key verifies until removed; the pre-published next key is accepted; keys outlive their tokens', async () => {
    const keyring = server.app.services.keyring;
    const oldKid = current().kid;
    const oldToken = signAsServer(server);
    const nextKid = keyring.list().find((k) => k.state === 'next')!.kid;
    const stored = (await server.app.services.store.listKeys()).find((k) => k.kid === nextKid)!;
    const nextKey = createPrivateKey({ key: stored.privateJwk as JsonWebKey, format: 'jwk' });
    // Signed with the next key before it signs anything: accepted (pre-published).
    const nextToken = signCompact(
      header({ kid: nextKid, alg: stored.alg }),
      claimsFor(server),
      stored.alg as RawAlg,
      nextKey,
    );
    (await connectClient(server.wsUrl, nextToken)).client.close();

    await keyring.rotate();
    assert.equal(current().kid, nextKid);
    const retired = keyring.list().find((k) => k.kid === oldKid)!;
    assert.equal(retired.state, 'retired');
    // Kept at least as long as any token it signed can live (lifetime + tolerance).
    const { accessTokenTtlSeconds, clockToleranceSeconds } = server.config.auth;
    assert.ok(
      retired.deleteAfter! - retired.retiredAt! >=
        (accessTokenTtlSeconds + clockToleranceSeconds) * 1000,
    );
    (await connectClient(server.wsUrl, oldToken)).client.close();

    // Past deleteAfter the retired key is purged: its tokens stop verifying, the JWKS drops it.
    clock.set(retired.deleteAfter! + 1000);
    await keyring.purgeExpired();
    assert.ok(!keyring.jwks().keys.some((k) => k.kid === oldKid));
    const late = signCompact(
      header({ kid: oldKid }),
      claimsFor(server),
      stored.alg as RawAlg,
      nextKey,
    );
    await assertTokenRefused(server, late, 'token_invalid', 'unknown kid');

    // `callgate keys revoke`: the key is gone at once.
    const revokedToken = signAsServer(server);
    await keyring.revoke(current().kid);
    await assertTokenRefused(server, revokedToken, 'token_invalid', 'unknown kid');
  });

  test('S38 our JWKS never carries private members; a foreign set with private members is refused', async () => {
    const res = await fetch(`${server.url}/.well-known/jwks.json`);
    assert.equal(res.status, 200);
    const jwks = (await res.json()) as { keys: Record<string, unknown>[] };
    assert.ok(jwks.keys.length >= 2);
    for (const k of jwks.keys) {
      for (const m of PRIVATE_JWK_MEMBERS) assert.ok(!(m in k), `no ${m} in ${String(k.kid)}`);
      assert.equal(k.use, 'sig');
      assert.equal(typeof k.kid, 'string');
      assert.equal(typeof k.alg, 'string');
    }
    // The same document with one private key in it is refused whole by the import policy.
    const stored = await server.app.services.store.listKeys();
    assert.throws(
      () =>
        importVerificationKeySet({
          keys: [...jwks.keys, { ...stored[0]!.privateJwk, kid: 'leak' }],
        }),
      /private or symmetric key material/,
    );
  });

  test('S39 unusable entries in the store (weak RSA, e=3, use enc, key_ops, alg/kty mismatch) never verify', async () => {
    const now = clock.now();
    const cases: Array<{
      kid: string;
      alg: string;
      bits?: number;
      e?: number;
      extra?: Partial<JWK>;
      reason: RegExp;
    }> = [
      { kid: 'weak-1024', alg: 'RS256', bits: 1024, reason: /under 2048 bits/ },
      { kid: 'exp-3', alg: 'RS256', e: 3, reason: /exponent/ },
      { kid: 'use-enc', alg: 'RS256', extra: { use: 'enc' }, reason: /use/ },
      { kid: 'ops-sign', alg: 'RS256', extra: { key_ops: ['sign'] }, reason: /key_ops/ },
      { kid: 'rsa-as-es', alg: 'ES256', reason: /kty does not match/ },
    ];
    const keys = new Map<string, ReturnType<typeof generateKeyPairSync>>();
    for (const c of cases) {
      const pair = generateKeyPairSync('rsa', {
        modulusLength: c.bits ?? 2048,
        publicExponent: c.e ?? 65537,
      });
      keys.set(c.kid, pair);
      await server.app.services.store.saveKeys({
        upsert: [
          {
            kid: c.kid,
            alg: c.alg,
            state: 'retired',
            privateJwk: pair.privateKey.export({ format: 'jwk' }) as JWK,
            publicJwk: { ...(pair.publicKey.export({ format: 'jwk' }) as JWK), ...c.extra },
            createdAt: now,
            activatedAt: now,
            retiredAt: now,
            deleteAfter: now + 3_600_000,
          },
        ],
        remove: [],
      });
    }
    await server.app.services.keyring.reload();
    const unusable = server.app.services.keyring.unusableKeys();
    const published = server.app.services.keyring.jwks().keys.map((k) => k.kid);
    for (const c of cases) {
      const why = unusable.find((u) => u.kid === c.kid);
      assert.ok(why, `${c.kid} is reported unusable`);
      assert.match(why.reason, c.reason);
      assert.ok(!published.includes(c.kid), `${c.kid} is not published`);
      await assertTokenRefused(
        server,
        signCompact(
          header({ kid: c.kid, alg: 'RS256' }),
          claimsFor(server),
          'RS256',
          keys.get(c.kid)!.privateKey,
        ),
        'token_invalid',
        'unknown kid',
      );
    }
  });
});
