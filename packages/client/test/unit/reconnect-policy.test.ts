import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { harness, connected, type Harness } from '../support/harness.js';
import { eventually, payloads, settle } from '../support/wait.js';

/** Waits until the client has seen `n` closes, then returns the pending timer delays. */
async function afterCloses(h: Harness, n: number): Promise<number[]> {
  await eventually(() => payloads(h.events, 'closed').length >= n, `${n} closes`);
  return h.clock.pending();
}

describe('reconnect policy (close-code table)', () => {
  test('4401: a new token from getToken, then reconnect', async () => {
    const h = await harness();
    try {
      const { conn, welcome } = await connected(h);
      conn.close(4401, 'token_expired');
      assert.deepEqual(await afterCloses(h, 1), [75]);
      assert.deepEqual(payloads(h.events, 'closed')[0], {
        code: 4401,
        reason: 'token_expired',
        action: 'reconnect_new_token',
        willReconnect: true,
        reconnectInMs: 75,
      });
      assert.equal(h.client.state, 'reconnecting');
      h.clock.advance(75);
      await h.fake.nextConnection(1);
      assert.deepEqual(h.tokenCalls, ['connect', 'reconnect']);
      assert.deepEqual(h.fake.attempts[1]!.protocols, [
        'callgate.v1',
        'bearer.tok2',
        `resume.${welcome.resumeToken}`,
      ]);
      await eventually(() => h.client.state === 'connected', 'connected');
    } finally {
      await h.close();
    }
  });

  test('a dropped connection (1006) reconnects with the cached token: getToken is not called', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      conn.drop();
      assert.deepEqual(await afterCloses(h, 1), [75]);
      assert.equal(payloads(h.events, 'closed')[0]!.code, 1006);
      h.clock.advance(75);
      await h.fake.nextConnection(1);
      assert.deepEqual(h.tokenCalls, ['connect']);
      assert.equal(h.fake.attempts[1]!.token, 'tok1');
    } finally {
      await h.close();
    }
  });

  const stops: Array<[number, string]> = [
    [4403, 'kicked'],
    [4400, 'protocol_violation'],
    [4409, 'replaced'],
    [1000, ''],
    [1003, 'binary_not_supported'],
    [1007, ''],
    [1009, 'payload_too_large'],
  ];
  for (const [code, reason] of stops) {
    test(`${code} ${reason || '(no reason)'}: stop, no reconnect, pending requests fail with closed`, async () => {
      const h = await harness();
      try {
        const { conn } = await connected(h);
        h.fake.autoRespond = false;
        const pending = h.client.ping();
        await conn.next('ping');
        conn.close(code, reason);
        await assert.rejects(pending, { code: 'closed', closeCode: code, closeReason: reason });
        assert.deepEqual(await afterCloses(h, 1), []);
        assert.equal(h.client.state, 'disconnected');
        assert.deepEqual(payloads(h.events, 'state').at(-1), {
          state: 'disconnected',
          previous: 'connected',
          reason: { code, reason },
        });
        assert.equal(payloads(h.events, 'closed')[0]!.willReconnect, false);
        h.clock.advance(120_000);
        await settle();
        assert.equal(h.fake.attempts.length, 1);
      } finally {
        await h.close();
      }
    });
  }

  test('4403 at the handshake: connect() rejects with the reason as code', async () => {
    const h = await harness();
    try {
      h.fake.rejectTokens.set('tok1', { code: 4403, reason: 'token_revoked' });
      await assert.rejects(h.client.connect(), {
        name: 'CallgateClientError',
        code: 'token_revoked',
        closeCode: 4403,
      });
      assert.equal(h.client.state, 'disconnected');
      h.clock.advance(120_000);
      await settle();
      assert.equal(h.fake.attempts.length, 1);
    } finally {
      await h.close();
    }
  });

  test('backoff: exact delays from the injected random, capped, reset by a welcome', async () => {
    // initial 100, factor 2, max 1000, jitter 0.5, random 0.5: base * 0.75
    const h = await harness();
    try {
      const { conn } = await connected(h);
      h.fake.refuseUpgradeStatus = 503; // every attempt fails: the browser sees 1006
      conn.drop();
      const expected = [75, 150, 300, 600, 750, 750];
      for (let i = 0; i < expected.length; i++) {
        assert.deepEqual(await afterCloses(h, i + 1), [expected[i]], `delay #${i}`);
        h.clock.advance(expected[i]! - 1);
        await settle(5);
        assert.equal(h.fake.attempts.length, i + 1, `not before ${expected[i]} ms`);
        h.clock.advance(1);
        await h.fake.waitForAttempts(i + 2);
      }
      assert.deepEqual(
        payloads(h.events, 'closed').map((c) => c.reconnectInMs),
        expected,
      );
      assert.equal(h.client.state, 'reconnecting');
      // The server recovers: a welcome resets the backoff.
      h.fake.refuseUpgradeStatus = undefined;
      await afterCloses(h, expected.length + 1);
      h.clock.advance(750);
      const back = await h.fake.nextConnection(1);
      await eventually(() => h.client.state === 'connected', 'connected');
      back.drop();
      assert.deepEqual(await afterCloses(h, expected.length + 2), [75]);
    } finally {
      await h.close();
    }
  });

  for (const code of [1001, 4503]) {
    test(`going_away then ${code}: reconnect after exactly retryAfterMs`, async () => {
      const h = await harness();
      try {
        const { conn, welcome } = await connected(h);
        h.fake.goingAway(1234);
        await settle(10);
        conn.close(code, code === 1001 ? 'going_away' : 'draining');
        assert.deepEqual(await afterCloses(h, 1), [1234]);
        assert.equal(payloads(h.events, 'closed')[0]!.reconnectInMs, 1234);
        h.clock.advance(1233);
        await settle(5);
        assert.equal(h.fake.attempts.length, 1);
        h.clock.advance(1);
        const next = await h.fake.nextConnection(1);
        assert.equal(next.attempt.resumeToken, welcome.resumeToken);
        await eventually(() => h.client.state === 'connected', 'connected');
        // retryAfterMs belonged to that connection: the next drop uses the backoff.
        next.drop();
        assert.deepEqual(await afterCloses(h, 2), [75]);
      } finally {
        await h.close();
      }
    });
  }

  test('4429 without going_away: backoff', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      conn.close(4429, 'rate_limited');
      assert.deepEqual(await afterCloses(h, 1), [75]);
      assert.equal(payloads(h.events, 'closed')[0]!.action, 'reconnect_after');
    } finally {
      await h.close();
    }
  });

  test('a handshake that never reaches welcome is abandoned after handshakeTimeoutMs', async () => {
    const h = await harness({ handshakeTimeoutMs: 2000 });
    try {
      h.fake.autoWelcome = false;
      const connecting = h.client.connect();
      await h.fake.nextConnection(0);
      assert.deepEqual(h.clock.pending(), [2000]);
      h.clock.advance(2000);
      assert.deepEqual(await afterCloses(h, 1), [75]);
      assert.deepEqual(
        { ...payloads(h.events, 'closed')[0]!, reconnectInMs: undefined },
        {
          code: 1006,
          reason: 'handshake_timeout',
          action: 'reconnect',
          willReconnect: true,
          reconnectInMs: undefined,
        },
      );
      assert.equal(h.client.state, 'connecting', 'a first connection retries in `connecting`');
      h.fake.autoWelcome = true;
      h.clock.advance(75);
      await connecting;
      assert.equal(h.client.state, 'connected');
    } finally {
      await h.close();
    }
  });
});
