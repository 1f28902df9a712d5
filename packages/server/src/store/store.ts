import type { JWK } from 'jose';
import type { RoomGrants, TokenKind } from '@callgate/protocol';

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

/** What every access token of a browser session carries: fixed when the backend starts it. */
export interface SessionGrants {
  sub: string;
  rooms: RoomGrants;
  kind: TokenKind;
  metadata?: Record<string, unknown>;
  /** Lifetime of each access token the session yields. */
  ttlSeconds: number;
}

/**
 * A browser session's refresh family (docs/sessions.md): one chain of single-use credentials,
 * the one-time grant first, then each refresh credential. Only SHA-256 hashes are stored.
 */
export interface SessionFamily {
  /** The session id: the `sid` of every access token of the session, and the family's key. */
  sessionId: string;
  tenant: string;
  grants: SessionGrants;
  /** SHA-256 (hex) of the one live credential: the grant until exchanged, then a refresh one. */
  currentHash: string;
  /** 0 for the grant, one more per exchange or refresh. */
  generation: number;
  createdAt: number;
  lastUsedAt: number;
  /** Absolute end of the session. */
  expiresAt: number;
  /** The next deadline: the grant's expiry, then last use + idle timeout (never past `expiresAt`). */
  idleExpiresAt: number;
  /** Set once the family is revoked (logout, reuse, API revocation). */
  revokedAt: number | null;
}

export type SessionCredentialKind = 'grant' | 'refresh';

/** A presented credential found in the store: its family, and whether it is still the live one. */
export interface SessionCredentialMatch {
  family: SessionFamily;
  kind: SessionCredentialKind;
  current: boolean;
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
  // Browser-session refresh families.
  /** Stores a new family whose live credential (`currentHash`) is its grant. */
  createSessionFamily(family: SessionFamily): Promise<void>;
  getSessionFamily(sessionId: string): Promise<SessionFamily | null>;
  /** Finds a family by the hash of any credential it ever had (so reuse can be detected). */
  findSessionCredential(hash: string): Promise<SessionCredentialMatch | null>;
  /**
   * Compare-and-swap, atomic: replaces the family's live credential with `newHash` only when it
   * is still `expectedHash` and the family is live at `now`. Returns the updated family, or null
   * when another request rotated it first (or it ended): of two concurrent refreshes with one
   * credential, exactly one wins.
   */
  rotateSessionCredential(change: {
    sessionId: string;
    expectedHash: string;
    newHash: string;
    now: number;
    idleExpiresAt: number;
  }): Promise<SessionFamily | null>;
  /** Marks the family revoked; false when it does not exist or was already revoked. */
  revokeSessionFamily(sessionId: string, now: number): Promise<boolean>;
  /** Deletes families (and their credential hashes) past their absolute or idle end. */
  purgeSessionFamilies(now: number): Promise<number>;
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
