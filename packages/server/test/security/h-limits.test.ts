/**
 * Security catalogue H84-H87: rate limiting and exhaustion beyond the transport (message flood,
 * room spam, failed-auth bursts, overload shedding). Frozen clocks make the token buckets exact.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { manualClock, startTestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';
import {
  ALL_PERMS,
  assertClosed,
  assertTokenRefused,
  rawUpgrade,
  signAsServer,
  sleep,
  UPGRADE_HEADERS,
} from '../support/attack.js';
import { randomId } from '../../src/util/random-id.js';

describe('H. rate limiting and exhaustion', () => {
  test('S84 message flood: the burst passes, then rate_limited errors, then close 4429', async (t) => {
    const server = await startTestServer({
      clock: manualClock(),
      config: {
        'signal.messagesPerSecond': 100,
        'signal.messageBurst': 200,
        'signal.rateLimitStrikes': 50,
      },
    });
    t.after(() => server.close());
    const c = await connectClient(server.wsUrl, signAsServer(server));
    for (let i = 0; i < 400; i++) c.client.send({ type: 'ping', id: `f${i}` });
    await assertClosed(c.client, 4429, 'rate_limited');
    const pongs = c.client.messages.filter((m) => m.type === 'pong').length;
    const limited = c.client.messages.filter(
      (m) => m.type === 'error' && m.code === 'rate_limited',
    ).length;
    // The clock is frozen: no refill, so exactly the burst is served.
    assert.equal(pongs, 200);
    assert.equal(limited, 49, 'strikes 1..49 answered, the 50th closes');
  });

  test('S85 room-join spam: rooms per connection and peers per room are capped', async (t) => {
    const server = await startTestServer({
      config: {
        'signal.maxRoomsPerConnection': 4,
        'signal.maxPeersPerRoom': 3,
        'signal.handshakesPerSecondPerIp': 1000,
      },
    });
    t.after(() => server.close());
    const rooms = Object.fromEntries(Array.from({ length: 6 }, (_, i) => [`r${i}`, ALL_PERMS]));
    const c = await connectClient(server.wsUrl, signAsServer(server, { rooms }));
    for (let i = 0; i < 4; i++)
      assert.equal((await c.client.request({ type: 'join', room: `r${i}` })).type, 'ack');
    const fifth = await c.client.request({ type: 'join', room: 'r4' });
    assert.equal((fifth as { code?: string }).code, 'too_many_rooms');
    const others = [];
    for (let i = 0; i < 2; i++) {
      const o = await connectClient(server.wsUrl, signAsServer(server, { rooms }));
      assert.equal((await o.client.request({ type: 'join', room: 'r0' })).type, 'ack');
      others.push(o);
    }
    const late = await connectClient(server.wsUrl, signAsServer(server, { rooms }));
    assert.equal(
      ((await late.client.request({ type: 'join', room: 'r0' })) as { code?: string }).code,
      'room_full',
    );
    for (const x of [c, late, ...others]) x.client.close();
  });

  test('S86 a burst of failed-auth handshakes from one IP gets 429 with Retry-After', async (t) => {
    const server = await startTestServer({
      clock: manualClock(),
      config: { 'signal.handshakesPerSecondPerIp': 5 },
    });
    t.after(() => server.close());
    // Every failure costs a handshake token (burst 10): a brute force is throttled like any flood.
    for (let i = 0; i < 5; i++) {
      const bad = `${signAsServer(server).slice(0, -8)}AAAAAAAA`;
      await assertTokenRefused(server, bad, 'token_invalid');
    }
    // assertTokenRefused spent one handshake each; 5 more failures use up the burst.
    const statuses: number[] = [];
    let retry: string | string[] | undefined;
    for (let i = 0; i < 7; i++) {
      const r = await rawUpgrade(server.port, {
        ...UPGRADE_HEADERS,
        'sec-websocket-protocol': `callgate.v1, bearer.${randomId(40)}`,
      });
      statuses.push(r.status);
      retry = r.headers['retry-after'] ?? retry;
    }
    assert.deepEqual(statuses, [101, 101, 101, 101, 101, 429, 429]);
    assert.ok(Number(retry) >= 1, 'Retry-After tells the client to back off');
    // Even a good token is refused until the bucket refills.
    const good = await rawUpgrade(server.port, {
      ...UPGRADE_HEADERS,
      'sec-websocket-protocol': `callgate.v1, bearer.${signAsServer(server)}`,
    });
    assert.equal(good.status, 429);
  });

  test('S87 overload: event-loop lag above signal.maxEventLoopLagMs sheds new handshakes with 503; live sockets stay', async (t) => {
    const server = await startTestServer({ config: { 'signal.maxEventLoopLagMs': 150 } });
    t.after(() => server.close());
    const live = await connectClient(server.wsUrl, signAsServer(server));
    const upgrade = () =>
      rawUpgrade(server.port, {
        ...UPGRADE_HEADERS,
        'sec-websocket-protocol': `callgate.v1, bearer.${signAsServer(server)}`,
      });
    // Not overloaded yet (on a busy machine, wait for any earlier stall to decay).
    let before = 503;
    for (let i = 0; i < 30 && before === 503; i++) {
      await sleep(100);
      before = (await upgrade()).status;
    }
    assert.equal(before, 101, 'not overloaded before the stall');
    // Block the event loop for 600 ms (the server runs in this process).
    const until = Date.now() + 600;
    while (Date.now() < until) {
      // busy
    }
    const shed = await upgrade();
    assert.equal(shed.status, 503);
    assert.equal(JSON.parse(shed.body).error.code, 'overloaded');
    assert.ok(Number(shed.headers['retry-after']) >= 1);
    assert.equal(
      (await live.client.request({ type: 'ping' })).type,
      'pong',
      'live sockets are served',
    );
    // The estimate decays once the loop is healthy again.
    const deadline = Date.now() + 3000;
    let status = 503;
    while (status === 503 && Date.now() < deadline) {
      await sleep(100);
      status = (await upgrade()).status;
    }
    assert.equal(status, 101);
    live.client.close();
  });
});
