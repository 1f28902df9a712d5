import type { JWK } from 'jose';

/** Keyring states (design.md "Keys and JWKS"). */
export type KeyState = 'next' | 'current' | 'retired';

export interface StoredKey {
  kid: string;
  alg: string;
  state: KeyState;
  /** Private JWK: never leaves the store except to the signer. */
  privateJwk: JWK;
  publicJwk: JWK;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
  /** For retired keys: when every token it signed has expired. */
  deleteAfter: number | null;
}

export interface Tenant {
  name: string;
  createdAt: number;
}

export interface ApiKeyRecord {
  id: string;
  tenant: string;
  /** SHA-256 of the secret part, hex. */
  secretHash: string;
  label: string | null;
  createdAt: number;
  revokedAt: number | null;
}

export type RevocationKind = 'sid' | 'jti' | 'tenant';

export interface Revocation {
  tenant: string;
  kind: RevocationKind;
  /** The session id, token id, or the tenant name for `tenant`. */
  value: string;
  revokedAt: number;
  /** Kept until every token it covers has expired; then purged. */
  expiresAt: number;
}

/**
 * The persistence seam (design.md "Store and bus"). The signaling core and the token service
 * use this interface only. All times are milliseconds since the epoch.
 */
export interface Store {
  readonly kind: string;
  // Keyring.
  listKeys(): Promise<StoredKey[]>;
  /** Replaces the whole keyring atomically (rotation moves several keys at once). */
  saveKeys(change: { upsert: StoredKey[]; remove: string[] }): Promise<void>;
  // Tenants.
  createTenant(name: string, now: number): Promise<Tenant>;
  getTenant(name: string): Promise<Tenant | null>;
  listTenants(): Promise<Tenant[]>;
  /** Deletes the tenant and its API keys. Returns false when it did not exist. */
  deleteTenant(name: string): Promise<boolean>;
  // API keys.
  createApiKey(record: ApiKeyRecord): Promise<void>;
  getApiKey(id: string): Promise<ApiKeyRecord | null>;
  listApiKeys(tenant: string): Promise<ApiKeyRecord[]>;
  revokeApiKey(tenant: string, id: string, now: number): Promise<boolean>;
  // Revocations.
  addRevocation(revocation: Revocation): Promise<void>;
  /** Revocations not yet expired at `now`. */
  listRevocations(now: number): Promise<Revocation[]>;
  purgeRevocations(now: number): Promise<number>;
  // Small settings (e.g. a generated TURN secret).
  getSetting(key: string): Promise<string | null>;
  setSetting(key: string, value: string): Promise<void>;
  /** Set a setting only if absent; returns the value that is stored afterwards. */
  setSettingIfAbsent(key: string, value: string): Promise<string>;
  /**
   * A counter that changes whenever another process (the CLI) wrote to the store, so a running
   * server can reload its caches cheaply.
   */
  changeVersion(): Promise<number>;
  /** Proves the store is reachable and writable (readiness). Throws with the reason. */
  check(): Promise<void>;
  close(): Promise<void>;
}

/** Thrown by `createTenant` for an existing name. */
export class StoreConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StoreConflictError';
  }
}
