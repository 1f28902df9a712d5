import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_BACKOFF, backoffDelay } from '../../src/index.js';

describe('backoffDelay', () => {
  test('grows by factor from initialDelayMs and stops at maxDelayMs', () => {
    const o = { initialDelayMs: 500, maxDelayMs: 30_000, factor: 2, jitter: 0 };
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 6, 7, 100, 10_000].map((n) => backoffDelay(o, n, () => 0.9)),
      [500, 1000, 2000, 4000, 8000, 16_000, 30_000, 30_000, 30_000, 30_000],
    );
  });

  test('jitter only shortens, by up to jitter of the delay', () => {
    const o = { ...DEFAULT_BACKOFF, jitter: 0.5 };
    assert.equal(
      backoffDelay(o, 0, () => 0),
      500,
    );
    assert.equal(
      backoffDelay(o, 0, () => 0.5),
      375,
    );
    assert.equal(
      backoffDelay(o, 0, () => 0.999999),
      250,
    );
    assert.equal(
      backoffDelay(o, 20, () => 0),
      30_000,
    );
    // A misbehaving random is clamped to [0, 1].
    assert.equal(
      backoffDelay(o, 0, () => 7),
      250,
    );
    assert.equal(
      backoffDelay(o, 0, () => -1),
      500,
    );
  });
});
