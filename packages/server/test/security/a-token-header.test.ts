/**
 * Security catalogue A1-A16: JWT header and format attacks, sent to a real server through every
 * door that accepts an access token (the signaling handshake and the TURN credential route).
 * The keyring holds ES256 keys (current, next) plus an RS256 and an EdDSA key, as after an
 * `auth.algorithm` change, so algorithm/key binding can be attacked.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  createPublicKey,
  generateKeyPairSync,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import type { JWK } from 'jose';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { TestClient, connectClient } from '../support/ws-client.js';
import {
  assertTokenRefused,
  claimsFor,
  rawUpgrade,
  signAsServer,
  UPGRADE_HEADERS,
} from '../support/attack.js';
import { b64url, signCompact, signingInput } from '../support/jws.js';
import { randomId } from '../../src/util/random-id.js';

let server: TestServer;
const extra: Record<'RS256' | 'EdDSA', { kid: string; key: KeyObject }> = {} as never;

before(async () => {
  server = await startTestServer({
    config: { 'auth.algorithm': 'ES256', 'signal.handshakesPerSecondPerIp': 100_000 },
  });
  // Add an RS256 and an EdDSA key as retired keys (still published and verifying).
  const now = Date.now();
  for (const [alg, pair] of [
    ['RS256', generateKeyPairSync('rsa', { modulusLength: 2048 })],
    ['EdDSA', generateKeyPairSync('ed25519')],
  ] as const) {
    const kid = `${alg.toLowerCase()}-${randomId(6)}`;
    await server.app.services.store.saveKeys({
      upsert: [
        {
          kid,
          alg,
          state: 'retired',
          privateJwk: pair.privateKey.export({ format: 'jwk' }) as JWK,
          publicJwk: pair.publicKey.export({ format: 'jwk' }) as JWK,
          createdAt: now,
          activatedAt: now,
          retiredAt: now,
          deleteAfter: now + 3_600_000,
        },
      ],
      remove: [],
    });
    extra[alg] = { kid, key: pair.privateKey };
  }
  await server.app.services.keyring.reload();
});
after(() => server.close());

const es = () => server.app.services.keyring.signingKey();
const header = (over: Record<string, unknown> = {}) => ({
  alg: 'ES256',
  kid: es().kid,
  typ: 'at+jwt',
  ...over,
});

describe('A. JWT header and alg attacks', () => {
  test('the fixtures are sound: a hand-signed token of every key type connects', async () => {
    for (const t of [
      signAsServer(server),
      signCompact(
        header({ alg: 'RS256', kid: extra.RS256.kid }),
        claimsFor(server),
        'RS256',
        extra.RS256.key,
      ),
      signCompact(
        header({ alg: 'EdDSA', kid: extra.EdDSA.kid }),
        claimsFor(server),
        'EdDSA',
        extra.EdDSA.key,
      ),
    ]) {
      const c = await connectClient(server.wsUrl, t);
      c.client.close();
    }
  });

  test('S1 alg none variants with an empty signature', async () => {
    for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
      const unsigned = `${signingInput(header({ alg }), claimsFor(server))}.`;
      await assertTokenRefused(server, unsigned, 'token_invalid', 'algorithm not allowed');
    }
  });

  test('S2 null or broken signature', async () => {
    const token = signAsServer(server);
    await assertTokenRefused(
      server,
      token.slice(0, token.lastIndexOf('.') + 1),
      'token_invalid',
      'signature verification failed',
    );
    // Four characters cut: canonical or not depends on the bits left over; both are refused.
    const cut = token.slice(0, -4);
    const sig = cut.slice(cut.lastIndexOf('.') + 1);
    const canonical = Buffer.from(sig, 'base64url').toString('base64url') === sig;
    await assertTokenRefused(
      server,
      cut,
      canonical ? 'token_invalid' : 'token_malformed',
      canonical ? 'signature verification failed' : 'not canonical base64url',
    );
    // Four bytes cut, re-encoded canonically: reaches the signature check and fails it.
    const bytes = Buffer.from(token.slice(token.lastIndexOf('.') + 1), 'base64url');
    const shorter = `${token.slice(0, token.lastIndexOf('.') + 1)}${bytes.subarray(0, -4).toString('base64url')}`;
    await assertTokenRefused(server, shorter, 'token_invalid', 'signature verification failed');
  });

  test('S3 algorithm confusion: HS256 keyed with our public key (PEM, DER, JWK text) and the real kid', async () => {
    for (const kid of [es().kid, extra.RS256.kid]) {
      const pub = server.app.services.keyring.verificationKey(kid)!.key;
      const secrets = [
        pub.export({ format: 'pem', type: 'spki' }) as string,
        pub.export({ format: 'der', type: 'spki' }),
        JSON.stringify(pub.export({ format: 'jwk' })),
        JSON.stringify(server.app.services.keyring.jwks().keys.find((k) => k.kid === kid)),
      ];
      for (const secret of secrets)
        await assertTokenRefused(
          server,
          signCompact(header({ alg: 'HS256', kid }), claimsFor(server), 'HS256', secret),
          'token_invalid',
          'algorithm not allowed',
        );
    }
    // The ready-made token of jsonwebtoken's test/jwt.malicious.tests.js shape: HS256, no typ.
    const pem = createPublicKey(extra.RS256.key).export({ format: 'pem', type: 'spki' }) as string;
    await assertTokenRefused(
      server,
      signCompact({ alg: 'HS256', typ: 'JWT' }, { foo: 'bar' }, 'HS256', pem),
      'token_invalid',
      'algorithm not allowed',
    );
  });

  test('S4 blank HMAC secret', async () => {
    await assertTokenRefused(
      server,
      signCompact(header({ alg: 'HS256' }), claimsFor(server), 'HS256', ''),
      'token_invalid',
      'algorithm not allowed',
    );
  });

  test('S5 any HS* token (wordlist secrets) is refused: HS is never on the allow-list', async () => {
    for (const secret of [
      'secret',
      'password',
      '123456',
      'changeme',
      'your-256-bit-secret',
      'callgate',
    ])
      for (const alg of ['HS256', 'HS384', 'HS512', 'hs256'])
        await assertTokenRefused(
          server,
          signCompact(header({ alg }), claimsFor(server), 'HS256', secret),
          'token_invalid',
          'algorithm not allowed',
        );
  });

  test('S6 an allowed alg with a key bound to another alg', async () => {
    const attackerRsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    // RS256 with the kid of the ES256 key.
    await assertTokenRefused(
      server,
      signCompact(header({ alg: 'RS256' }), claimsFor(server), 'RS256', attackerRsa),
      'token_invalid',
      'algorithm does not match the key',
    );
    // RS256 with the kid of the ES256 key, signed with our own RS256 key.
    await assertTokenRefused(
      server,
      signCompact(header({ alg: 'RS256' }), claimsFor(server), 'RS256', extra.RS256.key),
      'token_invalid',
      'algorithm does not match the key',
    );
    // ES256 with the kid of the RS256 key; EdDSA with the kid of the ES256 key.
    await assertTokenRefused(
      server,
      signCompact(header({ kid: extra.RS256.kid }), claimsFor(server), 'ES256', es().key),
      'token_invalid',
      'algorithm does not match the key',
    );
    await assertTokenRefused(
      server,
      signCompact(header({ alg: 'EdDSA' }), claimsFor(server), 'EdDSA', extra.EdDSA.key),
      'token_invalid',
      'algorithm does not match the key',
    );
    // PS256 with the kid of the RS256-bound key: PS256 is not on the allow-list at all.
    await assertTokenRefused(
      server,
      signCompact(
        header({ alg: 'PS256', kid: extra.RS256.kid }),
        claimsFor(server),
        'RS256',
        extra.RS256.key,
      ),
      'token_invalid',
      'algorithm not allowed',
    );
  });

  test('S7 DER-encoded ES256 signature instead of R||S', async () => {
    const der = signCompact(header(), claimsFor(server), 'ES256', es().key, { ecdsaDer: true });
    await assertTokenRefused(server, der, 'token_invalid', 'signature verification failed');
  });

  test('S8 ECDSA edge values: r = s = 0, r or s equal to n or n-1', async () => {
    const n = Buffer.from(
      'ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551',
      'hex',
    );
    const nMinus1 = Buffer.from(n);
    nMinus1[31] = nMinus1[31]! - 1;
    const zero = Buffer.alloc(32);
    const one = Buffer.alloc(32);
    one[31] = 1;
    const input = signingInput(header(), claimsFor(server));
    for (const [r, s] of [
      [zero, zero],
      [n, n],
      [n, one],
      [one, n],
      [nMinus1, nMinus1],
      [nMinus1, one],
      [one, nMinus1],
    ])
      await assertTokenRefused(
        server,
        `${input}.${Buffer.concat([r!, s!]).toString('base64url')}`,
        'token_invalid',
        'signature verification failed',
      );
  });

  test('S9 bad Ed25519 signatures: S >= L, truncated, trailing garbage', async () => {
    const good = signCompact(
      header({ alg: 'EdDSA', kid: extra.EdDSA.kid }),
      claimsFor(server),
      'EdDSA',
      extra.EdDSA.key,
    );
    const input = good.slice(0, good.lastIndexOf('.'));
    const sig = Buffer.from(good.slice(good.lastIndexOf('.') + 1), 'base64url');
    // S + L (little-endian): the malleable twin of a valid signature (RFC 8032 §5.1.7).
    const L = (1n << 252n) + 27742317777372353535851937790883648493n;
    let s = 0n;
    for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
    let t = s + L;
    const sPlusL = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) {
      sPlusL[i] = Number(t & 0xffn);
      t >>= 8n;
    }
    for (const bad of [
      Buffer.concat([sig.subarray(0, 32), sPlusL]),
      sig.subarray(0, 63),
      Buffer.concat([sig, Buffer.from([0])]),
      Buffer.concat([sig, Buffer.from('garbage')]),
    ])
      await assertTokenRefused(
        server,
        `${input}.${bad.toString('base64url')}`,
        'token_invalid',
        'signature verification failed',
      );
  });

  test('S10 crit problems: unknown extension, empty list', async () => {
    await assertTokenRefused(
      server,
      signCompact(
        header({ crit: ['x-unknown'], 'x-unknown': 1 }),
        claimsFor(server),
        'ES256',
        es().key,
      ),
      'token_invalid',
      'ERR_JOSE_NOT_SUPPORTED',
    );
    await assertTokenRefused(
      server,
      signCompact(header({ crit: [] }), claimsFor(server), 'ES256', es().key),
      'token_invalid',
      'ERR_JWS_INVALID',
    );
    // A compact JWS has no unprotected header: a `header` member in JSON form is format
    // confusion (S12), so "crit in an unprotected header" cannot be expressed here.
  });

  test('S11 unencoded payload (b64:false with crit b64)', async () => {
    const h = header({ b64: false, crit: ['b64'] });
    const payload = JSON.stringify(claimsFor(server));
    // RFC 7797: the signing input uses the payload as is; the compact form detaches it.
    const sig = cryptoSign('sha256', Buffer.from(`${b64url(h)}.${payload}`), {
      key: es().key,
      dsaEncoding: 'ieee-p1363',
    }).toString('base64url');
    await assertTokenRefused(server, `${b64url(h)}.${b64url(payload)}.${sig}`, 'token_invalid');
    await assertTokenRefused(
      server,
      `${b64url(h)}..${sig}`,
      'token_malformed',
      'not a compact JWS',
    );
  });

  test('S12 JSON serialization instead of compact is refused before any crypto', async () => {
    const token = signAsServer(server);
    const [h, p, s] = token.split('.');
    const flattened = JSON.stringify({ protected: h, payload: p, signature: s });
    const general = JSON.stringify({ payload: p, signatures: [{ protected: h, signature: s }] });
    for (const t of [flattened, general, `${token}"`, `{${token}}`])
      await assertTokenRefused(server, t, 'token_malformed', 'not a compact JWS');
  });

  test('S13 a JWE (5 segments: dir, PBES2 with p2c = 2^31) is refused with no decrypt attempted', async () => {
    const started = performance.now();
    for (const h of [
      { alg: 'dir', enc: 'A256GCM', kid: es().kid },
      { alg: 'PBES2-HS512+A256KW', enc: 'A256GCM', p2c: 2 ** 31, p2s: 'AAAAAAAAAAAAAAAAAAAAAA' },
    ])
      await assertTokenRefused(
        server,
        [b64url(h), 'AAAA', 'AAAAAAAAAAAAAAAA', 'AAAA', 'AAAAAAAAAAAAAAAAAAAAAA'].join('.'),
        'token_malformed',
        'not a compact JWS',
      );
    // 2^31 PBKDF2 iterations would take minutes; the refusal is immediate.
    assert.ok(performance.now() - started < 3000);
  });

  test('S14 encoding faults: padding, + and /, whitespace, segments, empty, trailing bits', async () => {
    const token = signAsServer(server);
    const [h, p, s] = token.split('.') as [string, string, string];
    const malformed: Array<[string, string]> = [
      [`${h}=.${p}.${s}`, 'not a compact JWS'],
      [`${h}.${p}.${s}==`, 'not a compact JWS'],
      [`${h}.${p}.${s.replace(/-/g, '+').replace(/_/g, '/')}+/`, 'not a compact JWS'],
      [` ${token}`, 'not a compact JWS'],
      [`${h}.${p} .${s}`, 'not a compact JWS'],
      [`${token}\n`, 'not a compact JWS'],
      [`${h}.${p}`, 'not a compact JWS'],
      [`${h}.${p}.${s}.`, 'not a compact JWS'],
      [`${h}.${p}.${s}.${s}`, 'not a compact JWS'],
      [`.${p}.${s}`, 'not a compact JWS'],
      [`${h}..${s}`, 'not a compact JWS'],
      ['..', 'not a compact JWS'],
    ];
    for (const [t, detail] of malformed)
      await assertTokenRefused(server, t, 'token_malformed', detail);
    // Non-canonical trailing bits: flip the unused low bits of the last character of the header.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const bumped = (seg: string) => {
      const last = alphabet.indexOf(seg.at(-1)!);
      return seg.slice(0, -1) + alphabet[last + 1]!;
    };
    const nonCanonical = [h, p, s].map((seg) => seg.length % 4 !== 0);
    assert.ok(nonCanonical.some(Boolean), 'some segment has unused bits');
    for (let i = 0; i < 3; i++) {
      if (!nonCanonical[i]) continue;
      const parts = [h, p, s];
      parts[i] = bumped(parts[i]!);
      await assertTokenRefused(
        server,
        parts.join('.'),
        'token_malformed',
        'not canonical base64url',
      );
    }
    // The empty token: no token at all.
    const empty = new TestClient(server.wsUrl, undefined);
    assert.deepEqual(await empty.closed, { code: 4401, reason: 'token_missing' });
  });

  test('S15 non-object JSON or invalid UTF-8 in header or payload', async () => {
    const signed = (hdr: Buffer, payload: Buffer) => {
      const input = `${hdr.toString('base64url')}.${payload.toString('base64url')}`;
      return `${input}.${cryptoSign('sha256', Buffer.from(input), { key: es().key, dsaEncoding: 'ieee-p1363' }).toString('base64url')}`;
    };
    const goodHeader = Buffer.from(JSON.stringify(header()));
    const goodPayload = Buffer.from(JSON.stringify(claimsFor(server)));
    for (const bad of ['[]', '42', 'null', '"x"', `[${JSON.stringify(header())}]`])
      await assertTokenRefused(
        server,
        signed(Buffer.from(bad), goodPayload),
        'token_malformed',
        'header is not a JSON object',
      );
    // Overlong UTF-8 ("/" as C0 AF) inside the header JSON.
    const overlong = Buffer.concat([
      Buffer.from('{"alg":"ES256","kid":"'),
      Buffer.from(es().kid),
      Buffer.from('","typ":"at+jwt","x":"'),
      Buffer.from([0xc0, 0xaf]),
      Buffer.from('"}'),
    ]);
    await assertTokenRefused(
      server,
      signed(overlong, goodPayload),
      'token_malformed',
      'header is not a JSON object',
    );
    // A correctly signed payload that is not a JSON object, or is not UTF-8: the claim layer.
    for (const bad of [
      Buffer.from('[]'),
      Buffer.from('42'),
      Buffer.from('null'),
      Buffer.concat([
        goodPayload.subarray(0, -1),
        Buffer.from(',"x":"'),
        Buffer.from([0xc0, 0xaf]),
        Buffer.from('"}'),
      ]),
    ])
      await assertTokenRefused(server, signed(goodHeader, bad), 'token_invalid', 'ERR_JWT_INVALID');
  });

  test('S16 oversized token: 64 KB gets 431 from the header limit, 9 KB the pre-crypto cap; no crash', async () => {
    const huge = signAsServer(server, { md: { pad: 'x'.repeat(64 * 1024) } });
    assert.ok(huge.length > 64 * 1024);
    const ws = await rawUpgrade(server.port, {
      ...UPGRADE_HEADERS,
      'sec-websocket-protocol': `callgate.v1, bearer.${huge}`,
    });
    assert.equal(ws.status, 431);
    const http = await rawUpgrade(
      server.port,
      { authorization: `Bearer ${huge}` },
      'POST',
      '/v1/turn/credentials',
    );
    assert.equal(http.status, 431);
    // Under the 16 KiB header limit but over auth.maxTokenBytes (8192): refused before crypto.
    const big = signAsServer(server, { md: { pad: 'x'.repeat(9 * 1024) } });
    await assertTokenRefused(server, big, 'token_malformed', 'token too long');
    // The server is still up.
    const c = await connectClient(server.wsUrl, signAsServer(server));
    c.client.close();
  });
});
