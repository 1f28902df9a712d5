import type { Clock } from '../util/clock.js';
import {
  importVerificationKeySet,
  UnusableKeyError,
  type VerificationKey,
} from './verification-key.js';
import { fetchJwks, JwksFetchError, type FetchJwksOptions } from './fetch-jwks.js';

export interface RemoteKeySetOptions {
  jwksUri: string;
  clock: Clock;
  timeoutMs: number;
  /** At most one fetch per this interval, whatever the traffic (catalogue C36). */
  cooldownMs: number;
  /** A set older than this is not used until a fetch succeeds (fail closed, catalogue C41). */
  cacheMaxAgeMs: number;
  maxBytes: number;
  allowLoopback: boolean;
  /** The fetcher (tests inject one); defaults to {@link fetchJwks}. */
  fetch?: (uri: string, options: FetchJwksOptions) => Promise<unknown>;
  /** Told about every fetch, for the log. */
  onFetch?: (event: KeySetFetchEvent) => void;
}

export type KeySetFetchEvent =
  | { ok: true; keys: number; rejected: Array<{ kid: string | undefined; reason: string }> }
  | { ok: false; reason: string };

/** No usable key set: the issuer could not be reached and no fresh copy is cached. */
export class KeySetUnavailableError extends Error {
  /** When the next fetch may be tried. */
  readonly retryAfterMs: number;
  readonly reason: string;
  constructor(reason: string, retryAfterMs: number) {
    super(`JWKS unavailable: ${reason}`);
    this.name = 'KeySetUnavailableError';
    this.reason = reason;
    this.retryAfterMs = retryAfterMs;
  }
}

// Past this share of the cache age a key still verifies, and a fetch starts in the background,
// so an outage shorter than the remaining share never fails a token.
const REFRESH_AHEAD = 0.8;

/**
 * One external issuer's JWKS, fetched on demand and cached. Keys are looked up by `kid`
 * within this issuer's set only: each trusted issuer has its own instance, so a `kid` that
 * two issuers both use can never select the other's key (catalogue C43; Centrifugo
 * GHSA-g6vg-wj8f-48cj keyed its cache by `kid` alone).
 *
 * - Every JWK goes through {@link importVerificationKeySet} (private members refuse the whole
 *   set; duplicate `kid`, `use: enc`, weak RSA and the like make the key unusable; C38/C39).
 * - An unknown `kid` triggers a refetch (the issuer may have rotated), but at most one fetch
 *   starts per `cooldownMs` however many tokens arrive, and concurrent callers share the one
 *   in flight (C36, as jose's `createRemoteJWKSet`).
 * - A failed fetch keeps a still-fresh set; with no fresh set the lookup throws
 *   {@link KeySetUnavailableError} (fail closed, C41): a token is never accepted on stale or
 *   unverified keys.
 *
 * @example
 * ```ts
 * const keys = new RemoteKeySet({ jwksUri, clock, timeoutMs: 5000, cooldownMs: 30_000,
 *   cacheMaxAgeMs: 600_000, maxBytes: 262_144, allowLoopback: false });
 * const key = await keys.resolve(kid); // undefined: unknown kid; throws when unavailable
 * ```
 */
export class RemoteKeySet {
  readonly #o: RemoteKeySetOptions;
  #keys: ReadonlyMap<string, VerificationKey> | undefined;
  #fetchedAt = Number.NEGATIVE_INFINITY;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #lastFailure = 'not fetched yet';
  #inflight: Promise<void> | undefined;

  constructor(options: RemoteKeySetOptions) {
    this.#o = options;
  }

  /** The key for `kid` in this issuer's set, or undefined when the set has none. */
  async resolve(kid: string): Promise<VerificationKey | undefined> {
    const now = this.#o.clock.now();
    if (this.#isFresh(now)) {
      const key = this.#keys!.get(kid);
      if (key !== undefined) {
        if (now - this.#fetchedAt >= this.#o.cacheMaxAgeMs * REFRESH_AHEAD && this.#mayFetch(now))
          this.#reload().catch(() => {});
        return key;
      }
      // Unknown kid: perhaps a rotation. A failed fetch leaves the fresh set as it was.
      if (this.#mayFetch(now)) await this.#reload().catch(() => {});
      return this.#keys?.get(kid);
    }
    if (this.#mayFetch(now)) await this.#reload().catch(() => {});
    if (this.#isFresh(this.#o.clock.now())) return this.#keys!.get(kid);
    const wait = this.#o.cooldownMs - (this.#o.clock.now() - this.#attemptedAt);
    throw new KeySetUnavailableError(this.#lastFailure, Math.max(1000, wait));
  }

  /** Fetches now unless a fetch is in flight or the cooldown has not passed (startup warm-up). */
  warmUp(): Promise<void> {
    if (!this.#mayFetch(this.#o.clock.now())) return this.#inflight ?? Promise.resolve();
    return this.#reload().catch(() => {});
  }

  #isFresh(now: number): boolean {
    return this.#keys !== undefined && now - this.#fetchedAt < this.#o.cacheMaxAgeMs;
  }

  /** A fetch in flight can always be joined; a new one only after the cooldown. */
  #mayFetch(now: number): boolean {
    return this.#inflight !== undefined || now - this.#attemptedAt >= this.#o.cooldownMs;
  }

  #reload(): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight;
    this.#attemptedAt = this.#o.clock.now();
    const fetch = this.#o.fetch ?? fetchJwks;
    this.#inflight = fetch(this.#o.jwksUri, {
      timeoutMs: this.#o.timeoutMs,
      maxBytes: this.#o.maxBytes,
      allowLoopback: this.#o.allowLoopback,
    })
      .then((json) => {
        const { keys, rejected } = importVerificationKeySet(json);
        this.#keys = keys;
        this.#fetchedAt = this.#o.clock.now();
        this.#o.onFetch?.({
          ok: true,
          keys: keys.size,
          rejected: rejected.map((r) => ({ kid: r.kid, reason: r.reason })),
        });
      })
      .catch((err: unknown) => {
        this.#lastFailure =
          err instanceof JwksFetchError || err instanceof UnusableKeyError
            ? err.reason
            : 'fetch failed';
        this.#o.onFetch?.({ ok: false, reason: this.#lastFailure });
        throw err;
      })
      .finally(() => {
        this.#inflight = undefined;
      });
    return this.#inflight;
  }
}
