import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SignJWT, jwtVerify, createLocalJWKSet } from 'jose';
import { createMemoryStore } from '../../../src/store/memory-store.js';
import { openSqliteStore, STORE_FILE } from '../../../src/store/sqlite-store.js';
import type { Store } from '../../../src/store/store.js';
import { Keyring, type KeyringOptions } from '../../../src/auth/keyring.js';
import type { SigningAlgorithm } from '../../../src/config/schema.js';
import { manualClock } from '../../support/test-server.js';

const TTL = 300;
const TOLERANCE = 5;
const DAY = 86_400_000;
const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k', 'oth'];

function options(
  store: Store,
  clock: KeyringOptions['clock'],
  algorithm: SigningAlgorithm = 'RS256',
): KeyringOptions {
  return {
    store,
    clock,
    algorithm,
    accessTokenTtlSeconds: TTL,
    clockToleranceSeconds: TOLERANCE,
    keyRotationDays: 7,
  };
}

function byState(ring: Keyring) {
  const list = ring.list();
  return {
    current: list.filter((k) => k.state === 'current'),
    next: list.filter((k) => k.state === 'next'),
    retired: list.filter((k) => k.state === 'retired'),
  };
}

async function signWith(ring: Keyring): Promise<string> {
  const { kid, alg, key } = ring.signingKey();
  return new SignJWT({ sub: 'alice' }).setProtectedHeader({ alg, kid }).setIssuedAt().sign(key);
}

describe('states', () => {
  test('open creates exactly one current and one next key in an empty store', async () => {
    const store = createMemoryStore();
    const ring = await Keyring.open(options(store, manualClock()));
    const s = byState(ring);
    assert.equal(s.current.length, 1);
    assert.equal(s.next.length, 1);
    assert.equal(s.retired.length, 0);
    assert.equal(ring.signingKey().kid, s.current[0]!.kid);
    assert.equal(ring.signingKey().state, 'current');
    assert.equal((await store.listKeys()).length, 2);
    // Opening again does not add keys.
    const again = await Keyring.open(options(store, manualClock()));
    assert.deepEqual(
      again
        .list()
        .map((k) => k.kid)
        .sort(),
      ring
        .list()
        .map((k) => k.kid)
        .sort(),
    );
  });

  test('kids are RFC 7638 thumbprints: distinct, base64url, 43 characters', async () => {
    const ring = await Keyring.open(options(createMemoryStore(), manualClock()));
    const kids = ring.list().map((k) => k.kid);
    assert.equal(new Set(kids).size, kids.length);
    for (const kid of kids) assert.match(kid, /^[A-Za-z0-9_-]{43}$/);
  });

  test('every published key verifies by kid; an unknown kid has no key', async () => {
    const ring = await Keyring.open(options(createMemoryStore(), manualClock()));
    for (const k of ring.list()) {
      const v = ring.verificationKey(k.kid);
      assert.ok(v);
      assert.equal(v.key.type, 'public');
      assert.equal(v.alg, 'RS256');
    }
    assert.equal(ring.verificationKey('nope'), undefined);
    assert.equal(ring.signingKey().key.type, 'private');
  });
});

describe('rotate', () => {
  test('next becomes current, current becomes retired, a new next appears', async () => {
    const clock = manualClock();
    const ring = await Keyring.open(options(createMemoryStore(), clock));
    const before = byState(ring);
    const oldCurrent = before.current[0]!.kid;
    const oldNext = before.next[0]!.kid;
    clock.advance(1000);
    await ring.rotate();
    const after = byState(ring);
    assert.deepEqual(
      after.current.map((k) => k.kid),
      [oldNext],
    );
    assert.deepEqual(
      after.retired.map((k) => k.kid),
      [oldCurrent],
    );
    assert.equal(after.next.length, 1);
    assert.ok(![oldCurrent, oldNext].includes(after.next[0]!.kid));
    assert.equal(ring.signingKey().kid, oldNext);
    assert.equal(after.current[0]!.activatedAt, clock.now());
    // Retired keys stay until every token they signed has expired (lifetime + tolerance).
    const retired = after.retired[0]!;
    assert.equal(retired.retiredAt, clock.now());
    assert.ok(retired.deleteAfter! >= clock.now() + (TTL + TOLERANCE) * 1000);
    assert.ok(retired.deleteAfter! <= clock.now() + (TTL + TOLERANCE) * 1000 + 120_000);
  });

  test('a token signed before a rotation still verifies with the retired key', async () => {
    const ring = await Keyring.open(options(createMemoryStore(), manualClock()));
    const token = await signWith(ring);
    const kid = ring.signingKey().kid;
    await ring.rotate();
    await ring.rotate();
    assert.equal(ring.verificationKey(kid)?.state, 'retired');
    await jwtVerify(token, ring.verificationKey(kid)!.key);
    const jwks = createLocalJWKSet(ring.jwks());
    await jwtVerify(token, jwks);
  });

  test('retired keys are deleted once their deleteAfter has passed', async () => {
    const clock = manualClock();
    const ring = await Keyring.open(options(createMemoryStore(), clock));
    const first = ring.signingKey().kid;
    await ring.rotate();
    assert.equal(await ring.purgeExpired(), 0);
    assert.ok(ring.verificationKey(first));
    clock.advance((TTL + TOLERANCE) * 1000 + 120_000);
    assert.equal(await ring.purgeExpired(), 1);
    assert.equal(ring.verificationKey(first), undefined);
    // A rotation also sweeps expired retired keys.
    const second = ring.signingKey().kid;
    await ring.rotate();
    clock.advance(DAY);
    await ring.rotate();
    assert.equal(ring.verificationKey(second), undefined);
    assert.equal(byState(ring).retired.length, 1);
  });

  test('rotationDue follows keyRotationDays by the injected clock', async () => {
    const clock = manualClock();
    const ring = await Keyring.open(options(createMemoryStore(), clock));
    assert.equal(ring.rotationDue(), false);
    clock.advance(7 * DAY - 1);
    assert.equal(ring.rotationDue(), false);
    clock.advance(1);
    assert.equal(ring.rotationDue(), true);
    await ring.rotate();
    assert.equal(ring.rotationDue(), false);
  });

  test('a rotation by another keyring on the same store is seen after reload()', async () => {
    const store = createMemoryStore();
    const server = await Keyring.open(options(store, manualClock()));
    const cli = await Keyring.open(options(store, manualClock()));
    const before = server.signingKey().kid;
    await cli.rotate();
    assert.equal(server.signingKey().kid, before);
    await server.reload();
    assert.equal(server.signingKey().kid, cli.signingKey().kid);
    assert.notEqual(server.signingKey().kid, before);
  });
});

describe('revoke', () => {
  test('revoking the current key promotes next and completes the ring', async () => {
    const ring = await Keyring.open(options(createMemoryStore(), manualClock()));
    const { current, next } = byState(ring);
    assert.equal(await ring.revoke(current[0]!.kid), true);
    assert.equal(ring.verificationKey(current[0]!.kid), undefined);
    assert.equal(ring.signingKey().kid, next[0]!.kid);
    const s = byState(ring);
    assert.equal(s.current.length, 1);
    assert.equal(s.next.length, 1);
    assert.ok(!ring.jwks().keys.some((k) => k.kid === current[0]!.kid));
  });

  test('revoking next, a retired key, or an unknown kid', async () => {
    const ring = await Keyring.open(options(createMemoryStore(), manualClock()));
    const retiredKid = ring.signingKey().kid;
    await ring.rotate();
    assert.equal(await ring.revoke(retiredKid), true);
    assert.equal(ring.verificationKey(retiredKid), undefined);
    const nextKid = byState(ring).next[0]!.kid;
    const currentKid = ring.signingKey().kid;
    assert.equal(await ring.revoke(nextKid), true);
    assert.equal(ring.signingKey().kid, currentKid);
    assert.equal(byState(ring).next.length, 1);
    assert.notEqual(byState(ring).next[0]!.kid, nextKid);
    assert.equal(await ring.revoke('no-such-kid'), false);
    assert.equal(await ring.revoke(retiredKid), false);
  });
});

describe('JWKS', () => {
  for (const algorithm of ['RS256', 'ES256', 'EdDSA'] as const) {
    test(`${algorithm}: public members plus kid, alg, use; never private members (C38)`, async () => {
      const ring = await Keyring.open(options(createMemoryStore(), manualClock(), algorithm));
      await ring.rotate();
      const { keys } = ring.jwks();
      assert.equal(keys.length, 3);
      const expected = { RS256: 'RSA', ES256: 'EC', EdDSA: 'OKP' }[algorithm];
      for (const k of keys) {
        assert.equal(k.kty, expected);
        assert.equal(k.alg, algorithm);
        assert.equal(k.use, 'sig');
        assert.equal(typeof k.kid, 'string');
        for (const m of PRIVATE_MEMBERS) assert.equal(m in k, false, `${m} in JWKS`);
        if (algorithm === 'ES256') assert.equal(k.crv, 'P-256');
        if (algorithm === 'EdDSA') assert.equal(k.crv, 'Ed25519');
      }
      // Current first, then next, then retired.
      assert.deepEqual(
        keys.map((k) => ring.verificationKey(k.kid!)!.state),
        ['current', 'next', 'retired'],
      );
      // The signing key is the selected algorithm and jose verifies with the JWKS.
      assert.equal(ring.signingKey().alg, algorithm);
      await jwtVerify(await signWith(ring), createLocalJWKSet(ring.jwks()));
    });
  }

  test('the JWKS holds exactly the keys in the store, and list() exposes no key material', async () => {
    const store = createMemoryStore();
    const ring = await Keyring.open(options(store, manualClock()));
    const stored = await store.listKeys();
    assert.deepEqual(
      ring
        .jwks()
        .keys.map((k) => k.kid)
        .sort(),
      stored.map((k) => k.kid).sort(),
    );
    // The store does hold private members (the test would be vacuous otherwise)...
    for (const k of stored) assert.equal(typeof k.privateJwk.d, 'string');
    // ...and nothing of them reaches jwks() or list().
    const published = JSON.stringify(ring.jwks()) + JSON.stringify(ring.list());
    for (const k of stored)
      for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const)
        assert.equal(published.includes(k.privateJwk[m] as string), false, `${m} leaked`);
    for (const info of ring.list())
      assert.deepEqual(Object.keys(info).sort(), [
        'activatedAt',
        'alg',
        'createdAt',
        'deleteAfter',
        'kid',
        'retiredAt',
        'state',
      ]);
  });
});

describe('persistence (SQLite)', () => {
  test('keys survive closing and re-opening the store; the same key keeps signing', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-keyring-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = join(dir, 'data');
    const store1 = openSqliteStore(dataDir);
    const ring1 = await Keyring.open(options(store1, manualClock()));
    await ring1.rotate();
    const token = await signWith(ring1);
    const kids = ring1
      .list()
      .map((k) => `${k.kid}:${k.state}`)
      .sort();
    const signingKid = ring1.signingKey().kid;
    await store1.close();

    const store2 = openSqliteStore(dataDir);
    t.after(() => store2.close());
    const ring2 = await Keyring.open(options(store2, manualClock()));
    assert.deepEqual(
      ring2
        .list()
        .map((k) => `${k.kid}:${k.state}`)
        .sort(),
      kids,
    );
    assert.equal(ring2.signingKey().kid, signingKid);
    await jwtVerify(token, createLocalJWKSet(ring2.jwks()));
    // The re-opened private key signs tokens the old JWKS verifies.
    const ring1Jwks = createLocalJWKSet({ keys: ring2.jwks().keys });
    await jwtVerify(await signWith(ring2), ring1Jwks);
  });

  test('the data directory is created 0700 and the database file is 0600', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-keyring-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = join(dir, 'nested', 'data');
    const store = openSqliteStore(dataDir);
    await Keyring.open(options(store, manualClock()));
    const mode = (p: string) => statSync(p).mode & 0o777;
    assert.equal(mode(dataDir), 0o700);
    const file = join(dataDir, STORE_FILE);
    assert.equal(mode(file), 0o600);
    // WAL side files, while the store is open, carry the same mode.
    for (const side of [`${file}-wal`, `${file}-shm`])
      if (existsSync(side)) assert.equal(mode(side), 0o600);
    await store.close();
    // Re-opening an existing store (files recreated by SQLite) keeps them private.
    const again = openSqliteStore(dataDir);
    await Keyring.open(options(again, manualClock()));
    await again.setSetting('probe', 'x');
    for (const f of [file, `${file}-wal`, `${file}-shm`])
      if (existsSync(f)) assert.equal(mode(f), 0o600, f);
    await again.close();
  });
});
