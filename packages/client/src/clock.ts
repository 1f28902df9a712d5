/**
 * Time as the client sees it: the current time and one-shot timers. Injected so that refresh
 * scheduling, backoff and request timeouts can be tested without sleeping; the default is
 * {@link systemClock}.
 *
 * @example
 * ```ts
 * const cancel = clock.setTimer(() => console.log('later'), 1000);
 * cancel(); // never fires
 * ```
 */
export interface Clock {
  /** Milliseconds since the UNIX epoch. */
  now(): number;
  /** Calls `callback` once after `delayMs`; the returned function cancels it. */
  setTimer(callback: () => void, delayMs: number): () => void;
}

/**
 * `Date.now()` and `setTimeout`.
 *
 * @example
 * ```ts
 * createClient({ url, getToken, clock: systemClock }); // the same as leaving `clock` out
 * ```
 */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(callback, delayMs) {
    const handle = setTimeout(callback, delayMs);
    return () => clearTimeout(handle);
  },
};
