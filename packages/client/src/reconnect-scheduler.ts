import { backoffDelay, type BackoffOptions } from './backoff.js';
import type { Clock } from './clock.js';

/**
 * When to try again after a close: after `going_away`'s `retryAfterMs` when the server sent
 * one on the connection that closed (design.md "Shutdown"), else after the backoff delay of
 * the current attempt. A `welcome` resets both.
 *
 * @example
 * ```ts
 * const s = new ReconnectScheduler(clock, Math.random, DEFAULT_BACKOFF);
 * const delayMs = s.schedule(() => reconnect());
 * ```
 */
export class ReconnectScheduler {
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #backoff: BackoffOptions;
  /** Failed attempts since the last `welcome`: the backoff exponent. */
  #attempt = 0;
  #retryAfterMs: number | undefined;
  #cancel: (() => void) | null = null;

  constructor(clock: Clock, random: () => number, backoff: BackoffOptions) {
    this.#clock = clock;
    this.#random = random;
    this.#backoff = backoff;
  }

  /** The server sent `going_away {retryAfterMs}` on the current connection. */
  goingAway(retryAfterMs: number): void {
    this.#retryAfterMs = retryAfterMs;
  }

  /** A `welcome` arrived: the next failure starts the backoff from the beginning. */
  connected(): void {
    this.#attempt = 0;
    this.#retryAfterMs = undefined;
  }

  /** Calls `attempt` after the due delay (replacing any pending one); returns the delay. */
  schedule(attempt: () => void): number {
    this.cancel();
    let delayMs = this.#retryAfterMs;
    this.#retryAfterMs = undefined;
    if (delayMs === undefined) delayMs = backoffDelay(this.#backoff, this.#attempt++, this.#random);
    this.#cancel = this.#clock.setTimer(() => {
      this.#cancel = null;
      attempt();
    }, delayMs);
    return delayMs;
  }

  /** Drops the pending attempt, if any. */
  cancel(): void {
    this.#cancel?.();
    this.#cancel = null;
  }

  /** Forgets everything (the client stopped). */
  reset(): void {
    this.cancel();
    this.connected();
  }
}
