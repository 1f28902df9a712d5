import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isUtf8 } from 'node:buffer';
import { once } from 'node:events';
import { Duplex } from 'node:stream';
import { createServer, connect, type AddressInfo, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import {
  MAX_FRAGMENTS,
  MAX_UNSENT_FOR_PONG,
  WireSocket,
  WireState,
  acceptKey,
  encodeCloseFrame,
  isValidCloseCode,
  type WireListener,
} from '../../../src/signaling/websocket.js';

// WireSocket on its own, over a real loopback TCP pair: the client side writes masked frames by
// hand and reads the server's bytes raw.

/** RFC 6455 §1.3's example key and its accept value. */
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';
const PROTOCOL = 'callgate.v1';
const OPTS = { maxPayload: 1024, closeTimeoutMs: 500 };
const TEST = { timeout: 10_000 };
/** How long a wait for an expected event may take before the test fails. */
const WAIT_MS = 3_000;
/** "Promptly": well under OPTS.closeTimeoutMs. */
const PROMPT_MS = 250;
/** The mask key of RFC 6455 §5.7's masked example; non-zero, so masking is exercised. */
const MASK = Buffer.from([0x37, 0xfa, 0x21, 0x3d]);

const RESPONSE =
  'HTTP/1.1 101 Switching Protocols\r\n' +
  'Upgrade: websocket\r\n' +
  'Connection: Upgrade\r\n' +
  `Sec-WebSocket-Accept: ${ACCEPT}\r\n` +
  `Sec-WebSocket-Protocol: ${PROTOCOL}\r\n` +
  '\r\n';

// ---------------------------------------------------------------------------------------------
// Client frames (masked unless told otherwise)

interface FrameOptions {
  /** FIN bit; default true. */
  fin?: boolean;
  /** RSV bits as a 3-bit number: 4 = RSV1, 2 = RSV2, 1 = RSV3. */
  rsv?: number;
  /** MASK bit (and a masking key); default true. */
  mask?: boolean;
  /** The length encoding; default the shortest. */
  lengthBits?: 7 | 16 | 64;
}

/** A frame header announcing `length` payload bytes (with the masking key when masked). */
function header(opcode: number, length: number, o: FrameOptions = {}): Buffer {
  const mask = o.mask ?? true;
  const bits = o.lengthBits ?? (length <= 125 ? 7 : length <= 0xffff ? 16 : 64);
  const ext = bits === 7 ? 0 : bits === 16 ? 2 : 8;
  const h = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  h[0] = ((o.fin ?? true) ? 0x80 : 0) | ((o.rsv ?? 0) << 4) | opcode;
  const m = mask ? 0x80 : 0;
  if (bits === 7) h[1] = m | length;
  else if (bits === 16) {
    h[1] = m | 126;
    h.writeUInt16BE(length, 2);
  } else {
    h[1] = m | 127;
    h.writeBigUInt64BE(BigInt(length), 2);
  }
  if (mask) MASK.copy(h, 2 + ext);
  return h;
}

function frame(opcode: number, payload: Buffer | string = '', o: FrameOptions = {}): Buffer {
  const data = Buffer.from(typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload);
  if (o.mask ?? true)
    for (let i = 0; i < data.length; i++) data[i] = (data[i] as number) ^ (MASK[i % 4] as number);
  return Buffer.concat([header(opcode, data.length, o), data]);
}

const textFrame = (s: string, o?: FrameOptions): Buffer => frame(1, s, o);

function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2 + Buffer.byteLength(reason));
  b.writeUInt16BE(code, 0);
  b.write(reason, 2, 'utf8');
  return b;
}

// ---------------------------------------------------------------------------------------------
// Server frames, as the client receives them

interface ServerFrame {
  fin: boolean;
  rsv: number;
  masked: boolean;
  opcode: number;
  payload: Buffer;
}

/** Every complete frame in `buf`; throws on trailing bytes that are not a complete frame. */
function parseFrames(buf: Buffer): ServerFrame[] {
  const out: ServerFrame[] = [];
  let off = 0;
  while (off < buf.length) {
    assert.ok(off + 2 <= buf.length, `incomplete server frame at ${off}`);
    const b0 = buf[off] as number;
    const b1 = buf[off + 1] as number;
    let len = b1 & 0x7f;
    let hdr = 2;
    if (len === 126) {
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) {
      len = Number(buf.readBigUInt64BE(off + 2));
      hdr = 10;
    }
    const masked = (b1 & 0x80) !== 0;
    if (masked) hdr += 4;
    assert.ok(off + hdr + len <= buf.length, `incomplete server frame at ${off}`);
    out.push({
      fin: (b0 & 0x80) !== 0,
      rsv: (b0 >> 4) & 7,
      masked,
      opcode: b0 & 0x0f,
      payload: buf.subarray(off + hdr, off + hdr + len),
    });
    off += hdr + len;
  }
  return out;
}

/** A final, unmasked server close frame's code and reason. */
function closeOf(f: ServerFrame | undefined): { code: number; reason: string } {
  assert.ok(f !== undefined, 'no close frame');
  assert.equal(f.opcode, 8);
  assert.equal(f.fin, true);
  assert.equal(f.rsv, 0);
  assert.equal(f.masked, false);
  assert.ok(f.payload.length >= 2, 'close frame without a code');
  return { code: f.payload.readUInt16BE(0), reason: f.payload.subarray(2).toString('utf8') };
}

// ---------------------------------------------------------------------------------------------
// A connection: the TCP pair, the WireSocket and a recording listener

type WireEvent =
  | { kind: 'text'; text: string }
  | { kind: 'binary' }
  | { kind: 'pong' }
  | { kind: 'read' }
  | { kind: 'failure'; code: number; reason: string }
  | { kind: 'close'; code: number; reason: string };

interface OpenOptions {
  /** The upgrade's `head`, passed to start(). */
  head?: Buffer;
  /** The protocol accept() selects; default PROTOCOL. */
  protocol?: string | undefined;
  /** The listener answers wireFailure with wire.close(code, reason). */
  closeOnFailure?: boolean;
  /** Runs between accept() and start(). */
  beforeStart?: (wire: WireSocket) => void;
  /**
   * The wire gets a plain Duplex around the server socket, so it reads `data` events (any
   * stream that is not a plain TCP socket) instead of the shared read buffer.
   */
  dataEvents?: boolean;
}

/** A stream that is not a net.Socket: what the wire reads when the shared buffer is refused. */
class Wrapped extends Duplex {
  constructor(readonly inner: Socket) {
    super();
    inner.on('data', (chunk: Buffer) => this.push(chunk));
    inner.on('end', () => this.push(null));
    inner.on('close', () => this.destroy());
  }
  override _read(): void {}
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.inner.write(chunk, cb);
  }
  override _final(cb: () => void): void {
    this.inner.end();
    cb();
  }
  override _destroy(err: Error | null, cb: (err: Error | null) => void): void {
    this.inner.destroy();
    cb(err);
  }
}

/** Sections 1 and 2 run twice: reads into the shared buffer, and `data` events. */
function testBoth(
  name: string,
  opts: typeof TEST,
  fn: (mode: { dataEvents: boolean }) => Promise<void>,
): void {
  test(`${name} (shared read buffer)`, opts, () => fn({ dataEvents: false }));
  test(`${name} (data events)`, opts, () => fn({ dataEvents: true }));
}

class Conn implements WireListener {
  readonly wire: WireSocket;
  readonly events: WireEvent[] = [];
  /** Events already recorded when start() returned. */
  readonly afterStart: WireEvent[];
  /** Everything the client has received, the 101 response first. */
  received = Buffer.alloc(0);
  /** The client's first `data` chunk. */
  firstChunk: Buffer | null = null;
  failedAt = -1;
  clientEndedAt = -1;
  clientClosed = false;
  /** Bytes the client has written. */
  sentBytes = 0;
  readonly #closeOnFailure: boolean;
  readonly #waiters = new Set<() => void>();

  constructor(
    readonly client: Socket,
    readonly serverSocket: Socket,
    o: OpenOptions,
  ) {
    this.#closeOnFailure = o.closeOnFailure ?? false;
    client.on('data', (chunk: Buffer) => {
      this.firstChunk ??= chunk;
      this.received = Buffer.concat([this.received, chunk]);
      this.#notify();
    });
    client.on('end', () => {
      this.clientEndedAt = performance.now();
      this.#notify();
    });
    client.on('close', () => {
      this.clientClosed = true;
      this.#notify();
    });
    // Writes after the server has gone may fail; the tests look at what was received instead.
    client.on('error', () => {});
    serverSocket.on('error', () => {});
    const wired = o.dataEvents === true ? new Wrapped(serverSocket) : serverSocket;
    this.wire = WireSocket.accept(wired, KEY, 'protocol' in o ? o.protocol : PROTOCOL, OPTS);
    this.wire.listener = this;
    o.beforeStart?.(this.wire);
    this.wire.start(o.head ?? Buffer.alloc(0));
    this.afterStart = [...this.events];
  }

  /**
   * Bytes the server socket has read, all of them handled by the wire: the count is taken in
   * the same synchronous step as the read is handed over (wireRead notifies the waiters).
   */
  get serverBytes(): number {
    return this.serverSocket.bytesRead;
  }

  wireText(wire: WireSocket, text: string): void {
    this.#record(wire, { kind: 'text', text });
  }
  wireBinary(wire: WireSocket): void {
    this.#record(wire, { kind: 'binary' });
  }
  wirePong(wire: WireSocket): void {
    this.#record(wire, { kind: 'pong' });
  }
  wireRead(wire: WireSocket): void {
    this.#record(wire, { kind: 'read' });
  }
  wireFailure(wire: WireSocket, code: number, reason: string): boolean {
    this.failedAt = performance.now();
    this.#record(wire, { kind: 'failure', code, reason });
    if (this.#closeOnFailure) wire.close(code, reason);
    return true; // the test decides when the connection closes
  }
  wireClose(wire: WireSocket, code: number, reason: string): void {
    this.#record(wire, { kind: 'close', code, reason });
  }

  #record(wire: WireSocket, e: WireEvent): void {
    assert.equal(wire, this.wire, 'listener called with another WireSocket');
    this.events.push(e);
    this.#notify();
  }

  #notify(): void {
    for (const check of [...this.#waiters]) check();
  }

  /** Events other than wireRead. */
  messages(): WireEvent[] {
    return this.events.filter((e) => e.kind !== 'read');
  }

  reads(): number {
    return this.events.filter((e) => e.kind === 'read').length;
  }

  has(kind: WireEvent['kind']): boolean {
    return this.events.some((e) => e.kind === kind);
  }

  waitFor(what: string, pred: () => boolean, ms = WAIT_MS): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!pred()) return;
        clearTimeout(timer);
        this.#waiters.delete(check);
        resolve();
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; events: ${JSON.stringify(this.events)}`));
      }, ms);
      this.#waiters.add(check);
    });
  }

  /** Writes `bufs` as one TCP write. */
  async send(...bufs: Buffer[]): Promise<void> {
    const b = Buffer.concat(bufs);
    this.sentBytes += b.length;
    await new Promise<void>((resolve, reject) =>
      this.client.write(b, (err) => (err ? reject(err) : resolve())),
    );
  }

  /** Until the wire has handled every byte the client wrote. */
  drained(): Promise<void> {
    return this.waitFor(
      `the server to read ${this.sentBytes} bytes`,
      () => this.serverBytes === this.sentBytes,
    );
  }

  #headerEnd(): number {
    const i = this.received.indexOf('\r\n\r\n');
    return i < 0 ? -1 : i + 4;
  }

  /** The raw 101 response. */
  async response(): Promise<string> {
    await this.waitFor('the 101 response', () => this.#headerEnd() >= 0);
    return this.received.subarray(0, this.#headerEnd()).toString('latin1');
  }

  /** Bytes the client received after the 101 response. */
  afterResponse(): Buffer {
    const i = this.#headerEnd();
    assert.ok(i >= 0, 'no 101 response yet');
    return this.received.subarray(i);
  }

  frames(): ServerFrame[] {
    return parseFrames(this.afterResponse());
  }

  waitFrames(n: number): Promise<void> {
    return this.waitFor(`${n} server frame(s)`, () => {
      if (this.#headerEnd() < 0) return false;
      try {
        return this.frames().length >= n;
      } catch {
        return false; // a frame still incomplete
      }
    });
  }

  waitClientEnd(): Promise<void> {
    return this.waitFor('the server to end the TCP connection', () => this.clientEndedAt >= 0);
  }

  waitWireClose(ms?: number): Promise<void> {
    return this.waitFor('wireClose', () => this.has('close'), ms);
  }
}

/** Runs `fn` on a fresh loopback connection; every socket and the server are closed after it. */
async function withConn(o: OpenOptions, fn: (c: Conn) => Promise<void>): Promise<void> {
  const server = createServer();
  const sockets: Socket[] = [];
  server.on('connection', (s: Socket) => sockets.push(s));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  let client: Socket | undefined;
  try {
    const { port } = server.address() as AddressInfo;
    const accepted = once(server, 'connection');
    client = connect(port, '127.0.0.1');
    client.setNoDelay(true);
    await once(client, 'connect');
    const [serverSocket] = (await accepted) as [Socket];
    await fn(new Conn(client, serverSocket, o));
  } finally {
    client?.destroy();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** The first failure recorded (asserting there is one). */
function failure(c: Conn): { code: number; reason: string } {
  const f = c.events.find((e) => e.kind === 'failure');
  assert.ok(f !== undefined && f.kind === 'failure', 'no wireFailure');
  return { code: f.code, reason: f.reason };
}

// ---------------------------------------------------------------------------------------------
// Handshake

test('acceptKey gives the RFC 6455 §1.3 example value', () => {
  assert.equal(acceptKey(KEY), ACCEPT);
});

test('accept writes the exact 101 response with the selected protocol', TEST, async () => {
  await withConn({}, async (c) => {
    assert.equal(await c.response(), RESPONSE);
    assert.equal(c.afterResponse().length, 0);
    assert.equal(c.wire.state, WireState.Open);
  });
});

test('accept without a protocol writes no Sec-WebSocket-Protocol line', TEST, async () => {
  await withConn({ protocol: undefined }, async (c) => {
    assert.equal(
      await c.response(),
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        `Sec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`,
    );
  });
});

test('a frame sent right after accept leaves in the same write as the 101', TEST, async () => {
  const first = Buffer.from([0x81, 0x05, ...Buffer.from('hello')]);
  await withConn({ beforeStart: (wire) => wire.send(first) }, async (c) => {
    await c.waitFrames(1);
    assert.deepEqual(c.firstChunk, Buffer.concat([Buffer.from(RESPONSE, 'latin1'), first]));
  });
});

test(
  'a close sent before start leaves in the same write as the 101 (refused token)',
  TEST,
  async () => {
    await withConn({ beforeStart: (wire) => wire.close(4401, 'token_invalid') }, async (c) => {
      await c.waitFrames(1);
      assert.deepEqual(
        c.firstChunk,
        Buffer.concat([Buffer.from(RESPONSE, 'latin1'), encodeCloseFrame(4401, 'token_invalid')]),
      );
    });
  },
);

// ---------------------------------------------------------------------------------------------
// 1. Reassembly across TCP reads

testBoth('a text frame written one byte per TCP read arrives whole', TEST, async (mode) => {
  await withConn(mode, async (c) => {
    await c.response();
    // Multi-byte characters, so some reads end inside a character; then a 16-bit length.
    const short = 'héllo, wörld ✓';
    const long = Array.from({ length: 300 }, (_, i) => String.fromCharCode(97 + (i % 26))).join('');
    let reads = 0;
    for (const msg of [short, long]) {
      const f = textFrame(msg);
      for (let i = 0; i < f.length; i++) {
        await c.send(f.subarray(i, i + 1));
        await c.drained();
        reads++;
        assert.equal(c.reads(), reads, 'each byte is its own socket read');
        if (i < f.length - 1)
          assert.equal(c.messages().length, msg === short ? 0 : 1, `delivered early at ${i}`);
      }
    }
    assert.deepEqual(c.messages(), [
      { kind: 'text', text: short },
      { kind: 'text', text: long },
    ]);
    assert.equal(reads, textFrame(short).length + textFrame(long).length);
  });
});

testBoth(
  'two frames in one TCP write are both delivered, in order, in one read',
  TEST,
  async (mode) => {
    await withConn(mode, async (c) => {
      await c.response();
      await c.send(textFrame('one'), textFrame('two'));
      await c.drained();
      assert.deepEqual(c.events, [
        { kind: 'text', text: 'one' },
        { kind: 'text', text: 'two' },
        { kind: 'read' },
      ]);
    });
  },
);

testBoth('a frame split across two writes between whole frames', TEST, async (mode) => {
  await withConn(mode, async (c) => {
    await c.response();
    const second = textFrame('second, split');
    await c.send(textFrame('first'), second.subarray(0, 5));
    await c.drained();
    assert.deepEqual(c.messages(), [{ kind: 'text', text: 'first' }]);
    await c.send(second.subarray(5), textFrame('third'));
    await c.drained();
    assert.deepEqual(c.messages(), [
      { kind: 'text', text: 'first' },
      { kind: 'text', text: 'second, split' },
      { kind: 'text', text: 'third' },
    ]);
  });
});

testBoth(
  'bytes given to start() as head are parsed first, then the socket data',
  TEST,
  async (mode) => {
    const split = textFrame('split across head and socket');
    const head = Buffer.concat([textFrame('from head'), split.subarray(0, 3)]);
    await withConn({ ...mode, head }, async (c) => {
      // Handled synchronously inside start(), before any socket read.
      assert.deepEqual(c.afterStart, [{ kind: 'text', text: 'from head' }, { kind: 'read' }]);
      await c.response();
      await c.send(split.subarray(3), textFrame('from socket'));
      await c.drained();
      assert.deepEqual(c.messages(), [
        { kind: 'text', text: 'from head' },
        { kind: 'text', text: 'split across head and socket' },
        { kind: 'text', text: 'from socket' },
      ]);
    });
  },
);

testBoth('a frame with a (non-minimal) 64-bit length is read', TEST, async (mode) => {
  await withConn(mode, async (c) => {
    await c.response();
    await c.send(textFrame('sixty-four', { lengthBits: 64 }));
    await c.drained();
    assert.deepEqual(c.messages(), [{ kind: 'text', text: 'sixty-four' }]);
  });
});

testBoth('a message of exactly maxPayload bytes is delivered', TEST, async (mode) => {
  await withConn(mode, async (c) => {
    await c.response();
    const msg = 'm'.repeat(OPTS.maxPayload);
    await c.send(textFrame(msg));
    await c.drained();
    assert.deepEqual(c.messages(), [{ kind: 'text', text: msg }]);
  });
});

// ---------------------------------------------------------------------------------------------
// 2. Fragments and control frames

testBoth(
  'fragmented text with a ping between fragments: one message, the ping answered',
  TEST,
  async (mode) => {
    await withConn(mode, async (c) => {
      await c.response();
      const whole = Buffer.from('héllo, fragmented wörld', 'utf8');
      // The first boundary falls inside 'é' (0xc3 0xa9): only the joined message is UTF-8.
      const parts = [whole.subarray(0, 2), whole.subarray(2, 10), whole.subarray(10)];
      assert.equal(isUtf8(parts[0] as Buffer), false);
      await c.send(frame(1, parts[0], { fin: false }));
      await c.drained();
      await c.send(frame(9, 'ping-data'));
      await c.drained();
      await c.send(frame(0, parts[1], { fin: false }));
      await c.drained();
      assert.deepEqual(c.messages(), []);
      await c.send(frame(0, parts[2]));
      await c.drained();
      assert.deepEqual(c.messages(), [{ kind: 'text', text: whole.toString('utf8') }]);
      await c.waitFrames(1);
      assert.deepEqual(c.frames(), [
        { fin: true, rsv: 0, masked: false, opcode: 10, payload: Buffer.from('ping-data') },
      ]);
    });
  },
);

testBoth('fragments and a ping in one write', TEST, async (mode) => {
  await withConn(mode, async (c) => {
    await c.response();
    await c.send(
      frame(1, 'ab', { fin: false }),
      frame(0, 'cd', { fin: false }),
      frame(9),
      frame(0, 'ef', { fin: false }),
      frame(0, 'gh'),
      textFrame('next'),
    );
    await c.drained();
    assert.deepEqual(c.messages(), [
      { kind: 'text', text: 'abcdefgh' },
      { kind: 'text', text: 'next' },
    ]);
    await c.waitFrames(1);
    assert.deepEqual(c.afterResponse(), Buffer.from([0x8a, 0x00]));
  });
});

testBoth(
  'MAX_FRAGMENTS fragments summing to exactly maxPayload make one message',
  TEST,
  async (mode) => {
    assert.equal(MAX_FRAGMENTS, OPTS.maxPayload); // one byte per fragment reaches both bounds
    await withConn(mode, async (c) => {
      await c.response();
      const chars = Array.from({ length: MAX_FRAGMENTS }, (_, i) =>
        String.fromCharCode(97 + (i % 26)),
      );
      await c.send(
        ...chars.map((ch, i) => frame(i === 0 ? 1 : 0, ch, { fin: i === MAX_FRAGMENTS - 1 })),
      );
      await c.drained();
      assert.deepEqual(c.messages(), [{ kind: 'text', text: chars.join('') }]);
    });
  },
);

// ---------------------------------------------------------------------------------------------
// 3, 4. Pong, ping(), binary

test('a pong from the client calls wirePong', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    await c.send(frame(10, 'pong-data'));
    await c.drained();
    assert.deepEqual(c.events, [{ kind: 'pong' }, { kind: 'read' }]);
    assert.equal(c.afterResponse().length, 0, 'a pong is not answered');
  });
});

test('ping() sends an empty ping frame', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    c.wire.ping();
    await c.waitFrames(1);
    assert.deepEqual(c.afterResponse(), Buffer.from([0x89, 0x00]));
  });
});

test('binary messages call wireBinary, whole or fragmented, any bytes', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    await c.send(frame(2, Buffer.from([0x00, 0xff, 0xfe, 0x80])));
    await c.drained();
    assert.deepEqual(c.messages(), [{ kind: 'binary' }]);
    await c.send(frame(2, Buffer.from([0xc3]), { fin: false }), frame(0, Buffer.from([0xff])));
    await c.drained();
    assert.deepEqual(c.messages(), [{ kind: 'binary' }, { kind: 'binary' }]);
  });
});

// ---------------------------------------------------------------------------------------------
// 5. Violations

interface Violation {
  name: string;
  bytes: () => Buffer;
  code: number;
  reason: string;
}

const violations: Violation[] = [
  {
    name: 'an unmasked frame',
    bytes: () => textFrame('hi', { mask: false }),
    code: 1002,
    reason: 'unmasked frame',
  },
  {
    name: 'RSV1 set',
    bytes: () => textFrame('hi', { rsv: 4 }),
    code: 1002,
    reason: 'RSV bits set',
  },
  {
    name: 'RSV2 set',
    bytes: () => textFrame('hi', { rsv: 2 }),
    code: 1002,
    reason: 'RSV bits set',
  },
  {
    name: 'RSV3 set',
    bytes: () => textFrame('hi', { rsv: 1 }),
    code: 1002,
    reason: 'RSV bits set',
  },
  { name: 'opcode 3', bytes: () => frame(3, 'hi'), code: 1002, reason: 'unknown opcode' },
  { name: 'opcode 11', bytes: () => frame(11), code: 1002, reason: 'unknown opcode' },
  {
    name: 'a continuation without a start',
    bytes: () => frame(0, 'hi'),
    code: 1002,
    reason: 'unexpected continuation',
  },
  {
    name: 'a new message inside a fragmented one',
    bytes: () => Buffer.concat([frame(1, 'a', { fin: false }), frame(1, 'b')]),
    code: 1002,
    reason: 'expected continuation',
  },
  {
    name: 'a fragmented ping',
    bytes: () => frame(9, 'x', { fin: false }),
    code: 1002,
    reason: 'fragmented control frame',
  },
  {
    name: 'a ping with a 126-byte payload',
    bytes: () => frame(9, Buffer.alloc(126, 0x61)),
    code: 1002,
    reason: 'control frame too long',
  },
  {
    name: 'a close frame with code 1005',
    bytes: () => frame(8, closePayload(1005)),
    code: 1002,
    reason: 'invalid close code',
  },
  {
    name: 'a close frame with code 999',
    bytes: () => frame(8, closePayload(999, 'x')),
    code: 1002,
    reason: 'invalid close code',
  },
  {
    name: 'a close frame with a 1-byte payload',
    bytes: () => frame(8, Buffer.from([0x03])),
    code: 1002,
    reason: 'invalid close frame',
  },
  {
    name: 'a close reason that is not UTF-8',
    bytes: () => frame(8, Buffer.concat([closePayload(1000), Buffer.from([0xff])])),
    code: 1007,
    reason: 'invalid UTF-8',
  },
  {
    name: 'text that is not UTF-8',
    bytes: () => frame(1, Buffer.from([0x68, 0xff, 0x69])),
    code: 1007,
    reason: 'invalid UTF-8',
  },
  {
    name: 'fragmented text ending inside a character',
    bytes: () => Buffer.concat([frame(1, 'h', { fin: false }), frame(0, Buffer.from([0xc3]))]),
    code: 1007,
    reason: 'invalid UTF-8',
  },
  {
    name: 'a header announcing maxPayload + 1 bytes (payload never sent)',
    bytes: () => header(1, OPTS.maxPayload + 1),
    code: 1009,
    reason: 'message too big',
  },
  {
    name: 'a 64-bit length of 2^32 (payload never sent)',
    bytes: () => header(2, 2 ** 32),
    code: 1009,
    reason: 'message too big',
  },
  {
    name: 'fragments summing to maxPayload + 1',
    bytes: () =>
      Buffer.concat([
        frame(1, 'a'.repeat(600), { fin: false }),
        frame(0, 'b'.repeat(OPTS.maxPayload + 1 - 600)),
      ]),
    code: 1009,
    reason: 'message too big',
  },
  {
    name: 'MAX_FRAGMENTS + 1 unfinished fragments',
    bytes: () =>
      Buffer.concat(
        Array.from({ length: MAX_FRAGMENTS + 1 }, (_, i) =>
          frame(i === 0 ? 1 : 0, '', { fin: false }),
        ),
      ),
    code: 1008,
    reason: 'too many fragments',
  },
];

for (const v of violations) {
  test(`${v.name}: wireFailure ${v.code}, nothing delivered after it`, TEST, async () => {
    await withConn({}, async (c) => {
      await c.response();
      // A valid message first, in the same write: the failure stops exactly at the violation.
      await c.send(textFrame('before'), v.bytes());
      await c.waitFor('wireFailure', () => c.has('failure'));
      await c.drained();
      await c.send(textFrame('after'));
      await c.drained();
      await c.send(frame(9, 'unanswered'));
      await c.drained();
      assert.deepEqual(c.messages(), [
        { kind: 'text', text: 'before' },
        { kind: 'failure', code: v.code, reason: v.reason },
      ]);
      // Closing is the listener's call; this one did not, so the server sent nothing.
      assert.equal(c.afterResponse().length, 0);
      assert.equal(c.clientEndedAt, -1);
    });
  });

  test(
    `${v.name}: closed by the listener, the server sends close ${v.code} and ends the connection promptly`,
    TEST,
    async () => {
      await withConn({ closeOnFailure: true }, async (c) => {
        await c.response();
        await c.send(textFrame('before'), v.bytes());
        await c.waitClientEnd();
        const elapsed = c.clientEndedAt - c.failedAt;
        assert.ok(c.failedAt >= 0 && elapsed < PROMPT_MS, `ended ${elapsed} ms after the failure`);
        assert.equal(c.frames().length, 1);
        assert.deepEqual(closeOf(c.frames()[0]), { code: v.code, reason: v.reason });
        await c.waitWireClose();
        assert.deepEqual(c.messages(), [
          { kind: 'text', text: 'before' },
          { kind: 'failure', code: v.code, reason: v.reason },
          { kind: 'close', code: 1006, reason: '' },
        ]);
        assert.equal(c.wire.state, WireState.Closed);
      });
    },
  );
}

test(
  'a too-big header fails before its payload is sent; the payload is then ignored',
  TEST,
  async () => {
    await withConn({}, async (c) => {
      await c.response();
      const h = header(1, OPTS.maxPayload + 1);
      assert.equal(h.length, 8);
      await c.send(h);
      await c.waitFor('wireFailure', () => c.has('failure'));
      assert.equal(c.serverBytes, 8, 'failed on the 8 header bytes alone');
      assert.deepEqual(failure(c), { code: 1009, reason: 'message too big' });
      const payload = Buffer.alloc(OPTS.maxPayload + 1, 0x61);
      for (let i = 0; i < payload.length; i++)
        payload[i] = (payload[i] as number) ^ (MASK[i % 4] as number);
      await c.send(payload, textFrame('after'));
      await c.drained();
      assert.deepEqual(c.messages(), [{ kind: 'failure', code: 1009, reason: 'message too big' }]);
    });
  },
);

test(
  'fragments over maxPayload fail at the header of the fragment that crosses it',
  TEST,
  async () => {
    await withConn({}, async (c) => {
      await c.response();
      await c.send(
        frame(1, 'a'.repeat(1000), { fin: false }),
        header(0, OPTS.maxPayload + 1 - 1000),
      );
      await c.waitFor('wireFailure', () => c.has('failure'));
      assert.deepEqual(c.messages(), [{ kind: 'failure', code: 1009, reason: 'message too big' }]);
    });
  },
);

test('a ping while more than MAX_UNSENT_FOR_PONG bytes are unsent: 1008', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    // Corked, so the bytes stay in the socket's buffer (writableLength) whatever the kernel does.
    c.serverSocket.cork();
    c.serverSocket.write(Buffer.alloc(MAX_UNSENT_FOR_PONG));
    await c.send(frame(9, 'p'));
    await c.drained();
    assert.deepEqual(c.messages(), []);
    assert.equal(c.wire.bufferedAmount, MAX_UNSENT_FOR_PONG + 3, 'the first ping is answered');
    await c.send(frame(9, 'q'));
    await c.waitFor('wireFailure', () => c.has('failure'));
    assert.deepEqual(c.messages(), [
      { kind: 'failure', code: 1008, reason: 'too many pending pongs' },
    ]);
    assert.equal(c.wire.bufferedAmount, MAX_UNSENT_FOR_PONG + 3, 'the second is not');
  });
});

// The bound counts every fragment of a message, the final one included.
test('MAX_FRAGMENTS + 1 fragments in all (the last one final): 1008', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    await c.send(
      ...Array.from({ length: MAX_FRAGMENTS + 1 }, (_, i) =>
        frame(i === 0 ? 1 : 0, '', { fin: i === MAX_FRAGMENTS }),
      ),
    );
    await c.drained();
    assert.deepEqual(c.messages(), [{ kind: 'failure', code: 1008, reason: 'too many fragments' }]);
  });
});

// ---------------------------------------------------------------------------------------------
// 6. Client-initiated close

test(
  'client close 1000 "bye": echoed, the socket ended, wireClose(1000, "bye")',
  TEST,
  async () => {
    await withConn({}, async (c) => {
      await c.response();
      const sentAt = performance.now();
      // A frame after the close, in the same write, is not read.
      await c.send(frame(8, closePayload(1000, 'bye')), textFrame('ignored'));
      await c.waitClientEnd();
      assert.ok(c.clientEndedAt - sentAt < PROMPT_MS, 'ended promptly');
      assert.deepEqual(
        c.afterResponse(),
        Buffer.from([0x88, 0x05, 0x03, 0xe8, ...Buffer.from('bye')]),
      );
      await c.waitWireClose();
      assert.deepEqual(c.messages(), [{ kind: 'close', code: 1000, reason: 'bye' }]);
      assert.equal(c.wire.state, WireState.Closed);
    });
  },
);

test('client close with an empty payload: empty close back, wireClose 1005', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    await c.send(frame(8));
    await c.waitClientEnd();
    assert.deepEqual(c.afterResponse(), Buffer.from([0x88, 0x00]));
    await c.waitWireClose();
    assert.deepEqual(c.messages(), [{ kind: 'close', code: 1005, reason: '' }]);
  });
});

test('client close 4000 with a UTF-8 reason is echoed byte for byte', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    await c.send(frame(8, closePayload(4000, 'fin ✓')));
    await c.waitClientEnd();
    assert.deepEqual(closeOf(c.frames()[0]), { code: 4000, reason: 'fin ✓' });
    assert.equal(c.frames().length, 1);
    await c.waitWireClose();
    assert.deepEqual(c.messages(), [{ kind: 'close', code: 4000, reason: 'fin ✓' }]);
  });
});

test('a client that half-closes without a close frame: wireClose 1006', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    c.client.end();
    await c.waitWireClose();
    assert.deepEqual(c.messages(), [{ kind: 'close', code: 1006, reason: '' }]);
    assert.equal(c.afterResponse().length, 0);
  });
});

// ---------------------------------------------------------------------------------------------
// 7. Server-initiated close

test(
  'server close 4401: the client answers, the server ends, wireClose has its code',
  TEST,
  async () => {
    await withConn({}, async (c) => {
      await c.response();
      c.wire.close(4401, 'token_expired');
      assert.equal(c.wire.state, WireState.Closing);
      await c.waitFrames(1);
      assert.deepEqual(
        c.afterResponse(),
        Buffer.concat([Buffer.from([0x88, 15]), closePayload(4401, 'token_expired')]),
      );
      // The handshake is not over: the server waits for the client's close frame.
      assert.equal(c.serverSocket.writableEnded, false);
      assert.equal(c.clientEndedAt, -1);
      // A message after the server's close frame is not delivered; a second close() is a no-op.
      await c.send(textFrame('late'));
      await c.drained();
      c.wire.close(1000, 'again');
      assert.deepEqual(c.messages(), []);
      const sentAt = performance.now();
      await c.send(frame(8, closePayload(1000, 'ack')));
      await c.waitClientEnd();
      assert.ok(c.clientEndedAt - sentAt < PROMPT_MS, 'ended promptly');
      await c.waitWireClose();
      assert.deepEqual(c.messages(), [{ kind: 'close', code: 1000, reason: 'ack' }]);
      assert.equal(c.frames().length, 1, 'the client close is not echoed again');
      assert.equal(c.wire.state, WireState.Closed);
    });
  },
);

test(
  'server close with no answer: destroyed after closeTimeoutMs, wireClose 1006',
  TEST,
  async () => {
    await withConn({}, async (c) => {
      await c.response();
      const closedAt = performance.now();
      c.wire.close(4401, 'token_expired');
      await c.waitFrames(1);
      assert.deepEqual(closeOf(c.frames()[0]), { code: 4401, reason: 'token_expired' });
      await c.waitWireClose(OPTS.closeTimeoutMs + WAIT_MS);
      const elapsed = performance.now() - closedAt;
      assert.ok(
        elapsed >= OPTS.closeTimeoutMs - 50 && elapsed < OPTS.closeTimeoutMs + 1000,
        `closed after ${elapsed} ms`,
      );
      assert.deepEqual(c.messages(), [{ kind: 'close', code: 1006, reason: '' }]);
      assert.equal(c.serverSocket.destroyed, true);
      await c.waitFor('the client to see the connection close', () => c.clientClosed);
      assert.equal(c.frames().length, 1);
    });
  },
);

// ---------------------------------------------------------------------------------------------
// 8. terminate()

test('terminate() drops the connection without a close frame: wireClose 1006', TEST, async () => {
  await withConn({}, async (c) => {
    await c.response();
    c.wire.terminate();
    await c.waitWireClose();
    await c.waitFor('the client to see the connection close', () => c.clientClosed);
    assert.deepEqual(c.messages(), [{ kind: 'close', code: 1006, reason: '' }]);
    assert.equal(c.afterResponse().length, 0, 'no close frame');
    assert.equal(c.wire.state, WireState.Closed);
  });
});

// ---------------------------------------------------------------------------------------------
// 9. Helpers

test('encodeCloseFrame: exact bytes; a long reason is cut to 123 bytes', () => {
  assert.deepEqual(encodeCloseFrame(undefined), Buffer.from([0x88, 0x00]));
  assert.deepEqual(encodeCloseFrame(1000), Buffer.from([0x88, 0x02, 0x03, 0xe8]));
  assert.deepEqual(
    encodeCloseFrame(4401, 'token_expired'),
    Buffer.concat([Buffer.from([0x88, 15, 0x11, 0x31]), Buffer.from('token_expired')]),
  );
  const long = Array.from({ length: 200 }, (_, i) => String.fromCharCode(65 + (i % 26))).join('');
  const f = encodeCloseFrame(1001, long);
  assert.equal(f.length, 2 + 2 + 123);
  assert.deepEqual(
    f,
    Buffer.concat([Buffer.from([0x88, 125, 0x03, 0xe9]), Buffer.from(long.slice(0, 123))]),
  );
  const exact = 'r'.repeat(123);
  assert.deepEqual(encodeCloseFrame(1000, exact).subarray(4), Buffer.from(exact));
});

// Truncating at byte 123 must not cut a multi-byte character in half: a client must fail the
// connection on a close reason that is not UTF-8 (RFC 6455 §5.5.1, §8.1).
test('encodeCloseFrame: a reason cut to 123 bytes is still UTF-8', {}, () => {
  const f = encodeCloseFrame(1000, 'x'.repeat(122) + 'é');
  assert.ok(f.length <= 2 + 2 + 123);
  assert.equal(isUtf8(f.subarray(4)), true);
});

test('isValidCloseCode', () => {
  for (const code of [
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 4401, 4999,
  ])
    assert.equal(isValidCloseCode(code), true, String(code));
  for (const code of [0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535])
    assert.equal(isValidCloseCode(code), false, String(code));
});
