import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebSocket } from 'ws';
import { createClient } from '../../src/index.js';
import { harness, connected } from '../support/harness.js';
import { eventually, payloads } from '../support/wait.js';

describe('connect', () => {
  test('offers callgate.v1 and bearer.<token> to /v1/signal and reaches connected', async () => {
    const h = await harness();
    try {
      const { welcome } = await connected(h);
      const attempt = h.fake.attempts[0]!;
      assert.equal(attempt.path, '/v1/signal');
      assert.deepEqual(attempt.protocols, ['callgate.v1', 'bearer.tok1']);
      assert.deepEqual(h.tokenCalls, ['connect']);
      assert.equal(h.client.state, 'connected');
      assert.equal(h.client.peerId, welcome.peerId);
      assert.equal(h.client.sessionId, welcome.sessionId);
      assert.deepEqual(h.client.iceServers, welcome.iceServers);
      assert.deepEqual(
        payloads(h.events, 'state').map((s) => [s.previous, s.state]),
        [
          ['disconnected', 'connecting'],
          ['connecting', 'connected'],
        ],
      );
      assert.equal(payloads(h.events, 'welcome').length, 1);
      assert.deepEqual(payloads(h.events, 'iceServers'), [welcome.iceServers]);
      // connect() again while connected resolves with the same welcome, no new socket.
      assert.equal(await h.client.connect(), welcome);
      assert.equal(h.fake.attempts.length, 1);
    } finally {
      await h.close();
    }
  });

  test('getToken may return { token }', async () => {
    const h = await harness({ getToken: async () => ({ token: 'obj.tok' }) });
    try {
      await connected(h);
      assert.deepEqual(h.fake.attempts[0]!.protocols, ['callgate.v1', 'bearer.obj.tok']);
    } finally {
      await h.close();
    }
  });

  test('close() sends 1000 and stops; requests then fail with not_connected', async () => {
    const h = await harness();
    try {
      const { conn } = await connected(h);
      await h.client.close();
      assert.deepEqual(await conn.closed, { code: 1000, reason: 'client_closed' });
      assert.equal(h.client.state, 'disconnected');
      assert.equal(h.client.peerId, undefined);
      const last = payloads(h.events, 'state').at(-1)!;
      assert.deepEqual(last, {
        state: 'disconnected',
        previous: 'connected',
        reason: { code: 1000, reason: 'client_closed' },
      });
      await assert.rejects(h.client.ping(), { name: 'CallgateClientError', code: 'not_connected' });
      h.clock.advance(60_000);
      assert.equal(h.fake.attempts.length, 1, 'no reconnect after close()');
    } finally {
      await h.fake.close();
    }
  });

  test('a getToken that hangs counts as a failed attempt after requestTimeoutMs', async () => {
    let calls = 0;
    const h = await harness({
      requestTimeoutMs: 5000,
      getToken: () => (++calls === 1 ? new Promise<string>(() => {}) : Promise.resolve('tok2')),
    });
    try {
      const connecting = h.client.connect();
      await eventually(() => h.clock.pending().length === 1, 'getToken timer');
      assert.deepEqual(h.clock.pending(), [5000]);
      h.clock.advance(5000);
      await eventually(() => payloads(h.events, 'error').length === 1, 'error');
      assert.equal(payloads(h.events, 'error')[0]!.code, 'token_unavailable');
      assert.deepEqual(h.clock.pending(), [75], 'retried with backoff');
      h.clock.advance(75);
      await connecting;
      assert.deepEqual(
        h.fake.attempts.map((a) => a.token),
        ['tok2'],
      );
    } finally {
      await h.close();
    }
  });

  test('options are checked up front, naming the option', () => {
    const getToken = async () => 'x';
    assert.throws(() => createClient({ url: 'ftp://x', getToken, WebSocket }), {
      name: 'TypeError',
      message: /"url" option/,
    });
    assert.throws(
      () =>
        createClient({ url: 'ws://x', getToken: 'nope' as unknown as typeof getToken, WebSocket }),
      { name: 'TypeError', message: /"getToken" option/ },
    );
    assert.throws(
      () => createClient({ url: 'ws://x', getToken, WebSocket, reconnect: { jitter: 2 } }),
      { name: 'RangeError', message: /"reconnect.jitter" option/ },
    );
    assert.throws(() => createClient({ url: 'ws://x', getToken, WebSocket, refreshAt: 1 }), {
      name: 'RangeError',
      message: /"refreshAt" option/,
    });
  });
});
