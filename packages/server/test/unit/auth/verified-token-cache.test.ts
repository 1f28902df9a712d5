import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AccessTokenClaims } from '@callgate/protocol';
import { cacheVerifiedTokens } from '../../../src/auth/verified-token-cache.js';
import { TokenError } from '../../../src/auth/token-error.js';
import type { Keyring } from '../../../src/auth/keyring.js';
import type { RevocationList } from '../../../src/auth/revocation-list.js';
import type { TokenVerifier, VerifiedAccessToken } from '../../../src/auth/verify-access-token.js';
import { manualClock } from '../../support/test-server.js';

const ISS = 'https://callgate.test';
const TTL = 300;

function setup() {
  const clock = manualClock(1_800_000_000_000);
  const now = Math.floor(clock.now() / 1000);
  const keys = new Set(['k1']);
  const revoked = new Set<string>();
  let calls = 0;
  let issuer = ISS;
  const claims = (over: Partial<AccessTokenClaims> = {}): AccessTokenClaims => ({
    iss: ISS,
    aud: 'callgate',
    sub: 'alice',
    tid: 'acme',
    sid: 'sid-1',
    jti: 'jti-1',
    iat: now,
    nbf: now,
    exp: now + TTL,
    rooms: {},
    kind: 'user',
    ...over,
  });
  const tokens = new Map<string, VerifiedAccessToken | TokenError>([
    ['good', { claims: claims(), kid: 'k1', alg: 'RS256' }],
    ['external', { claims: claims({ iss: 'https://idp.example' }), kid: 'x1', alg: 'RS256' }],
    ['short', { claims: claims({ exp: now + 60 }), kid: 'k1', alg: 'RS256' }],
    ['third', { claims: claims({ jti: 'jti-3' }), kid: 'k1', alg: 'RS256' }],
    ['bad', new TokenError('token_invalid', 'signature verification failed')],
  ]);
  const check = (token: string | undefined | null): VerifiedAccessToken => {
    calls++;
    const r = tokens.get(token ?? '');
    if (r === undefined || r instanceof TokenError)
      throw r ?? new TokenError('token_missing', 'no token');
    if (revoked.has(r.claims.sid)) throw new TokenError('token_revoked', 'revoked');
    if (clock.now() >= r.claims.exp * 1000) throw new TokenError('token_expired', 'expired');
    return r;
  };
  // Both forms, as createTokenVerifier's: `now` answers undefined for an external issuer's token.
  const inner: TokenVerifier = async (token) => check(token);
  inner.now = (token) => (token === 'external' ? undefined : check(token));
  const verify = cacheVerifiedTokens(inner, {
    keyring: { verificationKey: (kid: string) => (keys.has(kid) ? {} : undefined) } as Keyring,
    revocations: { isRevoked: (_t: string, sid: string) => revoked.has(sid) } as RevocationList,
    clock,
    issuer: () => issuer,
    accessTokenTtlSeconds: TTL,
    maxEntries: 2,
  });
  return {
    verify,
    clock,
    keys,
    revoked,
    calls: () => calls,
    setIssuer: (i: string) => (issuer = i),
  };
}

async function rejects(p: Promise<unknown>, code: string) {
  await assert.rejects(p, (err: unknown) => err instanceof TokenError && err.code === code);
}

test('a token seen again is answered from the cache, the same result', async () => {
  const f = setup();
  const a = await f.verify('good');
  const b = await f.verify('good');
  assert.equal(b, a);
  assert.equal(f.calls(), 1);
});

test('failures are never cached', async () => {
  const f = setup();
  await rejects(f.verify('bad'), 'token_invalid');
  await rejects(f.verify('bad'), 'token_invalid');
  assert.equal(f.calls(), 2);
});

test('a revocation takes effect on the next use of a cached token', async () => {
  const f = setup();
  await f.verify('good');
  f.revoked.add('sid-1');
  await rejects(f.verify('good'), 'token_revoked');
});

test('past exp the full policy decides again (token_expired)', async () => {
  const f = setup();
  await f.verify('short');
  f.clock.advance(61_000);
  await rejects(f.verify('short'), 'token_expired');
  assert.equal(f.calls(), 2);
});

test('a removed signing key or a changed issuer sends the token through the full policy', async () => {
  const f = setup();
  await f.verify('good');
  f.keys.delete('k1');
  await f.verify('good');
  assert.equal(f.calls(), 2);
  f.keys.add('k1');
  f.setIssuer('https://other.test');
  await f.verify('good');
  assert.equal(f.calls(), 3);
});

test("an external issuer's tokens are not cached, and the cache is bounded", async () => {
  const f = setup();
  await f.verify('external');
  await f.verify('external');
  assert.equal(f.calls(), 2);
  // maxEntries 2: a third distinct token evicts the oldest.
  const g = setup();
  await g.verify('good');
  await g.verify('short');
  await g.verify('third');
  assert.equal(g.calls(), 3);
  await g.verify('third');
  assert.equal(g.calls(), 3);
  await g.verify('good');
  assert.equal(g.calls(), 4);
});

test('the synchronous form shares the cache with the promise form, with the same checks', async () => {
  const f = setup();
  const now = f.verify.now;
  assert.ok(now !== undefined);
  const a = now('good');
  assert.equal(await f.verify('good'), a, 'remembered by now, answered by the promise form');
  assert.equal(now('good'), a);
  assert.equal(f.calls(), 1);
  assert.throws(
    () => now('bad'),
    (e: unknown) => e instanceof TokenError && e.code === 'token_invalid',
  );
  f.revoked.add('sid-1');
  assert.throws(
    () => now('good'),
    (e: unknown) => e instanceof TokenError && e.code === 'token_revoked',
  );
  // A token only the promise form can verify is not answered here.
  assert.equal(now('external'), undefined);
  assert.equal(f.calls(), 2);
});

test('a verifier without a synchronous form gives a cache without one', () => {
  const plain = cacheVerifiedTokens(async () => Promise.reject(new Error('unused')), {
    keyring: { verificationKey: () => undefined } as unknown as Keyring,
    revocations: { isRevoked: () => false } as unknown as RevocationList,
    clock: manualClock(0),
    issuer: () => ISS,
    accessTokenTtlSeconds: TTL,
  });
  assert.equal(plain.now, undefined);
});
