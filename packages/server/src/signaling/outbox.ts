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
  /** Frames queued and not yet written, or null when none are. */
  out: Buffer[] | null;
}

export interface OutboxOptions {
  /** Under load, the longest a queued frame waits for the rest of the turn's socket reads. */
  maxDelayMs: number;
  /**
   * The event loop's utilization (0–1) since the previous call; called every
   * {@link OUTBOX_SAMPLE_MS}. Defaults to Node's `performance.eventLoopUtilization()`.
   */
  utilization?: () => number;
}

/** How often the outbox looks at the event loop's load to choose when to write. */
export const OUTBOX_SAMPLE_MS = 100;
/** Event-loop utilization above which frames are held for the rest of the turn... */
export const BATCH_ABOVE = 0.6;
/** ...and below which they are written at the end of the socket read that made them. */
export const EAGER_BELOW = 0.4;

/**
 * Writes the frames for each socket in as few writes as the server's load calls for, and
 * encodes a frame sent to many sockets (a room broadcast) once.
 *
 * The kernel side of a loopback or TCP write costs several microseconds whatever its size, so
 * under load it pays to hold frames: several messages for one peer handled in the same turn of
 * the event loop (a burst of trickle-ICE candidates, a room's broadcasts, a backlog) then cost
 * one write instead of several, and writes made back to back are cheaper than writes spread
 * out. With headroom there is nothing to gain from holding a frame and its latency to lose: a
 * frame waits for every other socket read in the turn. So the outbox has two modes, chosen
 * from the event loop's utilization, sampled every {@link OUTBOX_SAMPLE_MS} with hysteresis
 * (like Nagle's algorithm, which holds data only while earlier data is unacknowledged):
 *
 * - **eager** (utilization below {@link EAGER_BELOW}): the frames a socket read produced are
 *   written when that read has been handled ({@link Outbox.readDone}): the frames of one read
 *   for one socket still leave in one write;
 * - **batched** (above {@link BATCH_ABOVE}): frames are written in `setImmediate`, after the
 *   poll phase has handled every socket that was readable; a long turn (a backlog after a GC
 *   pause, a busy server) would make the first frames wait for the whole of it, so
 *   {@link Outbox.readDone} writes them once the oldest has waited `maxDelayMs`.
 *
 * Frames made outside a socket read (timers, a handler resuming after an await) are written in
 * `setImmediate` in both modes. Frames go straight to the TCP socket (websocket.ts writes only
 * control frames, in call order with these), and nothing is written after a close frame
 * ({@link Outbox.flushOne} is called before every close).
 */
export class Outbox<T extends OutboxTarget> {
  #dirty: T[] = [];
  #spare: T[] = [];
  #scheduled = false;
  /** When the oldest queued frame was queued (performance.now()). */
  #since = 0;
  #lastText: string | undefined;
  #lastFrame: Buffer | undefined;
  #eager = true;
  readonly #write: (target: T, data: Buffer) => void;
  readonly #maxDelayMs: number;
  readonly #utilization: () => number;
  readonly #sampler: NodeJS.Timeout;

  /**
   * @param write writes one buffer to the target's socket (or drops it when the socket is no
   *   longer open) and applies back-pressure policy.
   */
  constructor(write: (target: T, data: Buffer) => void, options: OutboxOptions) {
    if (!(options.maxDelayMs >= 0)) throw new RangeError('"maxDelayMs" must be a number >= 0');
    this.#write = write;
    this.#maxDelayMs = options.maxDelayMs;
    this.#utilization = options.utilization ?? loopUtilization();
    this.#sampler = setInterval(() => this.sample(), OUTBOX_SAMPLE_MS);
    this.#sampler.unref();
  }

  /** True while frames are written at the end of the read that made them (light load). */
  get eager(): boolean {
    return this.#eager;
  }

  /** Looks at the event loop's load and picks the mode (called every OUTBOX_SAMPLE_MS). */
  sample(): void {
    const u = this.#utilization();
    if (this.#eager ? u > BATCH_ABOVE : u < EAGER_BELOW) this.#eager = !this.#eager;
  }

  /** Stops sampling the load (the server is closing). */
  stop(): void {
    clearInterval(this.#sampler);
  }

  /** The wire frame of `text`; the same string sent to many peers in a row is encoded once. */
  encode(text: string): Buffer {
    if (text === this.#lastText) return this.#lastFrame as Buffer;
    const f = encodeTextFrame(text);
    this.#lastText = text;
    this.#lastFrame = f;
    return f;
  }

  /** Queues a frame for the target; see the class comment for when it is written. */
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

  /**
   * A socket read has been handled: writes what is queued when the load is light, or, under
   * load, when the oldest queued frame has waited `maxDelayMs` or more.
   */
  readDone(): void {
    if (this.#dirty.length === 0) return;
    if (this.#eager || performance.now() - this.#since >= this.#maxDelayMs) this.#flushNow();
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
    // The last broadcast's frame is not kept alive past the batch that sent it.
    this.#lastText = undefined;
    this.#lastFrame = undefined;
  }
}

/** The event loop's utilization between calls, from Node's own idle/active accounting. */
function loopUtilization(): () => number {
  let last = performance.eventLoopUtilization();
  return () => {
    const now = performance.eventLoopUtilization();
    const u = performance.eventLoopUtilization(now, last).utilization;
    last = now;
    return u;
  };
}

/** True when `socket` can still take writes. */
export function writable(socket: Duplex | null): socket is Duplex {
  return socket !== null && socket.writable && !socket.destroyed;
}
