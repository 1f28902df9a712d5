import Database from 'better-sqlite3';
import { mkdirSync, chmodSync, existsSync, accessSync, statSync, constants } from 'node:fs';
import { join } from 'node:path';
import type { JWK } from 'jose';
import {
  StoreConflictError,
  type ApiKeyRecord,
  type Revocation,
  type Store,
  type StoredKey,
  type Tenant,
  type KeyState,
  type SessionCredentialKind,
  type SessionFamily,
} from './store.js';

const SCHEMA = `
CREATE TABLE IF NOT EXISTS keys (
  kid TEXT PRIMARY KEY,
  alg TEXT NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('next','current','retired')),
  private_jwk TEXT NOT NULL,
  public_jwk TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  activated_at INTEGER,
  retired_at INTEGER,
  delete_after INTEGER
);
CREATE TABLE IF NOT EXISTS tenants (
  name TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS api_keys (
  id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL REFERENCES tenants(name) ON DELETE CASCADE,
  secret_hash TEXT NOT NULL,
  label TEXT,
  created_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS api_keys_tenant ON api_keys(tenant);
CREATE TABLE IF NOT EXISTS revocations (
  tenant TEXT NOT NULL,
  kind TEXT NOT NULL,
  value TEXT NOT NULL,
  revoked_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (tenant, kind, value)
);
CREATE INDEX IF NOT EXISTS revocations_expires ON revocations(expires_at);
CREATE TABLE IF NOT EXISTS session_families (
  session_id TEXT PRIMARY KEY,
  tenant TEXT NOT NULL,
  grants TEXT NOT NULL,
  current_hash TEXT NOT NULL,
  generation INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  last_used_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  idle_expires_at INTEGER NOT NULL,
  revoked_at INTEGER
);
CREATE INDEX IF NOT EXISTS session_families_ends ON session_families(MIN(expires_at, idle_expires_at));
CREATE TABLE IF NOT EXISTS session_credentials (
  hash TEXT PRIMARY KEY,
  session_id TEXT NOT NULL REFERENCES session_families(session_id) ON DELETE CASCADE,
  kind TEXT NOT NULL CHECK (kind IN ('grant','refresh')),
  generation INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS session_credentials_session ON session_credentials(session_id);
CREATE TABLE IF NOT EXISTS settings (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS health (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  checked_at INTEGER NOT NULL
);
`;

interface KeyRow {
  kid: string;
  alg: string;
  state: KeyState;
  private_jwk: string;
  public_jwk: string;
  created_at: number;
  activated_at: number | null;
  retired_at: number | null;
  delete_after: number | null;
}
interface ApiKeyRow {
  id: string;
  tenant: string;
  secret_hash: string;
  label: string | null;
  created_at: number;
  revoked_at: number | null;
}
interface RevocationRow {
  tenant: string;
  kind: Revocation['kind'];
  value: string;
  revoked_at: number;
  expires_at: number;
}

interface SessionFamilyRow {
  session_id: string;
  tenant: string;
  grants: string;
  current_hash: string;
  generation: number;
  created_at: number;
  last_used_at: number;
  expires_at: number;
  idle_expires_at: number;
  revoked_at: number | null;
}

export const STORE_FILE = 'callgate.db';

/**
 * The default store: SQLite in the data directory, durable across restarts. The directory is
 * created with mode 0700 and the database file (which holds private keys) with 0600. WAL mode
 * lets the CLI and a running server share it.
 *
 * @example
 * ```ts
 * const store = openSqliteStore('./.callgate');
 * ```
 */
export function openSqliteStore(dataDir: string): Store {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, STORE_FILE);
  const fresh = !existsSync(file);
  const db = new Database(file);
  for (const f of [file, `${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);
  db.pragma('journal_mode = WAL');
  db.pragma('busy_timeout = 5000');
  db.pragma('foreign_keys = ON');
  db.pragma('synchronous = NORMAL');
  db.exec(SCHEMA);
  if (fresh) for (const f of [`${file}-wal`, `${file}-shm`]) if (existsSync(f)) chmodSync(f, 0o600);

  const q = {
    listKeys: db.prepare<[], KeyRow>('SELECT * FROM keys ORDER BY created_at, kid'),
    upsertKey: db.prepare(
      `INSERT INTO keys (kid, alg, state, private_jwk, public_jwk, created_at, activated_at, retired_at, delete_after)
       VALUES (@kid, @alg, @state, @private_jwk, @public_jwk, @created_at, @activated_at, @retired_at, @delete_after)
       ON CONFLICT(kid) DO UPDATE SET state = excluded.state, activated_at = excluded.activated_at,
         retired_at = excluded.retired_at, delete_after = excluded.delete_after`,
    ),
    deleteKey: db.prepare<[string]>('DELETE FROM keys WHERE kid = ?'),
    insertTenant: db.prepare<[string, number]>(
      'INSERT INTO tenants (name, created_at) VALUES (?, ?)',
    ),
    getTenant: db.prepare<[string], { name: string; created_at: number }>(
      'SELECT * FROM tenants WHERE name = ?',
    ),
    listTenants: db.prepare<[], { name: string; created_at: number }>(
      'SELECT * FROM tenants ORDER BY name',
    ),
    deleteTenant: db.prepare<[string]>('DELETE FROM tenants WHERE name = ?'),
    insertApiKey: db.prepare(
      'INSERT INTO api_keys (id, tenant, secret_hash, label, created_at, revoked_at) VALUES (@id, @tenant, @secret_hash, @label, @created_at, @revoked_at)',
    ),
    getApiKey: db.prepare<[string], ApiKeyRow>('SELECT * FROM api_keys WHERE id = ?'),
    listApiKeys: db.prepare<[string], ApiKeyRow>(
      'SELECT * FROM api_keys WHERE tenant = ? ORDER BY created_at, id',
    ),
    revokeApiKey: db.prepare<[number, string, string]>(
      'UPDATE api_keys SET revoked_at = ? WHERE tenant = ? AND id = ? AND revoked_at IS NULL',
    ),
    addRevocation: db.prepare(
      `INSERT INTO revocations (tenant, kind, value, revoked_at, expires_at) VALUES (@tenant, @kind, @value, @revoked_at, @expires_at)
       ON CONFLICT(tenant, kind, value) DO UPDATE SET expires_at = MAX(expires_at, excluded.expires_at)`,
    ),
    listRevocations: db.prepare<[number], RevocationRow>(
      'SELECT * FROM revocations WHERE expires_at > ?',
    ),
    purgeRevocations: db.prepare<[number]>('DELETE FROM revocations WHERE expires_at <= ?'),
    getSetting: db.prepare<[string], { value: string }>('SELECT value FROM settings WHERE key = ?'),
    setSetting: db.prepare<[string, string]>(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    ),
    setSettingIfAbsent: db.prepare<[string, string]>(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO NOTHING',
    ),
    insertFamily: db.prepare(
      `INSERT INTO session_families (session_id, tenant, grants, current_hash, generation, created_at, last_used_at, expires_at, idle_expires_at, revoked_at)
       VALUES (@session_id, @tenant, @grants, @current_hash, @generation, @created_at, @last_used_at, @expires_at, @idle_expires_at, @revoked_at)`,
    ),
    insertCredential: db.prepare<[string, string, SessionCredentialKind, number]>(
      'INSERT INTO session_credentials (hash, session_id, kind, generation) VALUES (?, ?, ?, ?)',
    ),
    getFamily: db.prepare<[string], SessionFamilyRow>(
      'SELECT * FROM session_families WHERE session_id = ?',
    ),
    findCredential: db.prepare<[string], { session_id: string; kind: SessionCredentialKind }>(
      'SELECT session_id, kind FROM session_credentials WHERE hash = ?',
    ),
    // The compare-and-swap of a rotation: only the request that still sees the expected hash
    // on a live family changes the row.
    rotate: db.prepare<[string, number, number, string, string, number, number]>(
      `UPDATE session_families SET current_hash = ?, generation = generation + 1, last_used_at = ?,
         idle_expires_at = ?
       WHERE session_id = ? AND current_hash = ? AND revoked_at IS NULL
         AND expires_at > ? AND idle_expires_at > ?`,
    ),
    revokeFamily: db.prepare<[number, string]>(
      'UPDATE session_families SET revoked_at = ? WHERE session_id = ? AND revoked_at IS NULL',
    ),
    purgeFamilies: db.prepare<[number]>(
      'DELETE FROM session_families WHERE MIN(expires_at, idle_expires_at) <= ?',
    ),
    health: db.prepare<[number]>(
      'INSERT INTO health (id, checked_at) VALUES (1, ?) ON CONFLICT(id) DO UPDATE SET checked_at = excluded.checked_at',
    ),
  };

  const saveKeys = db.transaction((upsert: StoredKey[], remove: string[]) => {
    for (const kid of remove) q.deleteKey.run(kid);
    for (const k of upsert)
      q.upsertKey.run({
        kid: k.kid,
        alg: k.alg,
        state: k.state,
        private_jwk: JSON.stringify(k.privateJwk),
        public_jwk: JSON.stringify(k.publicJwk),
        created_at: k.createdAt,
        activated_at: k.activatedAt,
        retired_at: k.retiredAt,
        delete_after: k.deleteAfter,
      });
  });

  const createFamily = db.transaction((f: SessionFamily) => {
    q.insertFamily.run({
      session_id: f.sessionId,
      tenant: f.tenant,
      grants: JSON.stringify(f.grants),
      current_hash: f.currentHash,
      generation: f.generation,
      created_at: f.createdAt,
      last_used_at: f.lastUsedAt,
      expires_at: f.expiresAt,
      idle_expires_at: f.idleExpiresAt,
      revoked_at: f.revokedAt,
    });
    q.insertCredential.run(f.currentHash, f.sessionId, 'grant', f.generation);
  });
  const rotate = db.transaction(
    (c: {
      sessionId: string;
      expectedHash: string;
      newHash: string;
      now: number;
      idleExpiresAt: number;
    }): SessionFamily | null => {
      const changed = q.rotate.run(
        c.newHash,
        c.now,
        c.idleExpiresAt,
        c.sessionId,
        c.expectedHash,
        c.now,
        c.now,
      ).changes;
      if (changed !== 1) return null;
      const row = q.getFamily.get(c.sessionId)!;
      q.insertCredential.run(c.newHash, c.sessionId, 'refresh', row.generation);
      return toFamily(row);
    },
  );

  const toFamily = (r: SessionFamilyRow): SessionFamily => ({
    sessionId: r.session_id,
    tenant: r.tenant,
    grants: JSON.parse(r.grants) as SessionFamily['grants'],
    currentHash: r.current_hash,
    generation: r.generation,
    createdAt: r.created_at,
    lastUsedAt: r.last_used_at,
    expiresAt: r.expires_at,
    idleExpiresAt: r.idle_expires_at,
    revokedAt: r.revoked_at,
  });
  const toKey = (r: KeyRow): StoredKey => ({
    kid: r.kid,
    alg: r.alg,
    state: r.state,
    privateJwk: JSON.parse(r.private_jwk) as JWK,
    publicJwk: JSON.parse(r.public_jwk) as JWK,
    createdAt: r.created_at,
    activatedAt: r.activated_at,
    retiredAt: r.retired_at,
    deleteAfter: r.delete_after,
  });
  const toApiKey = (r: ApiKeyRow): ApiKeyRecord => ({
    id: r.id,
    tenant: r.tenant,
    secretHash: r.secret_hash,
    label: r.label,
    createdAt: r.created_at,
    revokedAt: r.revoked_at,
  });
  const toTenant = (r: { name: string; created_at: number }): Tenant => ({
    name: r.name,
    createdAt: r.created_at,
  });

  let closed = false;
  return {
    kind: 'sqlite',
    async listKeys() {
      return q.listKeys.all().map(toKey);
    },
    async saveKeys({ upsert, remove }) {
      saveKeys(upsert, remove);
    },
    async createTenant(name, now) {
      try {
        q.insertTenant.run(name, now);
      } catch (err) {
        if ((err as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY')
          throw new StoreConflictError(`tenant ${name} already exists`);
        throw err;
      }
      return { name, createdAt: now };
    },
    async getTenant(name) {
      const r = q.getTenant.get(name);
      return r ? toTenant(r) : null;
    },
    async listTenants() {
      return q.listTenants.all().map(toTenant);
    },
    async deleteTenant(name) {
      return q.deleteTenant.run(name).changes > 0;
    },
    async createApiKey(k) {
      q.insertApiKey.run({
        id: k.id,
        tenant: k.tenant,
        secret_hash: k.secretHash,
        label: k.label,
        created_at: k.createdAt,
        revoked_at: k.revokedAt,
      });
    },
    async getApiKey(id) {
      const r = q.getApiKey.get(id);
      return r ? toApiKey(r) : null;
    },
    async listApiKeys(tenant) {
      return q.listApiKeys.all(tenant).map(toApiKey);
    },
    async revokeApiKey(tenant, id, now) {
      return q.revokeApiKey.run(now, tenant, id).changes > 0;
    },
    async addRevocation(r) {
      q.addRevocation.run({
        tenant: r.tenant,
        kind: r.kind,
        value: r.value,
        revoked_at: r.revokedAt,
        expires_at: r.expiresAt,
      });
    },
    async listRevocations(now) {
      return q.listRevocations.all(now).map((r) => ({
        tenant: r.tenant,
        kind: r.kind,
        value: r.value,
        revokedAt: r.revoked_at,
        expiresAt: r.expires_at,
      }));
    },
    async purgeRevocations(now) {
      return q.purgeRevocations.run(now).changes;
    },
    async createSessionFamily(family) {
      try {
        createFamily(family);
      } catch (err) {
        if (String((err as { code?: string }).code).startsWith('SQLITE_CONSTRAINT'))
          throw new StoreConflictError(`session ${family.sessionId} already exists`);
        throw err;
      }
    },
    async getSessionFamily(sessionId) {
      const r = q.getFamily.get(sessionId);
      return r ? toFamily(r) : null;
    },
    async findSessionCredential(hash) {
      const c = q.findCredential.get(hash);
      const r = c ? q.getFamily.get(c.session_id) : undefined;
      if (!c || !r) return null;
      return { family: toFamily(r), kind: c.kind, current: r.current_hash === hash };
    },
    async rotateSessionCredential(change) {
      // BEGIN IMMEDIATE: the write lock is taken before the compare, so a CLI or a second
      // server on the same file cannot interleave between the compare and the swap.
      return rotate.immediate(change);
    },
    async revokeSessionFamily(sessionId, now) {
      return q.revokeFamily.run(now, sessionId).changes > 0;
    },
    async purgeSessionFamilies(now) {
      return q.purgeFamilies.run(now).changes;
    },
    async getSetting(key) {
      return q.getSetting.get(key)?.value ?? null;
    },
    async setSetting(key, value) {
      q.setSetting.run(key, value);
    },
    async setSettingIfAbsent(key, value) {
      q.setSettingIfAbsent.run(key, value);
      return q.getSetting.get(key)!.value;
    },
    async changeVersion() {
      // PRAGMA data_version changes when another connection commits (sqlite.org/pragma.html#pragma_data_version).
      return db.pragma('data_version', { simple: true }) as number;
    },
    async check() {
      if (closed) throw new Error('store is closed');
      // A write proves more than a read: a read-only file would accept tokens it cannot revoke.
      accessSync(file, constants.W_OK);
      // access(2) always succeeds for root, and an open SQLite handle keeps writing to a file
      // chmod'ed read-only: the mode bits are the operator's word that the store is frozen.
      if ((statSync(file).mode & 0o222) === 0)
        throw Object.assign(new Error('the store file has no write permission'), {
          code: 'EACCES',
        });
      q.health.run(Date.now());
    },
    async close() {
      if (!closed) {
        closed = true;
        db.close();
      }
    },
  };
}
