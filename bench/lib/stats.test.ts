// The generator's latency histogram against exact percentiles of the same samples.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Samples, bucketOf } from './stats.mjs';

/** The nearest-rank percentile of sorted `v` (what the harness reported before the histogram). */
function exact(v: Float64Array, q: number): number {
  return v[Math.min(v.length - 1, Math.floor(q * v.length))] as number;
}

/** A small deterministic PRNG (mulberry32), so a failure can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test('percentiles match the sorted samples: exact to 1 µs below 2.048 ms, within 1/2048 above', () => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const rand = prng(seed);
    const n = 1 + Math.floor(rand() * 60_000);
    const s = new Samples();
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      // Mostly 0.2–3 ms, a tail to ~2 s, some exact zeros and a few negatives (clock rounding).
      const r = rand();
      const ms =
        r < 0.01 ? 0 : r < 0.02 ? -0.0004 : r < 0.97 ? 0.2 + rand() * 2.8 : rand() ** 3 * 2000;
      // What the histogram keeps: whole microseconds, nothing below zero.
      v[i] = Math.max(0, Math.round(ms * 1000)) / 1000;
      s.add(ms);
    }
    v.sort();
    const got = s.summary();
    assert.equal(got.n, n);
    assert.equal(got.max, v[n - 1]);
    for (const [key, q] of [
      ['p50', 0.5],
      ['p90', 0.9],
      ['p99', 0.99],
      ['p999', 0.999],
    ] as const) {
      const want = exact(v, q);
      const tolerance = want < 2.048 ? 0.0005 : want / 2048 + 0.0005;
      assert.ok(
        Math.abs(got[key] - want) <= tolerance,
        `seed ${seed}, ${key}: ${got[key]} against ${want} (n ${n})`,
      );
    }
  }
});

test('buckets are monotonic and contiguous over the whole range', () => {
  let last = -1;
  for (let us = 0; us < 1 << 22; us += 1 + (us >>> 12)) {
    const b = bucketOf(us);
    assert.ok(b === last || b === last + 1, `${us} µs: bucket ${b} after ${last}`);
    last = b;
  }
  assert.equal(bucketOf(2047), 2047);
  assert.equal(bucketOf(2048), 2048);
  assert.equal(bucketOf(2049), 2048);
  assert.equal(bucketOf(2 ** 31), bucketOf(2 ** 40), 'past the top, one overflow bucket');
});

test('reset empties it; an empty summary has no percentiles', () => {
  const s = new Samples();
  for (let i = 0; i < 100; i++) s.add(i);
  s.reset();
  const empty = s.summary();
  assert.equal(empty.n, 0);
  assert.ok(Number.isNaN(empty.p99) && Number.isNaN(empty.max));
  s.add(5);
  assert.deepEqual(s.summary(), { n: 1, p50: 5, p90: 5, p99: 5, p999: 5, max: 5 });
});

test('one large stall stays in the tail, not in the median', () => {
  const s = new Samples();
  for (let i = 0; i < 999; i++) s.add(1);
  s.add(15.5);
  const got = s.summary();
  assert.equal(got.p50, 1);
  assert.equal(got.p99, 1);
  assert.ok(Math.abs(got.p999 - 15.5) <= 15.5 / 2048, String(got.p999));
  assert.equal(got.max, 15.5);
});
