export interface LagMonitor {
  /** The current event-loop lag estimate in ms: the latest drift, decaying by half per interval. */
  lagMs(): number;
  stop(): void;
}

/**
 * Measures event-loop lag the way toobusy does: a timer that should fire every `intervalMs`
 * fires late by however long the loop was blocked. The estimate jumps to a new high at once and
 * halves every interval after, so one long stall sheds load briefly, a busy loop keeps shedding.
 * Uses the monotonic clock (never the injected one: lag is physical time).
 *
 * @example
 * ```ts
 * const lag = createLagMonitor(100);
 * if (lag.lagMs() > 500) refuse(503);
 * ```
 */
export function createLagMonitor(intervalMs = 100): LagMonitor {
  if (!(intervalMs > 0)) throw new RangeError('"intervalMs" must be positive');
  let estimate = 0;
  let expected = performance.now() + intervalMs;
  const timer = setInterval(() => {
    const now = performance.now();
    const drift = Math.max(0, now - expected);
    expected = now + intervalMs;
    estimate = Math.max(drift, estimate / 2);
  }, intervalMs);
  timer.unref();
  return {
    lagMs: () => {
      // A stall still in progress is invisible to the timer; count the time since it was due.
      const overdue = performance.now() - expected;
      return Math.max(estimate, overdue > intervalMs ? overdue : 0);
    },
    stop: () => clearInterval(timer),
  };
}
