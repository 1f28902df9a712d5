import type { Clock } from './clock.js';

export interface RateLimiterOptions {
  /** Tokens added per second. */
  ratePerSecond: number;
  /** Bucket size. */
  burst: number;
  /** Most keys tracked; the least recently refilled are evicted past it (bounded memory). */
  maxKeys?: number;
  clock: Clock;
}

interface Bucket {
  tokens: number;
  updatedMs: number;
}

/**
 * Token buckets keyed by a string (an IP, a user). `take(key)` returns 0 when allowed, or the
 * milliseconds until one token is available (for `Retry-After`).
 *
 * @example
 * ```ts
 * const limiter = createRateLimiter({ ratePerSecond: 20, burst: 40, clock: systemClock });
 * const waitMs = limiter.take(ip);
 * if (waitMs > 0) res.setHeader('Retry-After', Math.ceil(waitMs / 1000));
 * ```
 */
export function createRateLimiter(options: RateLimiterOptions): {
  take(key: string, cost?: number): number;
} {
  if (!(options.ratePerSecond > 0)) throw new RangeError('"ratePerSecond" must be positive');
  if (!(options.burst >= 1)) throw new RangeError('"burst" must be at least 1');
  const maxKeys = options.maxKeys ?? 100_000;
  const buckets = new Map<string, Bucket>();
  const perMs = options.ratePerSecond / 1000;
  return {
    take(key: string, cost = 1): number {
      const now = options.clock.now();
      let b = buckets.get(key);
      if (b === undefined) {
        if (buckets.size >= maxKeys) {
          // Map iterates in insertion order: drop the oldest entry.
          const oldest = buckets.keys().next().value;
          if (oldest !== undefined) buckets.delete(oldest);
        }
        b = { tokens: options.burst, updatedMs: now };
        buckets.set(key, b);
      } else {
        // Elapsed time is never negative: a clock stepped backwards must not drain the bucket.
        b.tokens = Math.min(options.burst, b.tokens + Math.max(0, now - b.updatedMs) * perMs);
        b.updatedMs = now;
      }
      if (b.tokens >= cost) {
        b.tokens -= cost;
        return 0;
      }
      return Math.ceil((cost - b.tokens) / perMs);
    },
  };
}
