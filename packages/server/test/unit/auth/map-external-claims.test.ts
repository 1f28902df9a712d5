import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mapExternalClaims } from '../../../src/auth/map-external-claims.js';
import {
  parseTrustedIssuer,
  type TrustedIssuerConfig,
} from '../../../src/config/trusted-issuers.js';
import { TokenError } from '../../../src/auth/token-error.js';

const NOW = 1_800_000_000;
const ISS = 'https://tenant.eu.auth0.com/';
const AUD = 'https://callgate.example.com';

function issuer(extra: Record<string, unknown> = {}): TrustedIssuerConfig {
  const problems: string[] = [];
  const c = parseTrustedIssuer(
    {
      issuer: ISS,
      jwksUri: `${ISS}.well-known/jwks.json`,
      audience: AUD,
      tenant: { value: 'acme' },
      ...extra,
    },
    'i',
    (m, p) => void problems.push(`${p}: ${m}`),
  );
  assert.deepEqual(problems, []);
  return c!;
}

function map(
  payload: Record<string, unknown>,
  config = issuer(),
  header: Record<string, unknown> = { alg: 'RS256', kid: 'k', typ: 'at+jwt' },
) {
  const base = { iss: ISS, aud: AUD, sub: 'auth0|123', iat: NOW - 10, exp: NOW + 3600 };
  return mapExternalClaims(header, Buffer.from(JSON.stringify({ ...base, ...payload })), config, {
    now: NOW,
    clockToleranceSeconds: 5,
    token: 'header.payload.signature',
  });
}

function refused(fn: () => unknown, code: string, detail: string | RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TokenError);
    assert.equal(err.code, code);
    if (typeof detail === 'string') assert.equal(err.detail, detail);
    else assert.match(err.detail, detail);
    return true;
  });
}

describe('mapExternalClaims', () => {
  test('the result has Callgate’s claim shape; nothing unmapped is granted', () => {
    const c = map({ tid: 'other', rooms: { lobby: ['join'] }, md: { x: 1 }, kind: 'service' });
    assert.deepEqual(c, {
      iss: ISS,
      aud: AUD,
      sub: 'auth0|123',
      tid: 'acme',
      sid: c.sid,
      jti: c.jti,
      iat: NOW - 10,
      nbf: NOW - 10,
      exp: NOW - 10 + 3600,
      rooms: {},
      kind: 'user',
    });
  });

  test('typ: required when configured; otherwise only generic JWT types pass', () => {
    const typed = issuer({ typ: 'at+jwt' });
    assert.ok(map({}, typed, { typ: 'application/AT+JWT' }));
    refused(() => map({}, typed, { typ: 'JWT' }), 'token_invalid', 'claim typ: check_failed');
    refused(() => map({}, typed, {}), 'token_invalid', 'claim typ: check_failed');
    for (const typ of [undefined, 'JWT', 'jwt', 'at+jwt'])
      assert.ok(map({}, issuer(), typ === undefined ? {} : { typ }));
    for (const typ of ['id_token+jwt', 'logout+jwt', 'dpop+jwt', 7])
      refused(() => map({}, issuer(), { typ }), 'token_invalid', 'claim typ: check_failed');
  });

  test('iss, aud, exp, nbf and iat: as Callgate’s own policy, with the issuer’s age limit', () => {
    refused(() => map({ iss: ISS.slice(0, -1) }), 'token_invalid', 'claim iss: check_failed');
    refused(() => map({ aud: 'client-id' }), 'token_invalid', 'claim aud: check_failed');
    assert.ok(map({ aud: ['client-id', AUD] }));
    refused(() => map({ aud: [''] }), 'token_invalid', 'claim aud: check_failed');
    refused(() => map({ exp: NOW - 5 }), 'token_expired', /"exp"/);
    assert.ok(map({ exp: NOW - 4 }));
    refused(() => map({ nbf: NOW + 6 }), 'token_invalid', 'claim nbf: check_failed');
    refused(() => map({ iat: NOW + 6 }), 'token_invalid', 'claim iat: check_failed');
    refused(() => map({ iat: NOW - 3606, exp: NOW + 9999 }), 'token_expired', /"iat"/);
    assert.ok(map({ iat: NOW - 3605, exp: NOW + 9999 }));
    for (const claim of ['iss', 'aud', 'iat', 'sub', 'exp'])
      refused(() => map({ [claim]: undefined }), 'token_invalid', `claim ${claim}: missing`);
    refused(() => map({ exp: '1' }), 'token_invalid', 'claim exp: invalid');
    refused(() => map({ sub: 'has space' }), 'token_invalid', 'claim sub is malformed');
  });

  test('exp is capped at iat + maxTokenAgeSeconds', () => {
    const c = map({ iat: NOW, exp: NOW + 86_400 }, issuer({ maxTokenAgeSeconds: 600 }));
    assert.equal(c.exp, NOW + 600);
    assert.equal(map({ iat: NOW, exp: NOW + 60 }).exp, NOW + 60);
  });

  test('sessionId: the claim when it is an opaque id; a stable hash otherwise', () => {
    assert.equal(
      map({ sid: 'a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d' }).sid,
      'a0b1c2d3-e4f5-4a6b-8c7d-9e0f1a2b3c4d',
    );
    const odd = map({ sid: 'onrtac:1234' }).sid;
    assert.match(odd, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(map({ sid: 'onrtac:1234' }).sid, odd, 'stable');
    refused(() => map({ sid: 42 }), 'token_invalid', 'claim sid: invalid');
    // No sid: iss + sub (+ auth_time), the same for every token of one login, whatever iat.
    const a = map({ iat: NOW - 100 }).sid;
    assert.equal(map({ iat: NOW - 5, jti: 'another-token-id-0001' }).sid, a);
    assert.notEqual(map({ sub: 'auth0|456' }).sid, a);
    assert.notEqual(map({ auth_time: NOW - 500 }).sid, a, 'a new login, a new session');
    assert.equal(map({ auth_time: NOW - 500 }).sid, map({ auth_time: NOW - 500, iat: NOW }).sid);
    // A nested session claim.
    const nested = issuer({ sessionId: { claim: ['ext', 'session'] } });
    assert.equal(
      map({ ext: { session: 'nested-session-0001' } }, nested).sid,
      'nested-session-0001',
    );
  });

  test('jti: the claim when opaque, else a hash of it, else a hash of the token', () => {
    assert.equal(map({ jti: 'token-id-0000000001' }).jti, 'token-id-0000000001');
    assert.match(map({ jti: 'a:b' }).jti, /^[A-Za-z0-9_-]{22}$/);
    assert.match(map({}).jti, /^[A-Za-z0-9_-]{22}$/);
  });

  test('tenant from a claim: prefix applied, must be a tenant name, own properties only', () => {
    const t = issuer({ tenant: { claim: 'org_id', prefix: 'auth0-' } });
    assert.equal(map({ org_id: 'globex' }, t).tid, 'auth0-globex');
    refused(() => map({}, t), 'token_invalid', 'claim org_id: missing');
    for (const org of ['Globex', '../acme', '', 7, 'a b'])
      refused(() => map({ org_id: org }, t), 'token_invalid', 'claim org_id is not a tenant name');
    const proto = issuer({ tenant: { claim: 'constructor' } });
    refused(() => map({}, proto), 'token_invalid', 'claim constructor: missing');
    const nested = issuer({ tenant: { claim: ['org', 'name'] } });
    assert.equal(map({ org: { name: 'initech' } }, nested).tid, 'initech');
  });

  test('rooms: a fixed grant, or a Callgate-style map claim checked as strictly as our own', () => {
    const grant = issuer({ rooms: { grant: { lobby: ['join', 'presence'] } } });
    assert.deepEqual(map({ rooms: { admin: ['join'] } }, grant).rooms, {
      lobby: ['join', 'presence'],
    });

    const m = issuer({ rooms: { claim: 'https://callgate.example.com/rooms' } });
    const ROOMS = 'https://callgate.example.com/rooms';
    assert.deepEqual(map({ [ROOMS]: { a: ['join', 'join', 'send'] } }, m).rooms, {
      a: ['join', 'send'],
    });
    assert.deepEqual(map({}, m).rooms, {});
    const own = map({ [ROOMS]: JSON.parse('{"__proto__":["join"]}') as unknown }, m).rooms;
    assert.equal(JSON.stringify(own), '{"__proto__":["join"]}');
    for (const bad of [['a'], { '*': ['join'] }, { a: ['admin'] }, { a: 'join' }, 'a'])
      refused(
        () => map({ [ROOMS]: bad }, m),
        'token_invalid',
        /^claim https:\/\/callgate.example.com\/rooms /,
      );
  });

  test('rooms from a list: invalid names grant nothing; a prefix selects and is stripped', () => {
    const list = issuer({ rooms: { claim: 'groups', permissions: ['join'] } });
    assert.deepEqual(map({ groups: ['eng', 'Sales Team', 'room:*', 7] }, list).rooms, {
      eng: ['join'],
    });
    const scoped = issuer({ rooms: { claim: 'scope', permissions: ['join'], prefix: 'room:' } });
    assert.deepEqual(map({ scope: 'openid room:lobby room:* admin room:' }, scoped).rooms, {
      lobby: ['join'],
    });
    refused(
      () => map({ scope: { a: 1 } }, scoped),
      'token_invalid',
      'claim scope is not a list of room names',
    );
    // Room names spelled like Object.prototype members are granted as own entries.
    const odd = map({ groups: ['__proto__', 'constructor'] }, list).rooms;
    assert.deepEqual(Object.keys(odd), ['__proto__', 'constructor']);
    assert.equal(JSON.stringify(odd), '{"__proto__":["join"],"constructor":["join"]}');
    assert.equal(Object.getPrototypeOf(odd), Object.prototype);
    const many = Array.from({ length: 101 }, (_, i) => `r${i}`);
    refused(
      () => map({ groups: many }, list),
      'token_invalid',
      'claim groups names over 100 rooms',
    );
  });

  test('metadata: only the listed claims, renamed with `as`, at most 4 KiB', () => {
    const md = issuer({
      metadata: ['name', { claim: ['https://example.com/profile', 'team'], as: 'team' }],
    });
    assert.deepEqual(
      map(
        { name: 'Ada', email: 'ada@example.com', 'https://example.com/profile': { team: 'core' } },
        md,
      ).md,
      { name: 'Ada', team: 'core' },
    );
    assert.equal(map({ email: 'x' }, md).md, undefined);
    refused(
      () => map({ name: 'x'.repeat(5000) }, md),
      'token_invalid',
      'mapped metadata over 4096 bytes',
    );
  });

  test('kind is the configured one', () => {
    assert.equal(map({ kind: 'user' }, issuer({ kind: 'service' })).kind, 'service');
  });
});
