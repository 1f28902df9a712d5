import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { REFRESH_RETRY_MS } from '../../src/index.js';
import { harness, connected } from '../support/harness.js';
import { eventually, payloads, settle } from '../support/wait.js';

const NEW_ICE = [
  { urls: ['turn:turn.test:3478?transport=tcp'], username: '2:sid', credential: 'c2' },
];

describe('in-band refresh', () => {
  for (const skewMs of [5_000, -120_000]) {
    test(`refreshes at 80% of the lifetime on the local clock (server clock ${skewMs > 0 ? 'ahead' : 'behind'} by ${Math.abs(skewMs)} ms) without dropping the connection`, async () => {
      const h = await harness();
      try {
        h.fake.serverTime = () => h.clock.now() + skewMs;
        h.fake.tokenTtlMs = 100_000;
        h.fake.refreshIceServers = NEW_ICE;
        const { conn, welcome } = await connected(h);
        assert.equal(welcome.expiresAt - welcome.serverTime, 100_000);
        // Only the refresh timer is pending: 80% of 100 s after the token was obtained.
        assert.deepEqual(h.clock.pending(), [80_000]);

        h.clock.advance(79_999);
        await settle();
        assert.equal(conn.received.filter((m) => m.type === 'refresh').length, 0);
        h.clock.advance(1);
        const refresh = await conn.next('refresh');
        assert.equal(refresh.token, 'tok2');
        assert.deepEqual(h.tokenCalls, ['connect', 'refresh']);
        await eventually(() => h.client.iceServers[0]?.credential === 'c2', 'new ICE servers');
        assert.deepEqual(h.client.iceServers, NEW_ICE);
        assert.deepEqual(payloads(h.events, 'iceServers').at(-1), NEW_ICE);
        // The next refresh is 80% into the new token's lifetime.
        assert.deepEqual(h.clock.pending(), [80_000]);
        // Same socket, never left `connected`.
        assert.equal(h.fake.attempts.length, 1);
        assert.ok(conn.open);
        assert.equal(payloads(h.events, 'closed').length, 0);
        assert.deepEqual(
          payloads(h.events, 'state').map((s) => s.state),
          ['connecting', 'connected'],
        );
      } finally {
        await h.close();
      }
    });
  }

  test('token_expiring triggers the refresh before the 80% point, once', async () => {
    const h = await harness();
    try {
      h.fake.tokenTtlMs = 300_000;
      const { conn } = await connected(h);
      assert.deepEqual(h.clock.pending(), [240_000]);
      conn.send({ type: 'token_expiring', expiresAt: 1 });
      conn.send({ type: 'token_expiring', expiresAt: 1 });
      await conn.next('refresh');
      await settle();
      assert.equal(conn.received.filter((m) => m.type === 'refresh').length, 1);
      assert.equal(payloads(h.events, 'tokenExpiring').length, 2);
      await eventually(() => h.clock.pending().length === 1, 'rescheduled refresh');
      assert.deepEqual(h.clock.pending(), [240_000]);
      assert.ok(conn.open);
    } finally {
      await h.close();
    }
  });

  test('a failed getToken during refresh is reported and retried; the connection stays', async () => {
    let calls = 0;
    const h = await harness({
      getToken: async () => {
        calls++;
        if (calls === 2) throw new Error('backend down');
        return `tok${calls}`;
      },
    });
    try {
      h.fake.tokenTtlMs = 100_000;
      const { conn } = await connected(h);
      h.clock.advance(80_000);
      await eventually(() => payloads(h.events, 'error').length === 1, 'error event');
      assert.equal(payloads(h.events, 'error')[0]!.code, 'token_unavailable');
      assert.deepEqual(h.clock.pending(), [REFRESH_RETRY_MS]);
      h.clock.advance(REFRESH_RETRY_MS);
      const refresh = await conn.next('refresh');
      assert.equal(refresh.token, 'tok3');
      assert.ok(conn.open);
      assert.equal(h.fake.attempts.length, 1);
    } finally {
      await h.close();
    }
  });
});
