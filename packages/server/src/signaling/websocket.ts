import * as crypto from 'node:crypto';
import { isUtf8 } from 'node:buffer';
import type { Duplex } from 'node:stream';
import { readIntoSharedBuffer } from './shared-reads.js';

/**
 * The server side of RFC 6455 framing on an upgraded socket, without extensions: what the
 * signaling server needs and nothing else. It replaces `ws` on the server's hot path — each
 * frame is parsed straight from what the socket read (no stream machinery per frame; on plain
 * TCP sockets the reads go into one buffer shared by every socket, shared-reads.ts), no object
 * or closure is made per connection beyond this one, and the `101` response and the first frame
 * leave in one write (see {@link WireSocket.accept}).
 *
 * What it enforces (RFC 6455 §5, §7.4): client frames must be masked; RSV bits must be clear
 * (no extension is ever negotiated, so a compressed frame is a protocol error: catalogue S53);
 * known opcodes only; control frames are final and at most 125 bytes; continuation frames only
 * inside a fragmented message; a message (all its fragments) at most `maxPayload` bytes, refused
 * from its header before its payload is buffered (1009); text is valid UTF-8 (1007); a close
 * frame carries a valid code and a UTF-8 reason. A violation stops reading and closes the
 * connection with that code.
 */

/** RFC 6455 §1.3. */
const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** A {@link WireSocket}'s state (`ws`'s readyState values). */
export const WireState = { Open: 1, Closing: 2, Closed: 3 } as const;
export type WireState = (typeof WireState)[keyof typeof WireState];

/** What a {@link WireSocket} reports; one listener (the signaling server) serves every socket. */
export interface WireListener {
  /** A complete text message, valid UTF-8. */
  wireText(wire: WireSocket, text: string): void;
  /** A complete binary message (its bytes are not kept). */
  wireBinary(wire: WireSocket): void;
  wirePong(wire: WireSocket): void;
  /** Everything in one socket read has been handled. */
  wireRead(wire: WireSocket): void;
  /**
   * A framing violation: reading has stopped. The listener answers true when it closes the
   * connection itself (with `code`, 1002, 1007, 1008 or 1009, and `reason`); on false the
   * socket closes itself, at once when its close frame was already sent.
   */
  wireFailure(wire: WireSocket, code: number, reason: string): boolean;
  /**
   * The TCP connection is gone. `code` is the peer's close code (1005 when its close frame had
   * none), or 1006 when no close frame was received.
   */
  wireClose(wire: WireSocket, code: number, reason: string): void;
}

const kWire = Symbol('callgate.wire');
type WiredSocket = Duplex & { [kWire]?: WireSocket };

/**
 * One-shot hashing (`crypto.hash`, Node 20.12 and later): no Hash object per call, a quarter of
 * `createHash`'s cost for the 60 bytes of a handshake. `createHash` on older Node 20 releases.
 */
const hashOnce = (crypto as { hash?: (alg: string, data: string, enc: 'base64') => string }).hash;

/** `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (RFC 6455 §4.2.2). */
export function acceptKey(key: string): string {
  return hashOnce !== undefined
    ? hashOnce('sha1', key + GUID, 'base64')
    : crypto
        .createHash('sha1')
        .update(key + GUID)
        .digest('base64');
}

/** A control frame (final, unmasked, server to client) around at most 125 bytes of payload. */
function encodeControlFrame(opcode: 0x8 | 0x9 | 0xa, payload: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(2 + payload.length);
  buf[0] = 0x80 | opcode;
  buf[1] = payload.length;
  buf.set(payload, 2);
  return buf;
}

/** A close frame (unmasked, server to client) with `code` and a reason of at most 123 bytes. */
export function encodeCloseFrame(code: number | undefined, reason = ''): Buffer {
  if (code === undefined) return encodeControlFrame(0x8, EMPTY);
  let r = Buffer.from(reason, 'utf8');
  if (r.length > 123) {
    // Cut at a character boundary: a reason that is not UTF-8 fails the connection (§5.5.1).
    let end = 123;
    while (end > 0 && ((r[end] as number) & 0xc0) === 0x80) end--;
    r = r.subarray(0, end);
  }
  const payload = Buffer.allocUnsafe(2 + r.length);
  payload.writeUInt16BE(code, 0);
  r.copy(payload, 2);
  return encodeControlFrame(0x8, payload);
}

const EMPTY = Buffer.alloc(0);
const PING_FRAME = encodeControlFrame(0x9, EMPTY);

/**
 * Bounds on what a client can make the server hold (catalogue D54; `ws`'s `maxFragments` and
 * `maxBufferedChunks`, `maxPendingAutoPongs`): fragments of one message, socket reads that make
 * up one incomplete frame, and unsent bytes when a ping arrives. Past any of them: 1008.
 */
export const MAX_FRAGMENTS = 1024;
export const MAX_BUFFERED_CHUNKS = 4096;
export const MAX_UNSENT_FOR_PONG = 64 * 1024;

/** Close codes a peer may send (RFC 6455 §7.4; ws's `isValidStatusCode`). */
export function isValidCloseCode(code: number): boolean {
  return (
    (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) ||
    (code >= 3000 && code <= 4999)
  );
}

export interface WireOptions {
  /** Largest message, all fragments together (RFC 6455 §10.4); past it 1009. */
  maxPayload: number;
  /** How long a close handshake may take before the socket is destroyed. */
  closeTimeoutMs: number;
}

/**
 * One upgraded WebSocket connection (server side). `socket` is written to directly by the
 * signaling server's outbox; everything else goes through the methods here.
 */
export class WireSocket {
  readonly socket: Duplex;
  state: WireState = WireState.Open;
  /** Who hears this socket's events; null ignores messages (a socket only being closed). */
  listener: WireListener | null = null;
  /** Whatever the listener attaches (the signaling peer). */
  owner: unknown = undefined;

  readonly #opts: WireOptions;
  /** Bytes of an incomplete frame, oldest first, and how many there are / are needed. */
  #chunks: Buffer[] | null = null;
  #buffered = 0;
  #need = 0;
  /** Fragments of an unfinished message (RFC 6455 §5.4). */
  #fragments: Buffer[] | null = null;
  #fragmentBytes = 0;
  #fragmentOpcode = 0;
  #stopped = false;
  #closeSent = false;
  #closeReceived = false;
  #closeCode = 1006;
  #closeReason = '';
  #closeTimer: NodeJS.Timeout | undefined;
  /** The `101` response, until it leaves with the first frame (or on {@link start}). */
  #response: string | undefined;

  /**
   * Completes the upgrade: the `101` response (selecting `protocol` when given) is made, and
   * returns the connection, not yet reading. The caller sets `listener`, may send its first
   * frames ({@link send}: the response and the first of them leave in one write, without
   * corking the socket), then calls {@link start} with the upgrade's `head`, which writes the
   * response if nothing was sent.
   */
  static accept(
    socket: Duplex,
    key: string,
    protocol: string | undefined,
    opts: WireOptions,
  ): WireSocket {
    const wire = new WireSocket(socket, opts);
    wire.#response =
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      `Sec-WebSocket-Accept: ${acceptKey(key)}\r\n` +
      (protocol !== undefined ? `Sec-WebSocket-Protocol: ${protocol}\r\n` : '') +
      '\r\n';
    return wire;
  }

  /**
   * Writes encoded frames to the socket; the first write carries the `101` response in front
   * of them (one buffer, one system call).
   */
  send(data: Buffer): void {
    const response = this.#response;
    if (response === undefined) {
      this.socket.write(data);
      return;
    }
    this.#response = undefined;
    const buf = Buffer.allocUnsafe(response.length + data.length);
    buf.write(response, 0, 'latin1');
    data.copy(buf, response.length);
    this.socket.write(buf);
  }

  private constructor(socket: Duplex, opts: WireOptions) {
    this.socket = socket;
    this.#opts = opts;
    (socket as WiredSocket)[kWire] = this;
    const s = socket as Duplex & { setTimeout?: (ms: number) => void; setNoDelay?: () => void };
    s.setTimeout?.(0);
    s.setNoDelay?.();
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
  }

  /**
   * Starts reading frames: first those that came with the upgrade request, then the socket's.
   * A plain TCP socket's reads go into the buffer every socket shares from here on
   * (shared-reads.ts), after what it buffered while the handshake was checked; any other
   * stream's come as `data` events.
   */
  start(head: Buffer): void {
    // Nothing was sent before reading starts: the response goes now (before any pong).
    if (this.#response !== undefined && this.socket.writable) this.send(EMPTY);
    if (head.length > 0) this.#receive(head, false);
    const socket = this.socket;
    if (!readIntoSharedBuffer(socket, onSharedRead)) {
      socket.on('data', onSocketData);
      return;
    }
    for (let c = socket.read() as Buffer | null; c !== null; c = socket.read() as Buffer | null)
      this.#receive(c, false);
    socket.resume();
  }

  /** Bytes written to the socket and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  ping(): void {
    if (this.state === WireState.Open && this.socket.writable) this.send(PING_FRAME);
  }

  /**
   * Starts the closing handshake: a close frame now; the TCP connection ends when the peer's
   * close frame arrives (at once after a framing violation), or is destroyed after
   * `closeTimeoutMs`.
   */
  close(code: number, reason = ''): void {
    if (this.state === WireState.Closed || this.#closeSent) return;
    this.#sendClose(code, reason);
    if (this.#closeReceived || this.#stopped) this.socket.end();
    this.#closeTimer = setTimeout(destroySocket, this.#opts.closeTimeoutMs, this.socket);
    this.#closeTimer.unref();
  }

  /** Writes our close frame (once): nothing but the TCP end follows it. */
  #sendClose(code: number | undefined, reason: string): void {
    this.#closeSent = true;
    this.state = WireState.Closing;
    if (this.socket.writable) this.send(encodeCloseFrame(code, reason));
  }

  /** No frame is read any more; what was buffered for an unfinished one is dropped. */
  #stopReading(): void {
    this.#stopped = true;
    this.#chunks = null;
    this.#fragments = null;
  }

  /** Drops the connection without a close frame (the peer sees 1006). */
  terminate(): void {
    this.state = WireState.Closing;
    this.socket.destroy();
  }

  /**
   * One read. `transient`: the chunk's memory is reused once this returns (the shared read
   * buffer), so the bytes of an unfinished frame or message are copied before they are kept.
   */
  #receive(chunk: Buffer, transient: boolean): void {
    this.#parse(chunk, transient);
    this.listener?.wireRead(this);
  }

  #parse(chunk: Buffer, transient: boolean): void {
    if (this.#stopped) return;
    let buf = chunk;
    if (this.#chunks !== null) {
      if (this.#chunks.length >= MAX_BUFFERED_CHUNKS)
        return this.#fail(1008, 'too many buffered chunks');
      this.#chunks.push(transient ? Buffer.from(chunk) : chunk);
      this.#buffered += chunk.length;
      if (this.#buffered < this.#need) return;
      buf = Buffer.concat(this.#chunks, this.#buffered);
      transient = false;
      this.#chunks = null;
      this.#buffered = 0;
    }
    const end = buf.length;
    let off = 0;
    let need = 0;
    while (off < end) {
      const avail = end - off;
      if (avail < 2) {
        need = 2;
        break;
      }
      const b0 = buf[off] as number;
      const b1 = buf[off + 1] as number;
      const fin = (b0 & 0x80) !== 0;
      const opcode = b0 & 0x0f;
      if ((b0 & 0x70) !== 0) return this.#fail(1002, 'RSV bits set');
      if ((b1 & 0x80) === 0) return this.#fail(1002, 'unmasked frame');
      if (opcode >= 8) {
        if (opcode > 10) return this.#fail(1002, 'unknown opcode');
        if (!fin) return this.#fail(1002, 'fragmented control frame');
      } else if (opcode === 0) {
        if (this.#fragments === null) return this.#fail(1002, 'unexpected continuation');
      } else if (opcode <= 2) {
        if (this.#fragments !== null) return this.#fail(1002, 'expected continuation');
      } else return this.#fail(1002, 'unknown opcode');
      let len = b1 & 0x7f;
      let hdr = 6;
      if (len === 126) {
        if (avail < 8) {
          need = 8;
          break;
        }
        len = buf.readUInt16BE(off + 2);
        hdr = 8;
      } else if (len === 127) {
        if (avail < 14) {
          need = 14;
          break;
        }
        // Anything past 2^32 is far past any maxPayload.
        if (buf.readUInt32BE(off + 2) !== 0) return this.#fail(1009, 'message too big');
        len = buf.readUInt32BE(off + 6);
        hdr = 14;
      }
      if (opcode >= 8) {
        if (len > 125) return this.#fail(1002, 'control frame too long');
      } else if (this.#fragmentBytes + len > this.#opts.maxPayload)
        return this.#fail(1009, 'message too big');
      if (avail < hdr + len) {
        need = hdr + len;
        break;
      }
      const start = off + hdr;
      off = start + len;
      unmask(buf, start - 4, start, off);
      if (opcode >= 8) this.#control(opcode, buf.subarray(start, off));
      else if (!fin) {
        if (opcode !== 0) {
          this.#fragments = [];
          this.#fragmentOpcode = opcode;
        }
        const parts = this.#fragments as Buffer[];
        if (parts.length >= MAX_FRAGMENTS) return this.#fail(1008, 'too many fragments');
        parts.push(transient ? Buffer.from(buf.subarray(start, off)) : buf.subarray(start, off));
        this.#fragmentBytes += len;
      } else if (this.#fragments === null) this.#message(opcode, buf, start, off);
      else {
        const parts = this.#fragments;
        if (parts.length >= MAX_FRAGMENTS) return this.#fail(1008, 'too many fragments');
        parts.push(buf.subarray(start, off));
        const whole = Buffer.concat(parts, this.#fragmentBytes + len);
        this.#fragments = null;
        this.#fragmentBytes = 0;
        this.#message(this.#fragmentOpcode, whole, 0, whole.length);
      }
      if (this.#stopped) return;
    }
    if (off < end) {
      const rest = off === 0 ? buf : buf.subarray(off);
      this.#chunks = [transient ? Buffer.from(rest) : rest];
      this.#buffered = end - off;
      this.#need = need;
    }
  }

  #message(opcode: number, buf: Buffer, start: number, end: number): void {
    const listener = this.listener;
    if (opcode === 2) {
      listener?.wireBinary(this);
      return;
    }
    const bytes = start === 0 && end === buf.length ? buf : buf.subarray(start, end);
    if (!isUtf8(bytes)) return this.#fail(1007, 'invalid UTF-8');
    if (listener !== null && this.state === WireState.Open)
      listener.wireText(this, buf.toString('utf8', start, end));
  }

  #control(opcode: number, payload: Buffer): void {
    if (opcode === 9) {
      // A client that pings without reading its pongs is not answered forever.
      if (this.socket.writableLength > MAX_UNSENT_FOR_PONG)
        return this.#fail(1008, 'too many pending pongs');
      if (this.state === WireState.Open && this.socket.writable)
        this.send(encodeControlFrame(0xa, payload));
    } else if (opcode === 10) this.listener?.wirePong(this);
    else {
      let code: number | undefined;
      let reason = '';
      if (payload.length === 1) return this.#fail(1002, 'invalid close frame');
      if (payload.length >= 2) {
        code = payload.readUInt16BE(0);
        if (!isValidCloseCode(code)) return this.#fail(1002, 'invalid close code');
        const r = payload.subarray(2);
        if (!isUtf8(r)) return this.#fail(1007, 'invalid UTF-8');
        reason = r.toString('utf8');
      }
      // Their close: nothing after it is read; answered with the same code (RFC 6455 §5.5.1).
      this.#stopReading();
      this.#closeReceived = true;
      this.#closeCode = code ?? 1005;
      this.#closeReason = reason;
      if (!this.#closeSent) this.#sendClose(code, reason);
      this.socket.end();
    }
  }

  #fail(code: number, reason: string): void {
    this.#stopReading();
    if (this.state === WireState.Open && this.listener?.wireFailure(this, code, reason) === true)
      return;
    if (this.#closeSent) this.socket.end();
    else this.close(code, reason);
  }

  /** @internal socket events */
  static onData(socket: WiredSocket, chunk: Buffer, transient: boolean): void {
    const wire = socket[kWire];
    if (wire !== undefined) wire.#receive(chunk, transient);
  }

  /** @internal */
  static onClose(socket: WiredSocket): void {
    const wire = socket[kWire];
    if (wire === undefined) return;
    wire.state = WireState.Closed;
    clearTimeout(wire.#closeTimer);
    wire.#stopReading();
    wire.listener?.wireClose(
      wire,
      wire.#closeReceived ? wire.#closeCode : 1006,
      wire.#closeReceived ? wire.#closeReason : '',
    );
  }
}

function onSocketData(this: WiredSocket, chunk: Buffer): void {
  WireSocket.onData(this, chunk, false);
}

function onSharedRead(this: WiredSocket, nread: number, buffer: Buffer): void {
  WireSocket.onData(this, buffer.subarray(0, nread), true);
}

function onSocketEnd(this: WiredSocket): void {
  // The peer half-closed: finish our side too (RFC 6455 §7.1.1).
  const wire = this[kWire];
  if (wire !== undefined && wire.state === WireState.Open) wire.state = WireState.Closing;
  this.end();
}

function onSocketClose(this: WiredSocket): void {
  WireSocket.onClose(this);
}

function destroySocket(socket: Duplex): void {
  socket.destroy();
}

/** XORs `buf[start, end)` in place with the 4-byte mask at `maskAt` (RFC 6455 §5.3). */
function unmask(buf: Buffer, maskAt: number, start: number, end: number): void {
  const m0 = buf[maskAt] as number;
  const m1 = buf[maskAt + 1] as number;
  const m2 = buf[maskAt + 2] as number;
  const m3 = buf[maskAt + 3] as number;
  let i = start;
  const stop4 = start + ((end - start) & ~3);
  while (i < stop4) {
    buf[i] = (buf[i] as number) ^ m0;
    buf[i + 1] = (buf[i + 1] as number) ^ m1;
    buf[i + 2] = (buf[i + 2] as number) ^ m2;
    buf[i + 3] = (buf[i + 3] as number) ^ m3;
    i += 4;
  }
  if (i < end) buf[i] = (buf[i] as number) ^ m0;
  if (i + 1 < end) buf[i + 1] = (buf[i + 1] as number) ^ m1;
  if (i + 2 < end) buf[i + 2] = (buf[i + 2] as number) ^ m2;
}
