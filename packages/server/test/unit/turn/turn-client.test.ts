import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import type { RemoteInfo, Socket } from 'node:dgram';
import { allocate, stunBinding, TurnClientError } from '../../../src/turn/index.js';
import {
  StunAttr,
  StunClass,
  StunMethod,
  decodeStunMessage,
  encodeStunMessage,
  errorCodeAttribute,
  getAttribute,
  getTextAttribute,
  getUint32,
  getXorAddress,
  longTermKey,
  textAttribute,
  uint32Attribute,
  verifyMessageIntegrity,
  xorAddressAttribute,
} from '../../../src/turn/stun/index.js';
import type { StunAttribute, StunMessage } from '../../../src/turn/stun/index.js';

// A scripted fake relay on 127.0.0.1, speaking our own codec: deterministic tests of the client's
// state machine (401 challenge, 438 retry, integrity checks, indications, release on close).

const REALM = 'fake.test';
const USER = '1900000000:sess_fake';
const PASSWORD = 'fake-password';
const KEY = longTermKey(USER, REALM, PASSWORD);

interface Received {
  message: StunMessage;
  raw: Buffer;
  from: RemoteInfo;
}
type Handler = (received: Received, server: FakeRelay) => void;

class FakeRelay {
  readonly received: Received[] = [];
  constructor(
    readonly socket: Socket,
    readonly port: number,
    private readonly handler: Handler,
  ) {
    socket.on('message', (raw, from) => {
      const received = { message: decodeStunMessage(raw), raw, from };
      this.received.push(received);
      this.handler(received, this);
    });
  }

  reply(to: Received, cls: StunClass, attributes: StunAttribute[], key?: Uint8Array): void {
    const bytes = encodeStunMessage(
      { method: to.message.method, cls, transactionId: to.message.transactionId, attributes },
      { fingerprint: true, ...(key ? { integrityKey: key } : {}) },
    );
    this.socket.send(bytes, to.from.port, to.from.address);
  }

  challenge(to: Received, code: number, nonce: string): void {
    this.reply(to, StunClass.ErrorResponse, [
      errorCodeAttribute(code, code === 401 ? 'Unauthorized' : 'Stale Nonce'),
      textAttribute(StunAttr.Nonce, nonce),
      textAttribute(StunAttr.Realm, REALM),
    ]);
  }

  allocated(to: Received, key = KEY): void {
    const tid = to.message.transactionId;
    this.reply(
      to,
      StunClass.SuccessResponse,
      [
        xorAddressAttribute(
          StunAttr.XorRelayedAddress,
          { family: 'IPv4', address: '127.0.0.1', port: 50000 },
          tid,
        ),
        xorAddressAttribute(
          StunAttr.XorMappedAddress,
          { family: 'IPv4', address: to.from.address, port: to.from.port },
          tid,
        ),
        uint32Attribute(StunAttr.Lifetime, 600),
      ],
      key,
    );
  }

  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

const relays: FakeRelay[] = [];
after(async () => {
  await Promise.all(relays.map((r) => r.close()));
});

async function startFakeRelay(handler: Handler): Promise<FakeRelay> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const relay = new FakeRelay(socket, socket.address().port, handler);
  relays.push(relay);
  return relay;
}

/** The client's allocate() against a fake relay, with the test credentials. */
const allocateFrom = (relay: FakeRelay) =>
  allocate({
    host: '127.0.0.1',
    port: relay.port,
    username: USER,
    password: PASSWORD,
    timeoutMs: 2000,
  });

const signed = (r: Received) => getAttribute(r.message, StunAttr.MessageIntegrity) !== undefined;

test('401 challenge, then a signed ALLOCATE; 438 Stale Nonce is retried once with the new nonce', async () => {
  const relay = await startFakeRelay((r, server) => {
    const { method } = r.message;
    if (method === StunMethod.Send) return; // indications are not signed (RFC 5766 §10.1)
    if (method === StunMethod.Allocate && !signed(r)) return server.challenge(r, 401, 'nonce-1');
    assert.equal(
      verifyMessageIntegrity(r.raw, KEY),
      true,
      'requests are signed with MD5(user:realm:pass)',
    );
    const nonce = getTextAttribute(r.message, StunAttr.Nonce);
    if (method === StunMethod.Allocate && nonce === 'nonce-1')
      return server.challenge(r, 438, 'nonce-2');
    if (method === StunMethod.Allocate) return server.allocated(r);
    if (method === StunMethod.CreatePermission)
      return server.reply(r, StunClass.SuccessResponse, [], KEY);
    if (method === StunMethod.Refresh) {
      return server.reply(
        r,
        StunClass.SuccessResponse,
        [uint32Attribute(StunAttr.Lifetime, getUint32(r.message, StunAttr.Lifetime) ?? 0)],
        KEY,
      );
    }
  });
  const result = await allocateFrom(relay);
  assert.equal(result.ok, true);
  if (!result.ok) return;
  assert.deepEqual(result.relayedAddress, { family: 'IPv4', address: '127.0.0.1', port: 50000 });
  assert.equal(result.mappedAddress.address, '127.0.0.1');
  assert.equal(result.lifetime, 600);

  const allocates = relay.received.filter((r) => r.message.method === StunMethod.Allocate);
  assert.deepEqual(
    allocates.map((r) => getTextAttribute(r.message, StunAttr.Nonce) ?? null),
    [null, 'nonce-1', 'nonce-2'],
  );
  for (const r of allocates) {
    assert.deepEqual(
      getAttribute(r.message, StunAttr.RequestedTransport),
      Uint8Array.of(17, 0, 0, 0),
    );
  }
  const last = allocates.at(-1);
  assert.ok(last);
  assert.equal(getTextAttribute(last.message, StunAttr.Username), USER);
  assert.equal(getTextAttribute(last.message, StunAttr.Realm), REALM);

  await result.createPermission('192.0.2.7');
  const permission = relay.received.find((r) => r.message.method === StunMethod.CreatePermission);
  assert.ok(permission);
  assert.equal(getXorAddress(permission.message, StunAttr.XorPeerAddress)?.address, '192.0.2.7');

  // SEND indication out, DATA indication in.
  const peer = { family: 'IPv4', address: '192.0.2.7', port: 4000 } as const;
  result.send(peer, Buffer.from('hello'));
  await waitFor(() => relay.received.some((r) => r.message.method === StunMethod.Send));
  const sent = relay.received.find((r) => r.message.method === StunMethod.Send);
  assert.ok(sent);
  assert.equal(sent.message.cls, StunClass.Indication);
  assert.deepEqual(getXorAddress(sent.message, StunAttr.XorPeerAddress), peer);
  assert.equal(Buffer.from(getAttribute(sent.message, StunAttr.Data) ?? []).toString(), 'hello');
  const tid = Uint8Array.from({ length: 12 }, (_, i) => i);
  relay.socket.send(
    encodeStunMessage({
      method: StunMethod.Data,
      cls: StunClass.Indication,
      transactionId: tid,
      attributes: [
        xorAddressAttribute(StunAttr.XorPeerAddress, peer, tid),
        { type: StunAttr.Data, value: Buffer.from('olleh') },
      ],
    }),
    sent.from.port,
    '127.0.0.1',
  );
  const datagram = await result.receive(1000);
  assert.deepEqual(datagram.peer, peer);
  assert.equal(Buffer.from(datagram.data).toString(), 'olleh');

  assert.equal(await result.refresh(300), 300);
  await result.close();
  const refreshes = relay.received.filter((r) => r.message.method === StunMethod.Refresh);
  assert.deepEqual(
    refreshes.map((r) => getUint32(r.message, StunAttr.Lifetime)),
    [300, 0],
    'close() releases the allocation with LIFETIME 0',
  );
  await result.close(); // idempotent
  assert.throws(
    () => result.send(peer, Buffer.from('x')),
    (err: unknown) => err instanceof TurnClientError && err.code === 'ERR_TURN_CLOSED',
  );
});

test('a second 438 is not retried: ok:false with errorCode 438', async () => {
  let n = 0;
  const relay = await startFakeRelay((r, server) => {
    if (!signed(r)) return server.challenge(r, 401, 'n0');
    server.challenge(r, 438, `n${++n}`);
  });
  const result = await allocateFrom(relay);
  assert.deepEqual(result, { ok: false, errorCode: 438, reason: 'Stale Nonce' });
  assert.equal(relay.received.length, 3);
});

test('401 on the signed request: ok:false with errorCode 401', async () => {
  const relay = await startFakeRelay((r, server) => server.challenge(r, 401, 'n'));
  const result = await allocate({
    host: '127.0.0.1',
    port: relay.port,
    username: USER,
    password: 'wrong',
    timeoutMs: 2000,
  });
  assert.deepEqual(result, { ok: false, errorCode: 401, reason: 'Unauthorized' });
  assert.equal(relay.received.length, 2);
});

test('other errors of the first ALLOCATE are returned as they are', async () => {
  const relay = await startFakeRelay((r, server) =>
    server.reply(r, StunClass.ErrorResponse, [errorCodeAttribute(486, 'Allocation Quota Reached')]),
  );
  const result = await allocateFrom(relay);
  assert.deepEqual(result, { ok: false, errorCode: 486, reason: 'Allocation Quota Reached' });
});

test('437 Allocation Mismatch: tried again from a new socket, up to three sockets in all', async () => {
  // The relay holds stale allocations for the first two source ports it sees.
  const stale = new Set<number>();
  const relay = await startFakeRelay((r, server) => {
    if (stale.size < 2) stale.add(r.from.port);
    if (stale.has(r.from.port))
      return server.reply(r, StunClass.ErrorResponse, [
        errorCodeAttribute(437, 'Allocation Mismatch'),
      ]);
    if (!signed(r)) return server.challenge(r, 401, 'nonce-1');
    server.allocated(r);
  });
  const result = await allocateFrom(relay);
  assert.equal(result.ok, true);
  if (result.ok) await result.close();
  const ports = new Set(relay.received.map((r) => r.from.port));
  assert.equal(ports.size, 3, 'three sockets, each from its own port');

  // Past three sockets the 437 is the answer.
  const always = await startFakeRelay((r, server) =>
    server.reply(r, StunClass.ErrorResponse, [errorCodeAttribute(437, 'Allocation Mismatch')]),
  );
  const refused = await allocateFrom(always);
  assert.deepEqual(refused, { ok: false, errorCode: 437, reason: 'Allocation Mismatch' });
  assert.equal(always.received.length, 3);
});

test('a success response with a bad MESSAGE-INTEGRITY is discarded (RFC 8489 §9.2.5)', async () => {
  const relay = await startFakeRelay((r, server) => {
    if (!signed(r)) return server.challenge(r, 401, 'n');
    server.allocated(r, longTermKey(USER, REALM, 'not-the-password'));
  });
  const started = Date.now();
  await assert.rejects(
    allocate({
      host: '127.0.0.1',
      port: relay.port,
      username: USER,
      password: PASSWORD,
      timeoutMs: 800,
    }),
    (err: unknown) =>
      err instanceof TurnClientError &&
      err.code === 'ERR_TURN_TIMEOUT' &&
      /MESSAGE-INTEGRITY/.test(err.message) &&
      !err.message.includes(PASSWORD),
  );
  assert.ok(Date.now() - started < 2000);
});

test('a silent server times out within the bound, after retransmissions', async () => {
  const relay = await startFakeRelay(() => {});
  const started = Date.now();
  await assert.rejects(
    allocate({
      host: '127.0.0.1',
      port: relay.port,
      username: USER,
      password: PASSWORD,
      timeoutMs: 1200,
    }),
    (err: unknown) => err instanceof TurnClientError && err.code === 'ERR_TURN_TIMEOUT',
  );
  const elapsed = Date.now() - started;
  assert.ok(elapsed >= 1100 && elapsed < 2500, `${elapsed} ms`);
  // RFC 8489 §6.2.1: sent at 0 ms and retransmitted at 500 ms (next would be 1500 ms).
  assert.equal(relay.received.length, 2);
  const ids = new Set(
    relay.received.map((r) => Buffer.from(r.message.transactionId).toString('hex')),
  );
  assert.equal(ids.size, 1, 'a retransmission reuses the transaction id');
});

test('stunBinding returns the reflexive address', async () => {
  const relay = await startFakeRelay((r, server) =>
    server.reply(r, StunClass.SuccessResponse, [
      xorAddressAttribute(
        StunAttr.XorMappedAddress,
        { family: 'IPv4', address: r.from.address, port: r.from.port },
        r.message.transactionId,
      ),
    ]),
  );
  const mapped = await stunBinding({ host: '127.0.0.1', port: relay.port, timeoutMs: 1000 });
  assert.equal(mapped.address, '127.0.0.1');
  assert.equal(mapped.port, relay.received[0]?.from.port);
});

test('option misuse throws before any network traffic', async () => {
  await assert.rejects(allocate({ host: '', port: 1, username: 'u', password: 'p' }), TypeError);
  await assert.rejects(
    allocate({ host: '127.0.0.1', port: 0, username: 'u', password: 'p' }),
    RangeError,
  );
  await assert.rejects(
    allocate({ host: '127.0.0.1', port: 1, username: '', password: 'p' }),
    TypeError,
  );
  await assert.rejects(
    allocate({ host: '127.0.0.1', port: 1, username: 'u', password: 'p', timeoutMs: 0 }),
    RangeError,
  );
});

async function waitFor(predicate: () => boolean, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
