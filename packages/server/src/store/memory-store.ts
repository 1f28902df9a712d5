import {
  StoreConflictError,
  type ApiKeyRecord,
  type Revocation,
  type Store,
  type StoredKey,
  type Tenant,
  type SessionCredentialKind,
  type SessionFamily,
} from './store.js';

/**
 * An in-memory store for tests and ephemeral runs. Same contract as the SQLite store; nothing
 * survives the process.
 */
export function createMemoryStore(): Store {
  const keys = new Map<string, StoredKey>();
  const tenants = new Map<string, Tenant>();
  const apiKeys = new Map<string, ApiKeyRecord>();
  const revocations = new Map<string, Revocation>();
  const settings = new Map<string, string>();
  const families = new Map<string, SessionFamily>();
  const credentials = new Map<string, { sessionId: string; kind: SessionCredentialKind }>();
  let closed = false;
  const clone = <T>(v: T): T => structuredClone(v);
  const revKey = (r: Pick<Revocation, 'tenant' | 'kind' | 'value'>) =>
    `${r.tenant}\u0000${r.kind}\u0000${r.value}`;

  return {
    kind: 'memory',
    async listKeys() {
      return [...keys.values()]
        .sort((a, b) => a.createdAt - b.createdAt || a.kid.localeCompare(b.kid))
        .map(clone);
    },
    async saveKeys({ upsert, remove }) {
      for (const kid of remove) keys.delete(kid);
      for (const k of upsert) keys.set(k.kid, clone(k));
    },
    async createTenant(name, now) {
      if (tenants.has(name)) throw new StoreConflictError(`tenant ${name} already exists`);
      const t = { name, createdAt: now };
      tenants.set(name, t);
      return clone(t);
    },
    async getTenant(name) {
      const t = tenants.get(name);
      return t ? clone(t) : null;
    },
    async listTenants() {
      return [...tenants.values()].sort((a, b) => a.name.localeCompare(b.name)).map(clone);
    },
    async deleteTenant(name) {
      if (!tenants.delete(name)) return false;
      for (const [id, k] of apiKeys) if (k.tenant === name) apiKeys.delete(id);
      return true;
    },
    async createApiKey(record) {
      if (!tenants.has(record.tenant)) throw new Error(`tenant ${record.tenant} does not exist`);
      apiKeys.set(record.id, clone(record));
    },
    async getApiKey(id) {
      const k = apiKeys.get(id);
      return k ? clone(k) : null;
    },
    async listApiKeys(tenant) {
      return [...apiKeys.values()].filter((k) => k.tenant === tenant).map(clone);
    },
    async revokeApiKey(tenant, id, now) {
      const k = apiKeys.get(id);
      if (!k || k.tenant !== tenant || k.revokedAt !== null) return false;
      k.revokedAt = now;
      return true;
    },
    async addRevocation(r) {
      const existing = revocations.get(revKey(r));
      revocations.set(
        revKey(r),
        existing ? { ...existing, expiresAt: Math.max(existing.expiresAt, r.expiresAt) } : clone(r),
      );
    },
    async listRevocations(now) {
      return [...revocations.values()].filter((r) => r.expiresAt > now).map(clone);
    },
    async purgeRevocations(now) {
      let n = 0;
      for (const [k, r] of revocations)
        if (r.expiresAt <= now) {
          revocations.delete(k);
          n++;
        }
      return n;
    },
    async createSessionFamily(family) {
      if (families.has(family.sessionId) || credentials.has(family.currentHash))
        throw new StoreConflictError(`session ${family.sessionId} already exists`);
      families.set(family.sessionId, clone(family));
      credentials.set(family.currentHash, { sessionId: family.sessionId, kind: 'grant' });
    },
    async getSessionFamily(sessionId) {
      const f = families.get(sessionId);
      return f ? clone(f) : null;
    },
    async findSessionCredential(hash) {
      const c = credentials.get(hash);
      const f = c && families.get(c.sessionId);
      if (!c || !f) return null;
      return { family: clone(f), kind: c.kind, current: f.currentHash === hash };
    },
    async rotateSessionCredential({ sessionId, expectedHash, newHash, now, idleExpiresAt }) {
      // Synchronous from compare to swap: no other request runs in between.
      const f = families.get(sessionId);
      if (
        !f ||
        f.currentHash !== expectedHash ||
        f.revokedAt !== null ||
        f.expiresAt <= now ||
        f.idleExpiresAt <= now
      )
        return null;
      f.currentHash = newHash;
      f.generation += 1;
      f.lastUsedAt = now;
      f.idleExpiresAt = idleExpiresAt;
      credentials.set(newHash, { sessionId, kind: 'refresh' });
      return clone(f);
    },
    async revokeSessionFamily(sessionId, now) {
      const f = families.get(sessionId);
      if (!f || f.revokedAt !== null) return false;
      f.revokedAt = now;
      return true;
    },
    async purgeSessionFamilies(now) {
      let n = 0;
      for (const [sid, f] of families)
        if (Math.min(f.expiresAt, f.idleExpiresAt) <= now) {
          families.delete(sid);
          n++;
        }
      for (const [hash, c] of credentials) if (!families.has(c.sessionId)) credentials.delete(hash);
      return n;
    },
    async getSetting(key) {
      return settings.get(key) ?? null;
    },
    async setSetting(key, value) {
      settings.set(key, value);
    },
    async setSettingIfAbsent(key, value) {
      if (!settings.has(key)) settings.set(key, value);
      return settings.get(key)!;
    },
    async changeVersion() {
      return 0;
    },
    async check() {
      if (closed) throw new Error('store is closed');
    },
    async close() {
      closed = true;
    },
  };
}
