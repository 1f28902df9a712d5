// Latency samples and percentiles.

/** A bounded buffer of latency samples in milliseconds. */
export class Samples {
  /** @param {number} capacity */
  constructor(capacity) {
    this.values = new Float64Array(capacity);
    this.count = 0;
    /** Samples that did not fit (still counted in `total`). */
    this.dropped = 0;
  }

  /** @param {number} ms */
  add(ms) {
    if (this.count < this.values.length) this.values[this.count++] = ms;
    else this.dropped++;
  }

  reset() {
    this.count = 0;
    this.dropped = 0;
  }

  /** @returns {{ n: number, p50: number, p90: number, p99: number, p999: number, max: number }} */
  summary() {
    const v = this.values.subarray(0, this.count).sort();
    /** @param {number} q */
    const at = (q) => (v.length === 0 ? NaN : v[Math.min(v.length - 1, Math.floor(q * v.length))]);
    return {
      n: this.count + this.dropped,
      p50: round(at(0.5)),
      p90: round(at(0.9)),
      p99: round(at(0.99)),
      p999: round(at(0.999)),
      max: round(v.length === 0 ? NaN : v[v.length - 1]),
    };
  }
}

/**
 * @param {number} x
 * @param {number} [digits]
 */
export function round(x, digits = 3) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
