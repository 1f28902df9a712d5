import type { Clock } from '../../src/clock.js';

interface Timer {
  seq: number;
  at: number;
  delay: number;
  callback: () => void;
}

/**
 * A clock that moves only when told: timers fire inside `advance()`, in due order, so
 * backoff and refresh delays can be asserted exactly.
 */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #seq = 0;

  constructor(start = 1_000_000) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimer(callback: () => void, delayMs: number): () => void {
    const timer: Timer = { seq: this.#seq++, at: this.#now + delayMs, delay: delayMs, callback };
    this.#timers.push(timer);
    return () => {
      const i = this.#timers.indexOf(timer);
      if (i !== -1) this.#timers.splice(i, 1);
    };
  }

  /** The delay each pending timer was set with, in due order. */
  pending(): number[] {
    return this.#sorted().map((t) => t.delay);
  }

  /** Time left until each pending timer fires, in due order. */
  remaining(): number[] {
    return this.#sorted().map((t) => t.at - this.#now);
  }

  /** Moves time forward by `ms`, firing every timer that falls due (including new ones). */
  advance(ms: number): void {
    const target = this.#now + ms;
    for (;;) {
      const next = this.#sorted()[0];
      if (!next || next.at > target) break;
      this.#timers.splice(this.#timers.indexOf(next), 1);
      this.#now = Math.max(this.#now, next.at);
      next.callback();
    }
    this.#now = target;
  }

  #sorted(): Timer[] {
    return [...this.#timers].sort((a, b) => a.at - b.at || a.seq - b.seq);
  }
}
