import {
  StoreConflictError,
  type ApiKeyRecord,
  type Revocation,
  type Store,
  type StoredKey,
  type Tenant,
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
