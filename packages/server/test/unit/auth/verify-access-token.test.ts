import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { readFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { SignJWT, type JWK } from 'jose';
import { createMemoryStore } from '../../../src/store/memory-store.js';
import type { Store } from '../../../src/store/store.js';
import { Keyring } from '../../../src/auth/keyring.js';
import { RevocationList } from '../../../src/auth/revocation-list.js';
import { createTokenVerifier, type TokenVerifier } from '../../../src/auth/verify-access-token.js';
import { createTokenIssuer, type TokenIssuer } from '../../../src/auth/issue-access-token.js';
import { TokenError, type TokenErrorCode } from '../../../src/auth/token-error.js';
import type { SigningAlgorithm } from '../../../src/config/schema.js';
import { randomId } from '../../../src/util/random-id.js';
import { manualClock } from '../../support/test-server.js';
import { b64url, signCompact, signingInput, withPayload, type RawAlg } from '../../support/jws.js';

const ISSUER = 'https://callgate.example';
const AUDIENCE = 'callgate';
const TTL = 300;
const START = Date.UTC(2026, 10, 23, 12, 0, 0);

interface Fixture {
  store: Store;
  clock: ReturnType<typeof manualClock>;
  keyring: Keyring;
  revocations: RevocationList;
  verify: TokenVerifier;
  issue: TokenIssuer;
  /** Seconds now, by the injected clock. */
  now(): number;
  /** A full, valid claim set; `undefined` values remove a claim. */
  claims(over?: Record<string, unknown>): Record<string, unknown>;
  /** A valid header for the current key; `undefined` values remove a member. */
  header(over?: Record<string, unknown>): Record<string, unknown>;
  /** Signs by hand with the current key (whatever the header says). */
  sign(claimsOver?: Record<string, unknown>, headerOver?: Record<string, unknown>): string;
  signingKey: KeyObject;
  alg: RawAlg;
}

function compact(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
}

async function setup(
  options: {
    algorithm?: SigningAlgorithm;
    clockToleranceSeconds?: number;
    allowedAlgorithms?: SigningAlgorithm[];
    store?: Store;
  } = {},
): Promise<Fixture> {
  const store = options.store ?? createMemoryStore();
  const clock = manualClock(START);
  const tolerance = options.clockToleranceSeconds ?? 5;
  const keyring = await Keyring.open({
    store,
    clock,
    algorithm: options.algorithm ?? 'RS256',
    accessTokenTtlSeconds: TTL,
    clockToleranceSeconds: tolerance,
    keyRotationDays: 7,
  });
  const revocations = new RevocationList(store, clock);
  await revocations.reload();
  const verify = bothForms(
    createTokenVerifier({
      keyring,
      revocations,
      clock,
      issuer: ISSUER,
      audience: AUDIENCE,
      allowedAlgorithms: options.allowedAlgorithms ?? ['RS256', 'ES256', 'EdDSA'],
      accessTokenTtlSeconds: TTL,
      clockToleranceSeconds: tolerance,
      maxTokenBytes: 8192,
    }),
  );
  const issue = createTokenIssuer({ keyring, clock, issuer: ISSUER, audience: AUDIENCE });
  const now = () => Math.floor(clock.now() / 1000);
  const signing = keyring.signingKey();
  const f: Fixture = {
    store,
    clock,
    keyring,
    revocations,
    verify,
    issue,
    now,
    signingKey: signing.key,
    alg: signing.alg as RawAlg,
    claims: (over = {}) =>
      compact({
        iss: ISSUER,
        aud: AUDIENCE,
        sub: 'alice',
        tid: 'acme',
        sid: randomId(),
        jti: randomId(),
        iat: now(),
        nbf: now(),
        exp: now() + TTL,
        rooms: { lobby: ['join', 'publish'] },
        kind: 'user',
        ...over,
      }),
    header: (over = {}) => compact({ alg: signing.alg, kid: signing.kid, typ: 'at+jwt', ...over }),
    sign: (claimsOver = {}, headerOver = {}) =>
      signCompact(f.header(headerOver), f.claims(claimsOver), f.alg, f.signingKey),
  };
  return f;
}

/**
 * The verifier with both of its forms checked against each other on every call: `now` (the
 * handshake's synchronous path for the keyring's tokens) must give the same result, or throw
 * the same code and detail, as the promise form. Every test below runs through it.
 */
function bothForms(verify: TokenVerifier): TokenVerifier {
  const now = verify.now;
  assert.ok(now !== undefined, 'createTokenVerifier gives a synchronous form');
  const checked: TokenVerifier = async (token) => {
    let sync: { ok: true; value: unknown } | { ok: false; error: unknown };
    try {
      sync = { ok: true, value: now(token) };
    } catch (error) {
      sync = { ok: false, error };
    }
    try {
      const value = await verify(token);
      assert.ok(sync.ok, `now threw ${sync.ok ? '' : String(sync.error)}; the promise resolved`);
      assert.deepEqual(sync.value, value);
      return value;
    } catch (error) {
      if (error instanceof assert.AssertionError) throw error;
      assert.ok(!sync.ok, 'now returned; the promise rejected');
      assert.ok(error instanceof TokenError && sync.error instanceof TokenError);
      assert.equal(sync.error.code, error.code);
      assert.equal(sync.error.detail, error.detail);
      throw error;
    }
  };
  checked.now = now;
  return checked;
}

async function rejects(
  promise: Promise<unknown>,
  code: TokenErrorCode,
  detail?: string | RegExp,
): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${String(err)}`);
    assert.equal(err.code, code, `detail: ${err.detail}`);
    if (typeof detail === 'string') assert.equal(err.detail, detail);
    else if (detail instanceof RegExp) assert.match(err.detail, detail);
    return true;
  });
}

describe('valid tokens', () => {
  for (const algorithm of ['RS256', 'ES256', 'EdDSA'] as const) {
    test(`a token issued with ${algorithm} verifies and yields its claims`, async () => {
      const f = await setup({ algorithm });
      const issued = await f.issue({
        tenant: 'acme',
        sub: 'alice',
        rooms: { lobby: ['join', 'presence'] },
        ttlSeconds: TTL,
        metadata: { name: 'Alice' },
      });
      const { claims, kid, alg } = await f.verify(issued.token);
      assert.equal(alg, algorithm);
      assert.equal(kid, f.keyring.signingKey().kid);
      assert.deepEqual(claims, issued.claims);
      assert.equal(claims.exp - claims.iat, TTL);
    });
  }

  test('a hand-signed token with the full claim set verifies (the attack fixtures are sound)', async () => {
    const f = await setup();
    const { claims } = await f.verify(f.sign({ sub: 'bob' }));
    assert.equal(claims.sub, 'bob');
  });

  test('a token signed by the pre-published next key verifies (C37)', async () => {
    const f = await setup();
    const next = (await f.store.listKeys()).find((k) => k.state === 'next')!;
    const { createPrivateKey } = await import('node:crypto');
    const key = createPrivateKey({ key: next.privateJwk as never, format: 'jwk' });
    const token = signCompact(f.header({ kid: next.kid }), f.claims(), 'RS256', key);
    const { kid } = await f.verify(token);
    assert.equal(kid, next.kid);
  });
});

describe('option misuse throws TypeError/RangeError naming the option', () => {
  test('clockToleranceSeconds above 30 and symmetric algorithms are refused', async () => {
    const f = await setup();
    const base = {
      keyring: f.keyring,
      revocations: f.revocations,
      clock: f.clock,
      issuer: ISSUER,
      audience: AUDIENCE,
      allowedAlgorithms: ['RS256'],
      accessTokenTtlSeconds: TTL,
      clockToleranceSeconds: 5,
      maxTokenBytes: 8192,
    };
    assert.throws(
      () => createTokenVerifier({ ...base, clockToleranceSeconds: 31 }),
      (e: unknown) => e instanceof RangeError && /clockToleranceSeconds/.test(e.message),
    );
    for (const alg of ['HS256', 'none', 'NONE', 'hs512'])
      assert.throws(
        () => createTokenVerifier({ ...base, allowedAlgorithms: ['RS256', alg] }),
        (e: unknown) => e instanceof TypeError && /allowedAlgorithms/.test(e.message),
      );
  });
});

describe('presence and format (A12-A16)', () => {
  test('no token: token_missing', async () => {
    const f = await setup();
    await rejects(f.verify(undefined), 'token_missing');
    await rejects(f.verify(null), 'token_missing');
    await rejects(f.verify(''), 'token_missing');
  });

  test('A12 JSON serialization instead of compact is token_malformed before any crypto', async () => {
    const f = await setup();
    const token = f.sign();
    const [h, p, s] = token.split('.');
    const flattened = JSON.stringify({ protected: h, payload: p, signature: s });
    const general = JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] });
    await rejects(f.verify(flattened), 'token_malformed', 'not a compact JWS');
    await rejects(f.verify(general), 'token_malformed', 'not a compact JWS');
    await rejects(f.verify(`${h}."${p}".${s}`), 'token_malformed', 'not a compact JWS');
  });

  test('A13 a five-segment JWE is token_malformed', async () => {
    const f = await setup();
    const jwe = [
      b64url({ alg: 'dir', enc: 'A256GCM', kid: f.keyring.signingKey().kid }),
      '',
      b64url('iv-iv-iv-iv'),
      b64url('ciphertext'),
      b64url('tag'),
    ].join('.');
    await rejects(f.verify(jwe), 'token_malformed', 'not a compact JWS');
    const pbes2 = [
      b64url({ alg: 'PBES2-HS256+A128KW', p2c: 2 ** 31, enc: 'A128GCM' }),
      'a',
      'b',
      'c',
      'd',
    ];
    await rejects(f.verify(pbes2.join('.')), 'token_malformed', 'not a compact JWS');
  });

  test('A14 encoding faults are token_malformed', async () => {
    const f = await setup();
    const token = f.sign();
    const [h, p, s] = token.split('.') as [string, string, string];
    const faults: Record<string, string> = {
      'padding =': `${h}.${p}.${s}==`,
      'standard alphabet +': `${h}.${p}.${s.slice(0, -1)}+`,
      'standard alphabet /': `${h}/.${p}.${s}`,
      'leading space': ` ${token}`,
      'trailing newline': `${token}\n`,
      'inner whitespace': `${h}. ${p}.${s}`,
      'extra segment': `${token}.${s}`,
      'extra empty segment': `${token}.`,
      'missing segment': `${h}.${p}`,
      'one segment': h,
      'empty header': `.${p}.${s}`,
      'empty payload': `${h}..${s}`,
      'only dots': '..',
    };
    for (const [name, bad] of Object.entries(faults))
      await rejects(f.verify(bad), 'token_malformed').catch((err: unknown) => {
        throw new Error(`${name}: ${(err as Error).message}`);
      });
  });

  test('A14 non-canonical trailing bits in the signature are token_malformed', async () => {
    // 256 signature bytes are 342 base64url characters: the last one carries 4 pad bits that
    // decoders ignore. Flipping one of them yields the same bytes but a different token.
    const f = await setup();
    const token = f.sign();
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = token[token.length - 1]!;
    const twin = token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ 1]!;
    assert.notEqual(twin, token);
    assert.deepEqual(
      Buffer.from(twin.split('.')[2]!, 'base64url'),
      Buffer.from(token.split('.')[2]!, 'base64url'),
    );
    await f.verify(token);
    await rejects(f.verify(twin), 'token_malformed', 'not canonical base64url');
  });

  test('A15 a non-object header is token_malformed, a non-object payload token_invalid', async () => {
    const f = await setup();
    const key = f.signingKey;
    for (const header of [[f.header()], 42, null, 'at+jwt'])
      await rejects(
        f.verify(signCompact(header, f.claims(), 'RS256', key)),
        'token_malformed',
        'header is not a JSON object',
      );
    // Overlong UTF-8 (C0 AF) in the header: refused by the fatal decoder.
    const overlong = Buffer.concat([
      Buffer.from('{"alg":"RS256","kid":"'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('"}'),
    ]);
    await rejects(
      f.verify(`${overlong.toString('base64url')}.${b64url(f.claims())}.AAAA`),
      'token_malformed',
      'header is not a JSON object',
    );
    for (const payload of [[f.claims()], 42, null, 'alice'])
      await rejects(
        f.verify(signCompact(f.header(), payload, 'RS256', key)),
        'token_invalid',
        'ERR_JWT_INVALID',
      );
    const badUtf8 = Buffer.concat([
      Buffer.from('{"sub":"'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('"}'),
    ]);
    await rejects(
      f.verify(signCompact(f.header(), badUtf8, 'RS256', key)),
      'token_invalid',
      'ERR_JWT_INVALID',
    );
  });

  test('A16 an oversized token is refused before any crypto, without a crash', async () => {
    const f = await setup();
    const huge = f.sign({ md: { blob: 'x'.repeat(64 * 1024) } });
    assert.ok(huge.length > 64 * 1024);
    await rejects(f.verify(huge), 'token_malformed', 'token too long');
    await rejects(f.verify('a'.repeat(8193)), 'token_malformed', 'token too long');
  });

  test('a non-string token is token_malformed', async () => {
    const f = await setup();
    await rejects(f.verify(42 as unknown as string), 'token_malformed', 'not a string');
  });
});

describe('algorithm attacks (A1-A11)', () => {
  test('A1 alg none in every spelling, with an empty signature, is token_invalid', async () => {
    const f = await setup();
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${signingInput(f.header({ alg }), f.claims())}.`;
      await rejects(f.verify(unsigned), 'token_invalid', 'algorithm not allowed');
      // With a signature appended it is still refused.
      await rejects(f.verify(`${unsigned}AAAA`), 'token_invalid', 'algorithm not allowed');
    }
  });

  test('A2 a stripped or truncated signature is token_invalid', async () => {
    const f = await setup();
    const token = f.sign();
    const input = token.slice(0, token.lastIndexOf('.'));
    const sig = Buffer.from(token.split('.')[2]!, 'base64url');
    await rejects(f.verify(`${input}.`), 'token_invalid', 'signature verification failed');
    // Three bytes fewer, canonically encoded: it reaches the signature check and fails there.
    await rejects(
      f.verify(`${input}.${sig.subarray(0, -3).toString('base64url')}`),
      'token_invalid',
      'signature verification failed',
    );
    // The last four characters cut off: usually non-canonical base64url (refused as
    // malformed before any crypto), otherwise a signature failure. Either way a 401.
    const cut = token.slice(0, -4);
    const cutSig = cut.split('.')[2]!;
    const canonical = Buffer.from(cutSig, 'base64url').toString('base64url') === cutSig;
    await rejects(
      f.verify(cut),
      canonical ? 'token_invalid' : 'token_malformed',
      canonical ? 'signature verification failed' : 'not canonical base64url',
    );
  });

  test('A3 HS256 keyed with our public key (PEM, DER, JWK text) and the real kid is token_invalid', async () => {
    const f = await setup();
    const pub = createPublicKey(f.signingKey);
    const secrets = [
      pub.export({ format: 'pem', type: 'spki' }) as string,
      pub.export({ format: 'pem', type: 'pkcs1' }) as string,
      pub.export({ format: 'der', type: 'spki' }),
      JSON.stringify(pub.export({ format: 'jwk' })),
      JSON.stringify(f.keyring.jwks().keys[0]),
    ];
    for (const secret of secrets) {
      const token = signCompact(f.header({ alg: 'HS256' }), f.claims(), 'HS256', secret);
      await rejects(f.verify(token), 'token_invalid', 'algorithm not allowed');
    }
    // Also through jose's own signer, exactly as jwt_tool -X k does it.
    const pem = pub.export({ format: 'pem', type: 'spki' }) as string;
    const viaJose = await new SignJWT(f.claims())
      .setProtectedHeader({ alg: 'HS256', kid: f.keyring.signingKey().kid, typ: 'at+jwt' })
      .sign(new TextEncoder().encode(pem));
    await rejects(f.verify(viaJose), 'token_invalid', 'algorithm not allowed');
  });

  test('A4/A5 HS256 with a blank or a wordlist secret is token_invalid', async () => {
    const f = await setup();
    for (const secret of ['', 'secret', 'password', 'callgate'])
      await rejects(
        f.verify(signCompact(f.header({ alg: 'HS256' }), f.claims(), 'HS256', secret)),
        'token_invalid',
        'algorithm not allowed',
      );
  });

  test('A6 an allowed algorithm with a key bound to another algorithm is token_invalid', async () => {
    // A keyring holding ES256 keys and an RS256 key: ES256 keys first, then a rotation by a
    // process configured for RS256.
    const store = createMemoryStore();
    const f = await setup({ algorithm: 'ES256', store });
    const rsRing = await Keyring.open({
      store,
      clock: f.clock,
      algorithm: 'RS256',
      accessTokenTtlSeconds: TTL,
      clockToleranceSeconds: 5,
      keyRotationDays: 7,
    });
    await rsRing.rotate();
    await f.keyring.reload();
    const keys = await store.listKeys();
    const es = keys.find((k) => k.alg === 'ES256' && k.state === 'current')!;
    const rs = keys.find((k) => k.alg === 'RS256')!;
    const { createPrivateKey } = await import('node:crypto');
    const esKey = createPrivateKey({ key: es.privateJwk as never, format: 'jwk' });
    const rsKey = createPrivateKey({ key: rs.privateJwk as never, format: 'jwk' });
    // Sanity: each key verifies with its own algorithm.
    await f.verify(
      signCompact(f.header({ alg: 'ES256', kid: es.kid }), f.claims(), 'ES256', esKey),
    );
    await f.verify(
      signCompact(f.header({ alg: 'RS256', kid: rs.kid }), f.claims(), 'RS256', rsKey),
    );
    // RS256 header with the kid of an ES256 key, and the other way round.
    await rejects(
      f.verify(signCompact(f.header({ alg: 'RS256', kid: es.kid }), f.claims(), 'RS256', rsKey)),
      'token_invalid',
      'algorithm does not match the key',
    );
    await rejects(
      f.verify(signCompact(f.header({ alg: 'ES256', kid: rs.kid }), f.claims(), 'ES256', esKey)),
      'token_invalid',
      'algorithm does not match the key',
    );
    // PS256 with the kid of an RS256 key: not on the allow-list at all.
    await rejects(
      f.verify(signCompact(f.header({ alg: 'PS256', kid: rs.kid }), f.claims(), 'RS256', rsKey)),
      'token_invalid',
      'algorithm not allowed',
    );
  });

  test('an algorithm outside the configured allow-list is token_invalid', async () => {
    const f = await setup({ algorithm: 'ES256', allowedAlgorithms: ['ES256'] });
    const ed = generateKeyPairSync('ed25519').privateKey;
    await rejects(
      f.verify(signCompact(f.header({ alg: 'EdDSA' }), f.claims(), 'EdDSA', ed)),
      'token_invalid',
      'algorithm not allowed',
    );
  });

  test('A7 a DER-encoded ES256 signature is token_invalid', async () => {
    const f = await setup({ algorithm: 'ES256' });
    const der = signCompact(f.header(), f.claims(), 'ES256', f.signingKey, { ecdsaDer: true });
    await rejects(f.verify(der), 'token_invalid', 'signature verification failed');
  });

  test('A8 ECDSA r = s = 0 (psychic signature) is token_invalid', async () => {
    const f = await setup({ algorithm: 'ES256' });
    const token = `${signingInput(f.header(), f.claims())}.${Buffer.alloc(64).toString('base64url')}`;
    await rejects(f.verify(token), 'token_invalid', 'signature verification failed');
  });

  test('A9 a truncated or padded Ed25519 signature is token_invalid', async () => {
    const f = await setup({ algorithm: 'EdDSA' });
    const token = f.sign();
    const sig = Buffer.from(token.split('.')[2]!, 'base64url');
    const input = token.slice(0, token.lastIndexOf('.'));
    await f.verify(token);
    await rejects(
      f.verify(`${input}.${sig.subarray(0, 63).toString('base64url')}`),
      'token_invalid',
      'signature verification failed',
    );
    await rejects(
      f.verify(`${input}.${Buffer.concat([sig, Buffer.from([0])]).toString('base64url')}`),
      'token_invalid',
      'signature verification failed',
    );
  });

  test('A10 crit problems are token_invalid', async () => {
    const f = await setup();
    const sign = (over: Record<string, unknown>) =>
      signCompact(f.header(over), f.claims(), 'RS256', f.signingKey);
    await rejects(
      f.verify(sign({ crit: ['x-unknown'], 'x-unknown': 1 })),
      'token_invalid',
      'ERR_JOSE_NOT_SUPPORTED',
    );
    await rejects(f.verify(sign({ crit: [] })), 'token_invalid', 'ERR_JWS_INVALID');
    await rejects(f.verify(sign({ crit: ['exp'] })), 'token_invalid', /ERR_/);
  });

  test('A11 an unencoded payload (b64:false) is token_invalid', async () => {
    const f = await setup();
    const token = signCompact(
      f.header({ b64: false, crit: ['b64'] }),
      f.claims(),
      'RS256',
      f.signingKey,
    );
    await rejects(
      f.verify(token),
      'token_invalid',
      /ERR_JWT_INVALID|ERR_JWS_INVALID|ERR_JOSE_NOT_SUPPORTED/,
    );
  });
});

describe('key selection (C31-C35)', () => {
  test('an unknown kid is token_invalid', async () => {
    const f = await setup();
    await rejects(f.verify(f.sign({}, { kid: 'no-such-key' })), 'token_invalid', 'unknown kid');
  });

  test('C34 a missing or non-string kid is token_invalid', async () => {
    const f = await setup();
    for (const kid of [undefined, { $ne: null }, 0, [], '', 'k'.repeat(129)])
      await rejects(f.verify(f.sign({}, { kid })), 'token_invalid', 'kid missing or not a string');
  });

  test('C31/C33 an embedded jwk or x5c is refused even with our kid', async () => {
    const f = await setup();
    const attacker = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const jwk = attacker.publicKey.export({ format: 'jwk' }) as JWK;
    await rejects(
      f.verify(signCompact(f.header({ jwk }), f.claims(), 'RS256', attacker.privateKey)),
      'token_invalid',
      'header member jwk not accepted',
    );
    await rejects(
      f.verify(signCompact(f.header({ x5c: ['MIIB'] }), f.claims(), 'RS256', attacker.privateKey)),
      'token_invalid',
      'header member x5c not accepted',
    );
  });

  test('C32 jku and x5u are refused with zero outbound requests', async (t) => {
    let requests = 0;
    const listener = createServer((_req, res) => {
      requests++;
      res.end('{}');
    });
    await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
    t.after(() => new Promise<void>((resolve) => listener.close(() => resolve())));
    const url = `http://127.0.0.1:${(listener.address() as AddressInfo).port}/jwks.json`;
    const f = await setup();
    await rejects(
      f.verify(f.sign({}, { jku: url })),
      'token_invalid',
      'header member jku not accepted',
    );
    await rejects(
      f.verify(f.sign({}, { x5u: url })),
      'token_invalid',
      'header member x5u not accepted',
    );
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(requests, 0);
  });
});

describe('claims (B17-B30)', () => {
  test('B17 no exp is token_invalid', async () => {
    const f = await setup();
    await rejects(f.verify(f.sign({ exp: undefined })), 'token_invalid', 'claim exp: missing');
  });

  test('B18 exp boundaries', async () => {
    const strict = await setup({ clockToleranceSeconds: 0 });
    const n = strict.now();
    await rejects(strict.verify(strict.sign({ iat: n - 100, exp: n })), 'token_expired');
    await strict.verify(strict.sign({ iat: n - 100, exp: n + 1 }));

    const f = await setup({ clockToleranceSeconds: 5 });
    const m = f.now();
    await rejects(f.verify(f.sign({ iat: m - 200, exp: m - 6 })), 'token_expired');
    await rejects(f.verify(f.sign({ iat: m - 200, exp: m - 5 })), 'token_expired');
    await f.verify(f.sign({ iat: m - 200, exp: m - 4 }));
  });

  test('a token expires by the injected clock, not the wall clock', async () => {
    const f = await setup();
    const { token } = await f.issue({ tenant: 'acme', sub: 'a', rooms: {}, ttlSeconds: 60 });
    await f.verify(token);
    f.clock.advance(60_000 + 5_000);
    await rejects(f.verify(token), 'token_expired');
  });

  test('B19 exp, nbf and iat of the wrong type are token_invalid', async () => {
    const f = await setup();
    for (const claim of ['exp', 'nbf', 'iat'])
      for (const value of [String(f.now() + 100), null, true])
        await rejects(
          f.verify(f.sign({ [claim]: value })),
          'token_invalid',
          `claim ${claim}: invalid`,
        );
  });

  test('B20 a future nbf beyond the tolerance is token_invalid', async () => {
    const f = await setup({ clockToleranceSeconds: 5 });
    await rejects(
      f.verify(f.sign({ nbf: f.now() + 6 })),
      'token_invalid',
      'claim nbf: check_failed',
    );
    await f.verify(f.sign({ nbf: f.now() + 5 }));
  });

  test('B21 iat older than the access-token lifetime (with a far exp) is token_expired; a future iat token_invalid', async () => {
    const f = await setup({ clockToleranceSeconds: 5 });
    const n = f.now();
    await rejects(
      f.verify(f.sign({ iat: n - TTL - 6, nbf: n - TTL - 6, exp: n + 86_400 })),
      'token_expired',
      /iat/,
    );
    await f.verify(f.sign({ iat: n - TTL - 4, nbf: n - TTL - 4, exp: n + 86_400 }));
    await rejects(
      f.verify(f.sign({ iat: n + 60, nbf: n })),
      'token_invalid',
      'claim iat: check_failed',
    );
    await rejects(f.verify(f.sign({ iat: undefined })), 'token_invalid', 'claim iat: missing');
  });

  test('B22 a missing, foreign or trailing-slash iss is token_invalid', async () => {
    const f = await setup();
    await rejects(f.verify(f.sign({ iss: undefined })), 'token_invalid', 'claim iss: missing');
    for (const iss of ['https://evil.example', `${ISSUER}/`, ISSUER.toUpperCase(), ''])
      await rejects(f.verify(f.sign({ iss })), 'token_invalid', 'claim iss: check_failed');
  });

  test('B23 a missing, empty, foreign or array-without-ours aud is token_invalid', async () => {
    const f = await setup();
    await rejects(f.verify(f.sign({ aud: undefined })), 'token_invalid', 'claim aud: missing');
    for (const aud of ['', 'turn', 'api', ['turn', 'api'], []])
      await rejects(f.verify(f.sign({ aud })), 'token_invalid', 'claim aud: check_failed');
    // Our audience inside an array: jose accepts it, the claim shape check does not.
    await rejects(
      f.verify(f.sign({ aud: [AUDIENCE, 'turn'] })),
      'token_invalid',
      'claim iss/aud is malformed',
    );
  });

  test('B24 a missing or wrong typ is token_invalid', async () => {
    const f = await setup();
    for (const typ of [undefined, 'JWT', 'refresh+jwt', 'application/jwt', 'at+JWT+x'])
      await rejects(f.verify(f.sign({}, { typ })), 'token_invalid', 'claim typ: check_failed');
  });

  test('sub, tid, sid and jti must be present and well-formed', async () => {
    const f = await setup();
    for (const claim of ['sub', 'tid', 'sid', 'jti'])
      await rejects(
        f.verify(f.sign({ [claim]: undefined })),
        'token_invalid',
        `claim ${claim}: missing`,
      );
    const malformed: Record<string, unknown[]> = {
      sub: ['', 'a b', 'x'.repeat(129), 42],
      tid: ['ACME', '', 'a/b', 42],
      sid: ['short', 'has space in it!!!!', 7],
      jti: ['short', 7],
    };
    for (const [claim, values] of Object.entries(malformed))
      for (const value of values)
        await rejects(
          f.verify(f.sign({ [claim]: value })),
          'token_invalid',
          `claim ${claim} is malformed`,
        );
  });

  test('rooms, kind and md must be well-formed', async () => {
    const f = await setup();
    for (const rooms of [
      [],
      'lobby',
      { 'bad room': ['join'] },
      { lobby: ['admin'] },
      { lobby: 'join' },
    ])
      await rejects(f.verify(f.sign({ rooms })), 'token_invalid', 'claim rooms is malformed');
    await rejects(f.verify(f.sign({ kind: 'admin' })), 'token_invalid', 'claim kind is malformed');
    await rejects(f.verify(f.sign({ md: ['x'] })), 'token_invalid', 'claim md is malformed');
  });

  test('B28 an edited payload with the original signature fails on the signature, never on a claim', async () => {
    const f = await setup();
    const token = f.sign();
    const claims = f.claims();
    for (const edit of [
      { ...claims, sub: 'mallory' },
      { ...claims, exp: f.now() + 86_400 },
      { ...claims, rooms: { lobby: ['join', 'publish', 'send', 'presence'] } },
      // An edit that would also fail a claim check must still report the signature.
      { ...claims, iss: 'https://evil.example', exp: 1 },
    ])
      await rejects(
        f.verify(withPayload(token, edit)),
        'token_invalid',
        'signature verification failed',
      );
  });

  test('a revoked session, token or tenant is token_revoked', async () => {
    const f = await setup();
    const sid = randomId();
    const jti = randomId();
    const token = f.sign({ sid, jti });
    await f.verify(token);
    const until = f.clock.now() + 3_600_000;
    await f.revocations.add({
      tenant: 'acme',
      kind: 'sid',
      value: sid,
      revokedAt: f.clock.now(),
      expiresAt: until,
    });
    await rejects(f.verify(token), 'token_revoked', 'session or token revoked');
    // The same session id in another tenant is unaffected.
    await f.verify(f.sign({ sid, tid: 'other' }));

    const byJti = f.sign({ jti });
    await f.revocations.add({
      tenant: 'acme',
      kind: 'jti',
      value: jti,
      revokedAt: f.clock.now(),
      expiresAt: until,
    });
    await rejects(f.verify(byJti), 'token_revoked');

    const other = f.sign({ tid: 'globex' });
    await f.verify(other);
    await f.revocations.add({
      tenant: 'globex',
      kind: 'tenant',
      value: 'globex',
      revokedAt: f.clock.now(),
      expiresAt: until,
    });
    await rejects(f.verify(other), 'token_revoked');
  });

  test('a revocation recorded by another process is seen after reload()', async () => {
    const f = await setup();
    const sid = randomId();
    const token = f.sign({ sid });
    await f.store.addRevocation({
      tenant: 'acme',
      kind: 'sid',
      value: sid,
      revokedAt: f.clock.now(),
      expiresAt: f.clock.now() + 600_000,
    });
    await f.verify(token);
    await f.revocations.reload();
    await rejects(f.verify(token), 'token_revoked');
  });

  test('a key deleted from the keyring (revoked) no longer verifies its tokens', async () => {
    const f = await setup();
    const token = f.sign();
    await f.verify(token);
    assert.equal(await f.keyring.revoke(f.keyring.signingKey().kid), true);
    await rejects(f.verify(token), 'token_invalid', 'unknown kid');
  });
});

describe('Wycheproof JWS vectors', () => {
  interface WpTest {
    tcId: number;
    comment: string;
    jws: string;
    result: 'valid' | 'invalid' | 'acceptable';
  }
  interface WpGroup {
    comment?: string;
    public?: JWK;
    tests: WpTest[];
  }
  const file = new URL(
    '../../../../../../shared/vectors/wycheproof/json_web_signature_test.json',
    import.meta.url,
  );
  const groups = (JSON.parse(readFileSync(file, 'utf8')) as { testGroups: WpGroup[] }).testGroups;

  // The vectors' payload is "foo", not a claim set: a token whose signature verifies fails with
  // ERR_JWT_INVALID at the claims step. Every invalid vector must be stopped before that step.
  for (const kid of ['kid-ec-sign', 'kid-rsa-sign']) {
    test(`signature vectors for ${kid}: only the valid ones reach the claims step`, async () => {
      const selected = groups.filter(
        (g) =>
          g.public?.kid === kid &&
          g.public.use === 'sig' &&
          (g.public.alg === 'ES256' || g.public.alg === 'RS256'),
      );
      assert.ok(selected.length > 0);
      const store = createMemoryStore();
      const pub = selected[0]!.public!;
      await store.saveKeys({
        upsert: [
          {
            kid,
            alg: pub.alg!,
            state: 'retired',
            privateJwk: pub,
            publicJwk: pub,
            createdAt: START,
            activatedAt: START,
            retiredAt: START,
            deleteAfter: null,
          },
        ],
        remove: [],
      });
      const f = await setup({ store });
      let valid = 0;
      let invalid = 0;
      for (const group of selected)
        for (const tc of group.tests) {
          let detail = 'accepted';
          try {
            await f.verify(tc.jws);
          } catch (err) {
            assert.ok(err instanceof TokenError, `tc${tc.tcId}: ${String(err)}`);
            detail = err.detail;
          }
          if (tc.result === 'valid') {
            valid++;
            assert.equal(detail, 'ERR_JWT_INVALID', `tc${tc.tcId} ${tc.comment}`);
          } else if (tc.result === 'invalid') {
            invalid++;
            assert.notEqual(
              detail,
              'ERR_JWT_INVALID',
              `tc${tc.tcId} ${tc.comment} passed the signature`,
            );
            assert.notEqual(detail, 'accepted', `tc${tc.tcId} ${tc.comment}`);
          }
        }
      assert.ok(valid >= 1 && invalid >= 10, `${valid} valid, ${invalid} invalid`);
    });
  }

  test('structural vectors (none, JSON serialization, base64 faults) are refused', async () => {
    const f = await setup();
    let checked = 0;
    for (const group of groups.filter((g) => g.comment === undefined || !g.public))
      for (const tc of group.tests) {
        if (tc.result !== 'invalid') continue;
        checked++;
        await assert.rejects(f.verify(tc.jws), TokenError, `tc${tc.tcId} ${tc.comment}`);
      }
    assert.ok(checked >= 20, `${checked} vectors`);
  });
});
