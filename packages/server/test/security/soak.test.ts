/**
 * The CI soak (test/soak/run-soak.ts): 500 connections in 50 rooms for 30 s on loopback, with
 * in-band token refresh, leaves and rejoins, cuts and resumes, and expiring peers coming back.
 * Lost and duplicated must be 0; every cut resumes; no connection closes unexpectedly.
 * The long version runs by hand: `npm run soak -- --connections 5000 --minutes 5`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runSoak } from '../soak/run-soak.js';

const CONNECTIONS = Number(process.env.SOAK_CONNECTIONS ?? 500);
const DURATION_MS = Number(process.env.SOAK_DURATION_MS ?? 30_000);

test(
  `soak: ${CONNECTIONS} connections, ${DURATION_MS / 1000} s, 0 lost, 0 duplicated`,
  { timeout: 240_000 },
  async (t) => {
    const r = await runSoak({
      connections: CONNECTIONS,
      rooms: Math.round(CONNECTIONS / 10),
      durationMs: DURATION_MS,
    });
    t.diagnostic(JSON.stringify(r));
    assert.ok(r.connections >= 500 || process.env.SOAK_CONNECTIONS !== undefined);
    assert.ok(r.sent > 0 && r.delivered > r.sent, 'traffic flowed');
    assert.deepEqual(r.problems, [], 'no problems');
    assert.equal(
      r.acked + r.unconfirmed,
      r.sent,
      'every publish was acknowledged or its socket closed',
    );
    assert.equal(r.lost, 0, 'lost');
    assert.equal(r.duplicated, 0, 'duplicated');
    assert.equal(r.unexpectedCloses, 0, 'unexpected closes');
    assert.equal(r.resumeFailures, 0, 'failed resumes');
    assert.equal(r.errors, 0, 'error answers');
    assert.ok(r.refreshes >= CONNECTIONS / 2, `in-band refreshes: ${r.refreshes}`);
    assert.ok(
      r.resumes > 0 && r.leavesAndRejoins > 0 && r.expiredAndReconnected > 0,
      'churn happened',
    );
  },
);
