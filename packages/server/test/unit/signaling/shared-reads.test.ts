import { test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import { readIntoSharedBuffer } from '../../../src/signaling/shared-reads.js';
import { WireSocket, type WireListener } from '../../../src/signaling/websocket.js';

// readIntoSharedBuffer on real loopback sockets: what Node's `onread` mode promises (reads to
// the callback, none as `data` events, pause/resume), refusals, and WireSocket reading what a
// socket buffered before start().

const TEST = { timeout: 10_000 };

async function pair(): Promise<{ server: Server; client: Socket; accepted: Socket }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const acceptedP = once(server, 'connection');
  const client = connect(port, '127.0.0.1');
  client.setNoDelay(true);
  await once(client, 'connect');
  const [accepted] = (await acceptedP) as [Socket];
  return { server, client, accepted };
}

async function close(p: { server: Server; client: Socket; accepted: Socket }): Promise<void> {
  p.client.destroy();
  p.accepted.destroy();
  await new Promise<void>((resolve) => p.server.close(() => resolve()));
}

function until(pred: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const tick = (): void => {
      if (pred()) return resolve();
      if (Date.now() - started > 3000) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

test('an accepted socket reads into the shared buffer, not as data events', TEST, async () => {
  const p = await pair();
  try {
    const got: string[] = [];
    let dataEvents = 0;
    p.accepted.on('data', () => dataEvents++);
    const receivers = new Set<unknown>();
    assert.equal(
      readIntoSharedBuffer(p.accepted, function (nread, buf) {
        receivers.add(this);
        got.push(buf.toString('latin1', 0, nread));
      }),
      true,
    );
    p.accepted.resume();
    p.client.write('first');
    await until(() => got.join('') === 'first', 'the first read');
    p.client.write('second');
    await until(() => got.join('') === 'firstsecond', 'the second read');
    assert.deepEqual([...receivers], [p.accepted], 'called as a method of the socket');
    assert.equal(dataEvents, 0);
    assert.equal(p.accepted.bytesRead, 11);
    // Already reading into a buffer: refused, nothing changed.
    assert.equal(
      readIntoSharedBuffer(p.accepted, () => {}),
      false,
    );
    // pause() stops the reads, resume() starts them again (Node's `onread` semantics).
    p.accepted.pause();
    p.client.write('third');
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(got.join(''), 'firstsecond');
    p.accepted.resume();
    await until(() => got.join('') === 'firstsecondthird', 'the read after resume');
    // The end of the stream still arrives as `end`.
    const ended = once(p.accepted, 'end');
    p.client.end();
    await ended;
  } finally {
    await close(p);
  }
});

test('a stream that is not a plain socket is refused and left alone', () => {
  const s = new PassThrough();
  assert.equal(
    readIntoSharedBuffer(s, () => {}),
    false,
  );
  assert.deepEqual(
    Object.getOwnPropertySymbols(s).filter((x) => x.description === 'kBuffer'),
    [],
  );
});

test('two sockets reading in turn each get their own bytes', TEST, async () => {
  const a = await pair();
  const b = await pair();
  try {
    const got = { a: '', b: '' };
    readIntoSharedBuffer(a.accepted, (n, buf) => (got.a += buf.toString('latin1', 0, n)));
    readIntoSharedBuffer(b.accepted, (n, buf) => (got.b += buf.toString('latin1', 0, n)));
    a.accepted.resume();
    b.accepted.resume();
    for (let i = 0; i < 20; i++) {
      a.client.write(`a${i};`);
      b.client.write(`B${i};`);
      await new Promise((r) => setTimeout(r, 2));
    }
    const want = (c: string) => Array.from({ length: 20 }, (_, i) => `${c}${i};`).join('');
    await until(() => got.a === want('a') && got.b === want('B'), 'every read');
  } finally {
    await close(a);
    await close(b);
  }
});

test('WireSocket reads what the socket buffered before start(), then the rest', TEST, async () => {
  const p = await pair();
  try {
    const texts: string[] = [];
    const listener: WireListener = {
      wireText: (_w, t) => void texts.push(t),
      wireBinary: () => {},
      wirePong: () => {},
      wireRead: () => {},
      wireFailure: () => false,
      wireClose: () => {},
    };
    const frame = (text: string, split?: number): Buffer[] => {
      const payload = Buffer.from(text);
      const f = Buffer.concat([Buffer.from([0x81, 0x80 | payload.length, 0, 0, 0, 0]), payload]);
      return split === undefined ? [f] : [f.subarray(0, split), f.subarray(split)];
    };
    // Sent while the handshake would still be checked: the server socket buffers it.
    const [whole] = frame('buffered before start');
    const [head, tail] = frame('split over the switch', 9);
    p.client.write(Buffer.concat([whole as Buffer, head as Buffer]));
    await until(() => p.accepted.readableLength === (whole as Buffer).length + 9, 'the buffer');
    const wire = WireSocket.accept(p.accepted, 'dGhlIHNhbXBsZSBub25jZQ==', undefined, {
      maxPayload: 1024,
      closeTimeoutMs: 500,
    });
    wire.listener = listener;
    wire.start(Buffer.alloc(0));
    assert.deepEqual(texts, ['buffered before start']);
    p.client.write(tail as Buffer);
    const [after] = frame('after start');
    p.client.write(after as Buffer);
    await until(() => texts.length === 3, 'the later frames');
    assert.deepEqual(texts, ['buffered before start', 'split over the switch', 'after start']);
  } finally {
    await close(p);
  }
});
