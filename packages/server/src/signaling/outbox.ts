import type { Duplex } from 'node:stream';
import { performance } from 'node:perf_hooks';

/**
 * A server-to-client WebSocket text frame (RFC 6455 §5.2: FIN, opcode 1, unmasked) around a
 * serialized message, as one buffer ready for the socket.
 */
export function encodeTextFrame(text: string): Buffer {
  const len = Buffer.byteLength(text, 'utf8');
  const hdr = len < 126 ? 2 : len < 65536 ? 4 : 10;
  const buf = Buffer.allocUnsafe(hdr + len);
  buf[0] = 0x81;
  if (hdr === 2) buf[1] = len;
  else if (hdr === 4) {
    buf[1] = 126;
    buf.writeUInt16BE(len, 2);
  } else {
    buf[1] = 127;
    buf.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    buf.writeUInt32BE(len >>> 0, 6);
  }
  buf.write(text, hdr, 'utf8');
  return buf;
}

/** Where an outbox writes: the socket under a peer's WebSocket. */
export interface OutboxTarget {
  /** Frames queued in this turn of the event loop, or null when none are. */
  out: Buffer[] | null;
}

/**
 * Coalesces the frames written to each socket in one turn of the event loop into one write
 * (one syscall), and encodes a frame sent to many sockets (a room broadcast) once.
 *
 * The kernel side of a loopback or TCP write costs several microseconds whatever its size, so
 * several messages for one peer read in the same turn (a burst of trickle-ICE candidates, a
 * room's broadcasts) cost one write instead of several, and writes made back to back are
 * cheaper than writes spread out. Frames are flushed in `setImmediate`, after the poll phase
 * has handled every socket that was readable. A long turn (a backlog after a GC pause, a busy
 * server) would make the first frames wait for the whole of it, so the server also calls
 * {@link Outbox.flushIfOlder} after each socket read: frames never wait for more than
 * `maxDelayMs` of other work.
 *
 * Frames go straight to the TCP socket (websocket.ts writes only control frames, in call order
 * with these), and nothing is written after a close frame ({@link Outbox.flushOne} is called
 * before every close).
 */
export class Outbox<T extends OutboxTarget> {
  #dirty: T[] = [];
  #spare: T[] = [];
  #scheduled = false;
  /** When the oldest queued frame was queued (performance.now()). */
  #since = 0;
  #lastText: string | undefined;
  #lastFrame: Buffer | undefined;
  readonly #write: (target: T, data: Buffer) => void;

  /**
   * @param write writes one buffer to the target's socket (or drops it when the socket is no
   *   longer open) and applies back-pressure policy.
   */
  constructor(write: (target: T, data: Buffer) => void) {
    this.#write = write;
  }

  /** The wire frame of `text`; the same string sent to many peers in a row is encoded once. */
  encode(text: string): Buffer {
    if (text === this.#lastText) return this.#lastFrame as Buffer;
    const f = encodeTextFrame(text);
    this.#lastText = text;
    this.#lastFrame = f;
    return f;
  }

  /** Queues a frame for the target; it is written at the end of this turn of the loop. */
  push(target: T, frame: Buffer): void {
    if (target.out === null) {
      target.out = [frame];
      if (this.#dirty.length === 0) this.#since = performance.now();
      this.#dirty.push(target);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flush);
      }
    } else target.out.push(frame);
  }

  /** Writes everything queued now when the oldest frame has waited `maxDelayMs` or more. */
  flushIfOlder(maxDelayMs: number): void {
    if (this.#dirty.length > 0 && performance.now() - this.#since >= maxDelayMs) this.#flushNow();
  }

  /** Writes the target's queued frames now (before a close frame, or when it leaves). */
  flushOne(target: T): void {
    const out = target.out;
    if (out === null) return;
    target.out = null;
    this.#write(target, out.length === 1 ? (out[0] as Buffer) : Buffer.concat(out));
  }

  /** Drops the target's queued frames (its socket is gone). */
  discard(target: T): void {
    target.out = null;
  }

  readonly #flush = (): void => {
    this.#scheduled = false;
    this.#flushNow();
  };

  #flushNow(): void {
    // A later push in this turn starts a new batch (and `#since`) of its own.
    const dirty = this.#dirty;
    this.#dirty = this.#spare;
    for (let i = 0; i < dirty.length; i++) this.flushOne(dirty[i] as T);
    dirty.length = 0;
    this.#spare = dirty;
    // The last broadcast's frame is not kept alive past the turn that sent it.
    this.#lastText = undefined;
    this.#lastFrame = undefined;
  }
}

/** True when `socket` can still take writes. */
export function writable(socket: Duplex | null): socket is Duplex {
  return socket !== null && socket.writable && !socket.destroyed;
}
