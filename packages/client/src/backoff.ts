/**
 * Reconnect backoff settings: the delay before reconnect attempt `n` (0-based, counted since
 * the last successful `welcome`) is
 *
 * ```
 * base  = min(maxDelayMs, initialDelayMs * factor ** n)
 * delay = round(base * (1 - jitter * random()))
 * ```
 *
 * so it never exceeds `maxDelayMs` and jitter only shortens it (by up to `jitter` of it),
 * spreading a crowd of clients that lost the same server.
 *
 * @example
 * ```ts
 * const policy: BackoffOptions = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2, jitter: 0.5 };
 * ```
 */
export interface BackoffOptions {
  /** Delay before the first reconnect attempt, in ms. Default 500. */
  initialDelayMs: number;
  /** Upper bound of any delay, in ms. Default 30000. */
  maxDelayMs: number;
  /** Growth per failed attempt, at least 1. Default 2. */
  factor: number;
  /** Fraction of the delay that is randomised, 0..1. Default 0.5. */
  jitter: number;
}

/**
 * The defaults of {@link BackoffOptions}.
 *
 * @example
 * ```ts
 * createClient({ url, getToken, reconnect: { ...DEFAULT_BACKOFF, maxDelayMs: 10_000 } });
 * ```
 */
export const DEFAULT_BACKOFF: Readonly<BackoffOptions> = Object.freeze({
  initialDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
  jitter: 0.5,
});

/**
 * The delay before reconnect attempt `attempt` (0-based); `random` returns a number in [0, 1).
 *
 * @example
 * ```ts
 * backoffDelay(DEFAULT_BACKOFF, 0, () => 0); // 500
 * backoffDelay(DEFAULT_BACKOFF, 3, () => 0.5); // 3000 (4000 * 0.75)
 * ```
 */
export function backoffDelay(
  options: BackoffOptions,
  attempt: number,
  random: () => number,
): number {
  // Cap the exponent: factor ** attempt overflows to Infinity long before it matters.
  const exp = Math.min(attempt, 64);
  const base = Math.min(options.maxDelayMs, options.initialDelayMs * options.factor ** exp);
  const r = Math.min(1, Math.max(0, random()));
  return Math.max(0, Math.round(base * (1 - options.jitter * r)));
}
