import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { RemoteKeySet, KeySetUnavailableError } from '../../../src/auth/remote-key-set.js';
import { JwksFetchError } from '../../../src/auth/fetch-jwks.js';
import { manualClock } from '../../support/test-server.js';

const COOLDOWN = 30_000;
const MAX_AGE = 600_000;

function jwk(kid: string) {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
}

/** A key set whose fetcher is a script: each call takes the next answer (or throws it). */
function setup() {
  const clock = manualClock(Date.UTC(2026, 5, 1));
  const answers: Array<unknown> = [];
  let calls = 0;
  let gate: Promise<void> | undefined;
  const keys = new RemoteKeySet({
    jwksUri: 'https://id.example.com/jwks',
    clock,
    timeoutMs: 1000,
    cooldownMs: COOLDOWN,
    cacheMaxAgeMs: MAX_AGE,
    maxBytes: 65_536,
    allowLoopback: false,
    fetch: async () => {
      calls++;
      if (gate) await gate;
      const a = answers.length > 1 ? answers.shift() : answers[0];
      if (a instanceof Error) throw a;
      return a;
    },
  });
  return {
    clock,
    keys,
    answers,
    calls: () => calls,
    hold() {
      let release!: () => void;
      gate = new Promise((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
  };
}

describe('RemoteKeySet', () => {
  test('fetches once, then serves from the cache; keys are found by kid within this set', async () => {
    const f = setup();
    f.answers.push({ keys: [jwk('a'), jwk('b')] });
    assert.equal((await f.keys.resolve('a'))?.alg, 'ES256');
    assert.equal((await f.keys.resolve('b'))?.kid, 'b');
    assert.equal(f.calls(), 1);
  });

  test('C36 an unknown kid refetches at most once per cooldown, however many arrive', async () => {
    const f = setup();
    f.answers.push({ keys: [jwk('a')] });
    await f.keys.resolve('a');
    f.clock.advance(COOLDOWN);
    for (let i = 0; i < 100; i++) assert.equal(await f.keys.resolve(`nope-${i}`), undefined);
    assert.equal(f.calls(), 2, 'one refetch for the first unknown kid, none for the rest');
    f.clock.advance(COOLDOWN - 1);
    await f.keys.resolve('nope');
    assert.equal(f.calls(), 2);
    f.clock.advance(1);
    await f.keys.resolve('nope');
    assert.equal(f.calls(), 3);
  });

  test('C36 concurrent lookups share the one fetch in flight', async () => {
    const f = setup();
    f.answers.push({ keys: [jwk('a')] });
    const release = f.hold();
    const pending = Array.from({ length: 50 }, (_, i) => f.keys.resolve(i % 2 ? 'a' : 'x'));
    release();
    const results = await Promise.all(pending);
    assert.equal(f.calls(), 1);
    assert.equal(results.filter((k) => k?.kid === 'a').length, 25);
  });

  test('C37 a rotated set replaces the old one: the new kid is found, the removed kid is gone', async () => {
    const f = setup();
    f.answers.push({ keys: [jwk('old')] }, { keys: [jwk('new')] });
    assert.ok(await f.keys.resolve('old'));
    f.clock.advance(COOLDOWN);
    assert.ok(await f.keys.resolve('new'));
    assert.equal(await f.keys.resolve('old'), undefined);
  });

  test('C41 with nothing cached, a failed fetch fails closed with a retry hint', async () => {
    const f = setup();
    f.answers.push(new JwksFetchError('HTTP 500'));
    await assert.rejects(f.keys.resolve('a'), (err: unknown) => {
      assert.ok(err instanceof KeySetUnavailableError);
      assert.equal(err.reason, 'HTTP 500');
      assert.equal(err.retryAfterMs, COOLDOWN);
      return true;
    });
    // Within the cooldown: no new fetch, still closed, a shorter wait.
    f.clock.advance(10_000);
    await assert.rejects(f.keys.resolve('a'), (err: unknown) => {
      assert.ok(err instanceof KeySetUnavailableError);
      assert.equal(err.retryAfterMs, COOLDOWN - 10_000);
      return true;
    });
    assert.equal(f.calls(), 1);
  });

  test('C41 not a key set, or private members, is a failed fetch', async () => {
    for (const bad of [{ keys: 'x' }, [], 'text', { keys: [{ ...jwk('a'), d: 'AAAA' }] }]) {
      const f = setup();
      f.answers.push(bad);
      await assert.rejects(f.keys.resolve('a'), KeySetUnavailableError);
    }
  });

  test('C41 a fresh set outlives a failed refresh; past its maximum age it is never used', async () => {
    const f = setup();
    f.answers.push({ keys: [jwk('a')] }, new JwksFetchError('ECONNREFUSED'));
    await f.keys.resolve('a');
    // Near the end of its life the set is refreshed in the background; the refresh fails,
    // the key still verifies.
    f.clock.advance(MAX_AGE * 0.9);
    assert.ok(await f.keys.resolve('a'));
    await new Promise((r) => setImmediate(r));
    assert.equal(f.calls(), 2);
    // Past the maximum age: a fetch is due, fails, and the stale key is not used.
    f.clock.advance(MAX_AGE * 0.1);
    await assert.rejects(f.keys.resolve('a'), KeySetUnavailableError);
    assert.equal(f.calls(), 3);
  });

  test('a background refresh that succeeds renews the set before it expires', async () => {
    const f = setup();
    f.answers.push({ keys: [jwk('a')] });
    await f.keys.resolve('a');
    f.clock.advance(MAX_AGE * 0.85);
    await f.keys.resolve('a');
    await new Promise((r) => setImmediate(r));
    f.clock.advance(MAX_AGE * 0.5);
    assert.ok(await f.keys.resolve('a'), 'renewed at 85%, still fresh at 135%');
    assert.equal(f.calls(), 2);
  });

  test('C39 unusable entries are left out, usable ones kept', async () => {
    const f = setup();
    const dup = jwk('dup');
    f.answers.push({ keys: [jwk('good'), { ...jwk('enc'), use: 'enc' }, dup, { ...dup }] });
    assert.ok(await f.keys.resolve('good'));
    assert.equal(await f.keys.resolve('enc'), undefined);
    assert.equal(await f.keys.resolve('dup'), undefined);
  });
});
