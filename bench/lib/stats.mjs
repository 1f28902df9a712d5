// Latency samples and percentiles.

/** Below 2^SUB_BITS+1 µs (2.048 ms) every microsecond has a bucket of its own. */
const SUB_BITS = 10;
const SUB = 1 << SUB_BITS;
/** Values up to 2^31 µs (about 36 minutes); anything above lands in the last bucket. */
const TOP_BIT = 31;
const BUCKETS = 2 * SUB + (TOP_BIT - SUB_BITS) * SUB;

/**
 * Latency samples in milliseconds, kept as a log-linear histogram of whole microseconds (the
 * layout of HdrHistogram with three significant digits): exact to the microsecond up to
 * 2.048 ms, within 1/2048 of the value above. Adding a sample is O(1) and a summary walks the
 * fixed buckets, so neither stops the generator: the sorted buffer this replaces took 3.6 ms
 * per 40,000 samples to summarize, and an open-loop generator summarizing three of them
 * between two measured windows sent nothing for ~11 ms, a backlog that landed in the next
 * window's tail (BENCHMARKS.md, "The instrument's own pauses").
 */
export class Samples {
  constructor() {
    this.counts = new Uint32Array(BUCKETS);
    this.count = 0;
    this.maxUs = 0;
  }

  /** @param {number} ms */
  add(ms) {
    const us = ms > 0 ? Math.round(ms * 1000) : 0;
    this.counts[bucketOf(us)]++;
    this.count++;
    if (us > this.maxUs) this.maxUs = us;
  }

  reset() {
    this.counts.fill(0);
    this.count = 0;
    this.maxUs = 0;
  }

  /**
   * The sample at rank floor(q·n) of the sorted samples for each q (the nearest-rank
   * percentile), as the middle of its bucket and never above the largest sample.
   *
   * @returns {{ n: number, p50: number, p90: number, p99: number, p999: number, max: number }}
   */
  summary() {
    const n = this.count;
    /** @param {number} q */
    const at = (q) => {
      if (n === 0) return NaN;
      const rank = Math.min(n - 1, Math.floor(q * n));
      let seen = 0;
      for (let b = 0; b < BUCKETS; b++) {
        seen += this.counts[b] ?? 0;
        if (seen > rank) return round(Math.min(middleOf(b), this.maxUs) / 1000);
      }
      return NaN; // not reached: the buckets hold all n samples
    };
    return {
      n,
      p50: at(0.5),
      p90: at(0.9),
      p99: at(0.99),
      p999: at(0.999),
      max: n === 0 ? NaN : round(this.maxUs / 1000),
    };
  }
}

/** @param {number} us a whole number of microseconds >= 0 */
export function bucketOf(us) {
  if (us < 2 * SUB) return us;
  if (us >= 2 ** TOP_BIT) return BUCKETS - 1;
  const msb = 31 - Math.clz32(us);
  const shift = msb - SUB_BITS;
  return 2 * SUB + (shift - 1) * SUB + ((us >>> shift) - SUB);
}

/** The middle of bucket `b`, in microseconds (the value itself below 2 * SUB). */
function middleOf(/** @type {number} */ b) {
  if (b < 2 * SUB) return b;
  const shift = Math.floor((b - 2 * SUB) / SUB) + 1;
  const low = ((b - 2 * SUB) % SUB) + SUB;
  return low * 2 ** shift + (2 ** shift - 1) / 2;
}

/**
 * @param {number} x
 * @param {number} [digits]
 */
export function round(x, digits = 3) {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}
