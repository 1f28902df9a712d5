// A minimal WebSocket client over `net`, written for the load generator: text frames only, no
// extensions, no fragmentation, and as little work per frame as the protocol allows, so that
// the generator is never what limits a measurement. Every server under test gets the same
// client, so the generator's cost per frame is the same whichever server it talks to.
//
// Frames are masked with the all-zero key: RFC 6455 wants an unpredictable key (a defence for
// browsers against cache poisoning through proxies), which a load generator on loopback does
// not need; the servers still run their unmasking code.
import { connect as netConnect } from 'node:net';
import { randomBytes } from 'node:crypto';

const CRLF2 = Buffer.from('\r\n\r\n');

/**
 * The one buffer every client's socket reads into (`onread`): Node otherwise makes a new
 * ArrayBuffer for every read, and at tens of thousands of reads a second their bookkeeping
 * made the generator's scavenges longer (each one stops every message in flight). The read
 * callbacks run one at a time and keep nothing that points into it: what they keep (a partial
 * frame, the handshake's head, a frame's text) is copied out.
 */
const READ_BUFFER = Buffer.allocUnsafe(64 * 1024);

/** Sec-WebSocket-Key values cut from a pool of random bytes (one `randomBytes` per 256 keys). */
let keyPool = Buffer.alloc(0);
let keyAt = 0;
function handshakeKey() {
  if (keyAt + 16 > keyPool.length) {
    keyPool = randomBytes(16 * 256);
    keyAt = 0;
  }
  keyAt += 16;
  return keyPool.toString('base64', keyAt - 16, keyAt);
}

/**
 * One client connection. `onText(str)` receives every text frame (latin1-decoded: the
 * benchmark's payloads are ASCII), `onClose()` the end of the connection.
 */
export class RawWs {
  /** @type {import('node:net').Socket} */
  socket;
  /** @type {(text: string) => void} */
  onText = () => {};
  /** @type {() => void} */
  onClose = () => {};
  /** @type {Buffer | null} */
  #pending = null;
  closed = false;

  /** @param {import('node:net').Socket} socket */
  constructor(socket) {
    this.socket = socket;
  }

  /**
   * Opens a WebSocket: TCP connect, HTTP upgrade, then resolves with the connection once the
   * server answered 101. Rejects on any other status, an error, or after `timeoutMs`.
   *
   * @param {{ host: string, port: number, path: string, protocols?: string[],
   *   localAddress?: string, timeoutMs?: number }} o
   * @returns {Promise<RawWs>}
   */
  static open(o) {
    return new Promise((resolve, reject) => {
      const socket = netConnect({
        host: o.host,
        port: o.port,
        ...(o.localAddress ? { localAddress: o.localAddress } : {}),
        noDelay: true,
        onread: {
          buffer: READ_BUFFER,
          callback: (/** @type {number} */ n, /** @type {Buffer} */ buf) => {
            if (upgraded) ws.#onData(buf.subarray(0, n));
            else onHead(buf.subarray(0, n));
          },
        },
      });
      const ws = new RawWs(socket);
      let head = Buffer.alloc(0);
      let upgraded = false;
      const timer = setTimeout(() => fail(new Error('handshake timeout')), o.timeoutMs ?? 20000);
      /** @param {Error} err */
      const fail = (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      socket.on('error', (err) => {
        if (!upgraded) fail(err);
      });
      socket.on('close', () => {
        if (!upgraded) return fail(new Error('closed during handshake'));
        ws.closed = true;
        ws.onClose();
      });
      socket.on('connect', () => {
        const key = handshakeKey();
        socket.write(
          `GET ${o.path} HTTP/1.1\r\nHost: ${o.host}:${o.port}\r\nUpgrade: websocket\r\n` +
            `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n` +
            (o.protocols?.length ? `Sec-WebSocket-Protocol: ${o.protocols.join(', ')}\r\n` : '') +
            '\r\n',
        );
      });
      /** @param {Buffer} chunk */
      const onHead = (chunk) => {
        // A copy: `chunk` is the shared read buffer.
        head = Buffer.concat([head, chunk]);
        const end = head.indexOf(CRLF2);
        if (end < 0) {
          if (head.length > 16384) fail(new Error('response head too large'));
          return;
        }
        const status = head.toString('latin1', 0, head.indexOf('\r\n'));
        if (!/^HTTP\/1\.1 101 /.test(status)) return fail(new Error(`upgrade refused: ${status}`));
        upgraded = true;
        clearTimeout(timer);
        const rest = head.subarray(end + 4);
        resolve(ws);
        // Frames that arrived with the 101 are parsed once the caller has set its handlers.
        if (rest.length > 0) queueMicrotask(() => ws.#onData(rest));
      };
    });
  }

  /** @param {Buffer} chunk the shared read buffer's bytes, or a copy */
  #onData(chunk) {
    const buf = this.#pending === null ? chunk : Buffer.concat([this.#pending, chunk]);
    this.#pending = null;
    let off = 0;
    const n = buf.length;
    while (n - off >= 2) {
      const b0 = buf[off];
      let len = buf[off + 1] & 0x7f;
      let hdr = 2;
      if (len === 126) {
        if (n - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        hdr = 4;
      } else if (len === 127) {
        if (n - off < 10) break;
        len = buf.readUInt32BE(off + 6);
        hdr = 10;
      }
      if (n - off < hdr + len) break;
      const start = off + hdr;
      off = start + len;
      const opcode = b0 & 0x0f;
      if (opcode === 1) this.onText(buf.latin1Slice(start, off));
      else if (opcode === 9) this.#control(0x8a, buf.subarray(start, off));
      else if (opcode === 8) {
        this.#control(0x88, buf.subarray(start, Math.min(off, start + 2)));
        this.socket.end();
      }
    }
    // Kept across reads, so copied out of the shared read buffer.
    if (off < n) this.#pending = Buffer.from(buf.subarray(off));
  }

  /**
   * @param {number} b0
   * @param {Buffer} payload
   */
  #control(b0, payload) {
    const f = Buffer.alloc(6 + payload.length);
    f[0] = b0;
    f[1] = 0x80 | payload.length;
    payload.copy(f, 6);
    if (!this.socket.destroyed) this.socket.write(f);
  }

  /**
   * Sends one text frame (ASCII text).
   *
   * @param {string} text
   */
  send(text) {
    if (this.closed) return;
    const len = text.length;
    const hdr = len < 126 ? 6 : len < 65536 ? 8 : 14;
    const f = Buffer.allocUnsafe(hdr + len);
    f[0] = 0x81;
    if (len < 126) f[1] = 0x80 | len;
    else if (len < 65536) {
      f[1] = 0x80 | 126;
      f.writeUInt16BE(len, 2);
    } else {
      f[1] = 0x80 | 127;
      f.writeUInt32BE(0, 2);
      f.writeUInt32BE(len, 6);
    }
    f.writeUInt32BE(0, hdr - 4); // the all-zero masking key
    f.latin1Write(text, hdr);
    this.socket.write(f);
  }

  /** Closes the TCP connection at once (no close handshake). */
  destroy() {
    this.closed = true;
    this.socket.destroy();
  }
}
