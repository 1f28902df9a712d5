/**
 * One contract, run against every Store implementation (as crossws runs one suite against every
 * adapter): what the token service and signaling may rely on, whichever store is configured.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryStore } from '../../../src/store/memory-store.js';
import { openSqliteStore } from '../../../src/store/sqlite-store.js';
import {
  StoreConflictError,
  type ApiKeyRecord,
  type Store,
  type StoredKey,
} from '../../../src/store/store.js';

const T0 = Date.UTC(2026, 10, 23, 12, 0, 0);

function apiKey(id: string, tenant: string, createdAt = T0): ApiKeyRecord {
  return {
    id,
    tenant,
    secretHash: 'a'.repeat(64),
    label: null,
    createdAt,
    revokedAt: null,
  };
}

function storedKey(kid: string, state: StoredKey['state'], createdAt: number): StoredKey {
  return {
    kid,
    alg: 'ES256',
    state,
    privateJwk: { kty: 'EC', crv: 'P-256', x: `x-${kid}`, y: `y-${kid}`, d: `d-${kid}` },
    publicJwk: { kty: 'EC', crv: 'P-256', x: `x-${kid}`, y: `y-${kid}` },
    createdAt,
    activatedAt: state === 'current' ? createdAt : null,
    retiredAt: null,
    deleteAfter: null,
  };
}

type Factory = () => Promise<{ store: Store; cleanup(): Promise<void> }>;

function storeContract(name: string, factory: Factory): void {
  describe(`Store contract: ${name}`, () => {
    const withStore =
      (fn: (store: Store) => Promise<void>) => async (t: { after(fn: () => unknown): void }) => {
        const { store, cleanup } = await factory();
        t.after(cleanup);
        await fn(store);
      };

    test(
      'tenants: create, get, list sorted, duplicate conflict, delete',
      withStore(async (store) => {
        assert.deepEqual(await store.listTenants(), []);
        assert.equal(await store.getTenant('acme'), null);
        assert.deepEqual(await store.createTenant('globex', T0), { name: 'globex', createdAt: T0 });
        await store.createTenant('acme', T0 + 1);
        assert.deepEqual(await store.getTenant('acme'), { name: 'acme', createdAt: T0 + 1 });
        assert.deepEqual(
          (await store.listTenants()).map((t) => t.name),
          ['acme', 'globex'],
        );
        await assert.rejects(store.createTenant('acme', T0 + 2), StoreConflictError);
        assert.equal((await store.getTenant('acme'))!.createdAt, T0 + 1);
        assert.equal(await store.deleteTenant('acme'), true);
        assert.equal(await store.deleteTenant('acme'), false);
        assert.equal(await store.getTenant('acme'), null);
        assert.deepEqual(
          (await store.listTenants()).map((t) => t.name),
          ['globex'],
        );
      }),
    );

    test(
      'API keys: create, get, list per tenant, revoke once, only in their own tenant',
      withStore(async (store) => {
        await store.createTenant('acme', T0);
        await store.createTenant('globex', T0);
        await store.createApiKey(apiKey('0000000000000001', 'acme', T0));
        await store.createApiKey({ ...apiKey('0000000000000002', 'acme', T0 + 1), label: 'ci' });
        await store.createApiKey(apiKey('0000000000000003', 'globex', T0));
        assert.deepEqual(await store.getApiKey('0000000000000002'), {
          ...apiKey('0000000000000002', 'acme', T0 + 1),
          label: 'ci',
        });
        assert.equal(await store.getApiKey('ffffffffffffffff'), null);
        assert.deepEqual((await store.listApiKeys('acme')).map((k) => k.id).sort(), [
          '0000000000000001',
          '0000000000000002',
        ]);
        assert.deepEqual(await store.listApiKeys('nobody'), []);
        // Revoking through another tenant does nothing.
        assert.equal(await store.revokeApiKey('globex', '0000000000000001', T0 + 5), false);
        assert.equal((await store.getApiKey('0000000000000001'))!.revokedAt, null);
        assert.equal(await store.revokeApiKey('acme', '0000000000000001', T0 + 5), true);
        assert.equal((await store.getApiKey('0000000000000001'))!.revokedAt, T0 + 5);
        // A second revoke neither succeeds nor moves the time.
        assert.equal(await store.revokeApiKey('acme', '0000000000000001', T0 + 9), false);
        assert.equal((await store.getApiKey('0000000000000001'))!.revokedAt, T0 + 5);
        assert.equal(await store.revokeApiKey('acme', 'ffffffffffffffff', T0), false);
      }),
    );

    test(
      'API keys need an existing tenant and go with it when it is deleted',
      withStore(async (store) => {
        await assert.rejects(store.createApiKey(apiKey('0000000000000001', 'ghost')));
        await store.createTenant('acme', T0);
        await store.createTenant('globex', T0);
        await store.createApiKey(apiKey('0000000000000001', 'acme'));
        await store.createApiKey(apiKey('0000000000000002', 'globex'));
        assert.equal(await store.deleteTenant('acme'), true);
        assert.equal(await store.getApiKey('0000000000000001'), null);
        assert.deepEqual(await store.listApiKeys('acme'), []);
        assert.ok(await store.getApiKey('0000000000000002'));
        // A tenant re-created with the same name does not get the old keys back.
        await store.createTenant('acme', T0 + 10);
        assert.deepEqual(await store.listApiKeys('acme'), []);
      }),
    );

    test(
      'keys: saveKeys upserts and removes in one change; listKeys is ordered by creation',
      withStore(async (store) => {
        assert.deepEqual(await store.listKeys(), []);
        await store.saveKeys({
          upsert: [storedKey('k2', 'next', T0 + 1), storedKey('k1', 'current', T0)],
          remove: [],
        });
        assert.deepEqual(
          (await store.listKeys()).map((k) => k.kid),
          ['k1', 'k2'],
        );
        assert.deepEqual((await store.listKeys())[0], storedKey('k1', 'current', T0));
        // A rotation: k1 retired, k2 current, k3 next, and nothing removed.
        await store.saveKeys({
          upsert: [
            {
              ...storedKey('k1', 'retired', T0),
              activatedAt: T0,
              retiredAt: T0 + 10,
              deleteAfter: T0 + 99,
            },
            { ...storedKey('k2', 'current', T0 + 1), activatedAt: T0 + 10 },
            storedKey('k3', 'next', T0 + 10),
          ],
          remove: [],
        });
        const keys = await store.listKeys();
        assert.deepEqual(
          keys.map((k) => `${k.kid}:${k.state}`),
          ['k1:retired', 'k2:current', 'k3:next'],
        );
        assert.equal(keys[0]!.deleteAfter, T0 + 99);
        assert.equal(keys[0]!.retiredAt, T0 + 10);
        assert.equal(keys[1]!.activatedAt, T0 + 10);
        // Private material round-trips exactly (the signer needs it).
        assert.deepEqual(keys[2]!.privateJwk, storedKey('k3', 'next', T0 + 10).privateJwk);
        await store.saveKeys({ upsert: [], remove: ['k1', 'no-such'] });
        assert.deepEqual(
          (await store.listKeys()).map((k) => k.kid),
          ['k2', 'k3'],
        );
      }),
    );

    test(
      'returned records are copies: mutating them does not change the store',
      withStore(async (store) => {
        await store.createTenant('acme', T0);
        await store.createApiKey(apiKey('0000000000000001', 'acme'));
        await store.saveKeys({ upsert: [storedKey('k1', 'current', T0)], remove: [] });
        const key = (await store.listKeys())[0]!;
        key.state = 'retired';
        key.privateJwk.d = 'tampered';
        const record = (await store.getApiKey('0000000000000001'))!;
        record.revokedAt = 1;
        assert.equal((await store.listKeys())[0]!.state, 'current');
        assert.equal((await store.listKeys())[0]!.privateJwk.d, 'd-k1');
        assert.equal((await store.getApiKey('0000000000000001'))!.revokedAt, null);
      }),
    );

    test(
      'revocations: listed until they expire, merged by the latest expiry, purged',
      withStore(async (store) => {
        const sid = { tenant: 'acme', kind: 'sid' as const, value: 'S'.repeat(22), revokedAt: T0 };
        await store.addRevocation({ ...sid, expiresAt: T0 + 1000 });
        await store.addRevocation({
          tenant: 'acme',
          kind: 'jti',
          value: 'J'.repeat(22),
          revokedAt: T0,
          expiresAt: T0 + 100,
        });
        await store.addRevocation({
          tenant: 'globex',
          kind: 'tenant',
          value: 'globex',
          revokedAt: T0,
          expiresAt: T0 + 5000,
        });
        assert.equal((await store.listRevocations(T0)).length, 3);
        assert.equal((await store.listRevocations(T0 + 100)).length, 2, 'expiresAt is exclusive');
        // Re-adding keeps the later expiry, never shortens it.
        await store.addRevocation({ ...sid, expiresAt: T0 + 2000 });
        await store.addRevocation({ ...sid, expiresAt: T0 + 1500 });
        const listed = (await store.listRevocations(T0)).find((r) => r.kind === 'sid')!;
        assert.deepEqual(listed, { ...sid, expiresAt: T0 + 2000 });
        assert.equal((await store.listRevocations(T0)).length, 3);
        assert.equal(await store.purgeRevocations(T0 + 2000), 2);
        assert.deepEqual(
          (await store.listRevocations(T0)).map((r) => r.value),
          ['globex'],
        );
        assert.equal(await store.purgeRevocations(T0 + 2000), 0);
      }),
    );

    test(
      'settings: get, set, overwrite, set-if-absent',
      withStore(async (store) => {
        assert.equal(await store.getSetting('issuer'), null);
        await store.setSetting('issuer', 'https://a.example');
        assert.equal(await store.getSetting('issuer'), 'https://a.example');
        await store.setSetting('issuer', 'https://b.example');
        assert.equal(await store.getSetting('issuer'), 'https://b.example');
        assert.equal(await store.setSettingIfAbsent('turn', 'first'), 'first');
        assert.equal(await store.setSettingIfAbsent('turn', 'second'), 'first');
        assert.equal(await store.getSetting('turn'), 'first');
      }),
    );

    test(
      'check() passes while open and fails after close(); changeVersion() is a number',
      withStore(async (store) => {
        assert.equal(typeof store.kind, 'string');
        assert.equal(typeof (await store.changeVersion()), 'number');
        await store.check();
        await store.close();
        await assert.rejects(store.check());
        await store.close(); // idempotent
      }),
    );
  });
}

storeContract('memory', async () => {
  const store = createMemoryStore();
  return { store, cleanup: () => store.close() };
});

storeContract('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-store-'));
  const store = openSqliteStore(join(dir, 'data'));
  return {
    store,
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

describe('SQLite specifics', () => {
  test('changeVersion() moves when another connection commits, not on our own writes', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-store-'));
    const server = openSqliteStore(dir);
    const cli = openSqliteStore(dir);
    t.after(async () => {
      await server.close();
      await cli.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const v0 = await server.changeVersion();
    await server.setSetting('own', 'write');
    assert.equal(await server.changeVersion(), v0);
    await cli.createTenant('acme', T0);
    const v1 = await server.changeVersion();
    assert.notEqual(v1, v0);
    assert.deepEqual(
      (await server.listTenants()).map((x) => x.name),
      ['acme'],
    );
    assert.equal(await server.changeVersion(), v1);
  });

  test('data written by one connection is durable for the next open', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-store-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const a = openSqliteStore(dir);
    await a.createTenant('acme', T0);
    await a.createApiKey(apiKey('0000000000000001', 'acme'));
    await a.addRevocation({
      tenant: 'acme',
      kind: 'sid',
      value: 'x',
      revokedAt: T0,
      expiresAt: T0 + 10,
    });
    await a.close();
    const b = openSqliteStore(dir);
    t.after(() => b.close());
    assert.equal((await b.getTenant('acme'))!.createdAt, T0);
    assert.equal((await b.getApiKey('0000000000000001'))!.tenant, 'acme');
    assert.equal((await b.listRevocations(T0)).length, 1);
  });
});
