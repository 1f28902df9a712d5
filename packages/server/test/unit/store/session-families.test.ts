/**
 * The refresh-family part of the Store contract (browser sessions, issue 8), run against every
 * implementation: hashes only, lookup of every credential a family ever had, compare-and-swap
 * rotation, revocation, purge, durability.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '../../../src/store/memory-store.js';
import { openSqliteStore, STORE_FILE } from '../../../src/store/sqlite-store.js';
import { StoreConflictError, type SessionFamily, type Store } from '../../../src/store/store.js';
import {
  hashSessionCredential,
  newSessionCredential,
  presentedCredentialHash,
} from '../../../src/auth/session-credential.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

function family(sessionId: string, grantHash: string): SessionFamily {
  return {
    sessionId,
    tenant: 'acme',
    grants: { sub: 'alice', rooms: { lobby: ['join'] }, kind: 'user', ttlSeconds: 300 },
    currentHash: grantHash,
    generation: 0,
    createdAt: T0,
    lastUsedAt: T0,
    expiresAt: T0 + 86_400_000,
    idleExpiresAt: T0 + 60_000,
    revokedAt: null,
  };
}

type Factory = () => Promise<{ store: Store; dir?: string; cleanup(): Promise<void> }>;

function contract(name: string, factory: Factory): void {
  describe(`session families: ${name}`, () => {
    test('create, find by grant, rotate by compare-and-swap, find old and new', async (t) => {
      const { store, cleanup } = await factory();
      t.after(cleanup);
      const grant = newSessionCredential('grant');
      await store.createSessionFamily(family('sid-1', grant.hash));
      await assert.rejects(store.createSessionFamily(family('sid-1', 'x')), StoreConflictError);
      const found = await store.findSessionCredential(grant.hash);
      assert.equal(found?.kind, 'grant');
      assert.equal(found?.current, true);
      assert.equal(found?.family.grants.sub, 'alice');
      assert.equal(await store.findSessionCredential(hashSessionCredential('nope')), null);

      const r1 = newSessionCredential('refresh');
      const rotated = await store.rotateSessionCredential({
        sessionId: 'sid-1',
        expectedHash: grant.hash,
        newHash: r1.hash,
        now: T0 + 1000,
        idleExpiresAt: T0 + 3_601_000,
      });
      assert.equal(rotated?.generation, 1);
      assert.equal(rotated?.currentHash, r1.hash);
      assert.equal(rotated?.lastUsedAt, T0 + 1000);
      assert.equal(rotated?.idleExpiresAt, T0 + 3_601_000);
      // The same expected hash again loses: exactly one rotation per credential.
      const r2 = newSessionCredential('refresh');
      const lost = await store.rotateSessionCredential({
        sessionId: 'sid-1',
        expectedHash: grant.hash,
        newHash: r2.hash,
        now: T0 + 1001,
        idleExpiresAt: T0 + 3_601_001,
      });
      assert.equal(lost, null);
      assert.equal(await store.findSessionCredential(r2.hash), null, 'a lost swap stores nothing');
      const old = await store.findSessionCredential(grant.hash);
      assert.equal(old?.current, false, 'a rotated credential is still found, as not current');
      const cur = await store.findSessionCredential(r1.hash);
      assert.equal(cur?.kind, 'refresh');
      assert.equal(cur?.current, true);
    });

    test('concurrent swaps with one expected hash: exactly one wins', async (t) => {
      const { store, cleanup } = await factory();
      t.after(cleanup);
      const grant = newSessionCredential('grant');
      await store.createSessionFamily(family('sid-2', grant.hash));
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          store.rotateSessionCredential({
            sessionId: 'sid-2',
            expectedHash: grant.hash,
            newHash: newSessionCredential('refresh').hash,
            now: T0 + i,
            idleExpiresAt: T0 + 60_000,
          }),
        ),
      );
      assert.equal(results.filter((r) => r !== null).length, 1);
      assert.equal((await store.getSessionFamily('sid-2'))?.generation, 1);
    });

    test('no swap on a revoked, expired or idle family; revoke is idempotent', async (t) => {
      const { store, cleanup } = await factory();
      t.after(cleanup);
      const swap = (sid: string, expectedHash: string, now: number) =>
        store.rotateSessionCredential({
          sessionId: sid,
          expectedHash,
          newHash: newSessionCredential('refresh').hash,
          now,
          idleExpiresAt: now + 60_000,
        });
      const a = newSessionCredential('grant');
      await store.createSessionFamily(family('revoked', a.hash));
      assert.equal(await store.revokeSessionFamily('revoked', T0 + 5), true);
      assert.equal(await store.revokeSessionFamily('revoked', T0 + 6), false);
      assert.equal(await store.revokeSessionFamily('missing', T0 + 6), false);
      assert.equal((await store.getSessionFamily('revoked'))?.revokedAt, T0 + 5);
      assert.equal(await swap('revoked', a.hash, T0 + 10), null);
      const b = newSessionCredential('grant');
      await store.createSessionFamily(family('idle', b.hash));
      assert.equal(await swap('idle', b.hash, T0 + 60_000), null);
      const c = newSessionCredential('grant');
      await store.createSessionFamily({ ...family('ended', c.hash), idleExpiresAt: T0 + 10 ** 9 });
      assert.equal(await swap('ended', c.hash, T0 + 86_400_000), null);
    });

    test('purge deletes families past their absolute or idle end, with their hashes', async (t) => {
      const { store, cleanup } = await factory();
      t.after(cleanup);
      const a = newSessionCredential('grant');
      const b = newSessionCredential('grant');
      await store.createSessionFamily(family('short', a.hash));
      await store.createSessionFamily({ ...family('long', b.hash), idleExpiresAt: T0 + 600_000 });
      assert.equal(await store.purgeSessionFamilies(T0 + 59_999), 0);
      assert.equal(await store.purgeSessionFamilies(T0 + 60_000), 1);
      assert.equal(await store.getSessionFamily('short'), null);
      assert.equal(await store.findSessionCredential(a.hash), null);
      assert.notEqual(await store.findSessionCredential(b.hash), null);
    });
  });
}

contract('memory', async () => ({ store: createMemoryStore(), cleanup: async () => {} }));
contract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-families-'));
  const store = openSqliteStore(dir);
  return {
    store,
    dir,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('session families: sqlite durability', () => {
  test('families survive a reopen; the file holds hashes, never a credential', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-families-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const a = openSqliteStore(dir);
    const grant = newSessionCredential('grant');
    const refresh = newSessionCredential('refresh');
    await a.createSessionFamily(family('durable', grant.hash));
    await a.rotateSessionCredential({
      sessionId: 'durable',
      expectedHash: grant.hash,
      newHash: refresh.hash,
      now: T0 + 1,
      idleExpiresAt: T0 + 3_600_000,
    });
    await a.close();
    const b = openSqliteStore(dir);
    t.after(() => b.close());
    assert.equal((await b.findSessionCredential(refresh.hash))?.current, true);
    assert.equal((await b.findSessionCredential(grant.hash))?.current, false);
    const bytes = Buffer.concat(
      ['', '-wal'].map((suffix) => {
        try {
          return readFileSync(join(dir, STORE_FILE + suffix));
        } catch {
          return Buffer.alloc(0);
        }
      }),
    );
    for (const secret of [grant.plaintext, refresh.plaintext])
      assert.equal(bytes.includes(Buffer.from(secret)), false, 'plaintext credential on disk');
    assert.equal(bytes.includes(Buffer.from(refresh.hash)), true);
  });
});

describe('session credentials', () => {
  test('a kind is recognised by its prefix and shape only', () => {
    const g = newSessionCredential('grant');
    const r = newSessionCredential('refresh');
    assert.match(g.plaintext, /^cgg_[A-Za-z0-9_-]{43}$/);
    assert.match(r.plaintext, /^cgr_[A-Za-z0-9_-]{43}$/);
    assert.equal(presentedCredentialHash('grant', g.plaintext), g.hash);
    assert.equal(presentedCredentialHash('refresh', r.plaintext), r.hash);
    assert.equal(presentedCredentialHash('refresh', g.plaintext), null);
    assert.equal(presentedCredentialHash('grant', r.plaintext), null);
    for (const bad of [
      undefined,
      null,
      42,
      '',
      'cgr_',
      `${r.plaintext}x`,
      `eyJ.${'a'.repeat(40)}.b`,
    ])
      assert.equal(presentedCredentialHash('refresh', bad), null);
  });
});
