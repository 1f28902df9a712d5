import type { Store, Revocation } from '../store/store.js';
import type { Clock } from '../util/clock.js';

/**
 * An in-memory mirror of the store's revocations, so the check on every signaling message is
 * O(1) and never touches the database. Writes go to the store first, then here; `reload()`
 * picks up revocations made by other processes.
 */
export class RevocationList {
  readonly #store: Store;
  readonly #clock: Clock;
  #entries = new Map<string, number>();
  #version = 0;

  constructor(store: Store, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  async reload(): Promise<void> {
    const now = this.#clock.now();
    const list = await this.#store.listRevocations(now);
    this.#entries = new Map(list.map((r) => [key(r.tenant, r.kind, r.value), r.expiresAt]));
    this.#version++;
  }

  /**
   * Changes whenever a revocation may have been added (apply, reload): a caller that found a
   * session not revoked at one version need not look again until the version changes.
   */
  get version(): number {
    return this.#version;
  }

  /** Persists a revocation, then applies it locally. */
  async add(revocation: Revocation): Promise<void> {
    await this.#store.addRevocation(revocation);
    this.apply(revocation);
  }

  /** Applies a revocation learnt from elsewhere (the bus) without persisting it. */
  apply(revocation: Revocation): void {
    const k = key(revocation.tenant, revocation.kind, revocation.value);
    this.#entries.set(k, Math.max(this.#entries.get(k) ?? 0, revocation.expiresAt));
    this.#version++;
  }

  /** True when the tenant, the session or the token is revoked. */
  isRevoked(tenant: string, sid: string, jti?: string): boolean {
    if (this.#entries.size === 0) return false;
    const now = this.#clock.now();
    return (
      this.#live(key(tenant, 'tenant', tenant), now) ||
      this.#live(key(tenant, 'sid', sid), now) ||
      (jti !== undefined && this.#live(key(tenant, 'jti', jti), now))
    );
  }

  /** Drops expired entries here and in the store. */
  async purge(): Promise<void> {
    const now = this.#clock.now();
    for (const [k, exp] of this.#entries) if (exp <= now) this.#entries.delete(k);
    await this.#store.purgeRevocations(now);
  }

  #live(k: string, now: number): boolean {
    const exp = this.#entries.get(k);
    return exp !== undefined && exp > now;
  }
}

function key(tenant: string, kind: string, value: string): string {
  return `${tenant}\u0000${kind}\u0000${value}`;
}
