// A bare server, the generator's bound: a `net` server that answers every upgrade with a fixed
// 101 and one PeerJS-style `OPEN` frame, and forwards each client text frame, unmasked, to the
// client named by its `"dst"` — no HTTP parser, no checks, no state beyond an id → socket map.
// In scenario (1) what it reaches is the most connects/s the load generator can drive on its
// core here; in the open loop (4), the latency it sees is the generator's and the machine's
// floor, which no server can be measured below.
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { serveHarness } from './common.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPEN = Buffer.from('{"type":"OPEN"}');
const KEY = /^sec-websocket-key:[ \t]*([A-Za-z0-9+/=]+)/im;
const ID = /[?&]id=([^& ]+)/;

/** @type {Map<string, import('node:net').Socket>} */
const byId = new Map();

/** Unmasks and forwards every complete frame in `buf`; returns the unfinished tail. */
function forward(/** @type {Buffer} */ buf) {
  let at = 0;
  while (buf.length - at >= 6) {
    let len = /** @type {number} */ (buf[at + 1]) & 0x7f;
    let hdr = 2;
    if (len === 126) {
      if (buf.length - at < 8) break;
      len = buf.readUInt16BE(at + 2);
      hdr = 4;
    } else if (len === 127) throw new Error('frame too large for the ceiling');
    if (buf.length - at < hdr + 4 + len) break;
    const mask = buf.subarray(at + hdr, at + hdr + 4);
    const body = Buffer.allocUnsafe(hdr + len);
    body[0] = /** @type {number} */ (buf[at]);
    body[1] = hdr === 2 ? len : 126;
    if (hdr === 4) body.writeUInt16BE(len, 2);
    const p = at + hdr + 4;
    for (let i = 0; i < len; i++)
      body[hdr + i] = /** @type {number} */ (buf[p + i]) ^ /** @type {number} */ (mask[i & 3]);
    at = p + len;
    if (/** @type {number} */ (body[0] & 0x0f) !== 1) continue; // only text frames are relayed
    const text = body.toString('latin1', hdr, hdr + Math.min(len, 200));
    const i = text.indexOf('"dst":"');
    if (i < 0) continue;
    const dst = text.slice(i + 7, text.indexOf('"', i + 7));
    byId.get(dst)?.write(body);
  }
  return at === buf.length ? null : buf.subarray(at);
}

const server = createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.once('data', (chunk) => {
    const head = chunk.toString('latin1');
    const key = KEY.exec(head)?.[1];
    if (key === undefined) return socket.destroy();
    const id = ID.exec(head)?.[1];
    if (id !== undefined) {
      byId.set(id, socket);
      socket.on('close', () => byId.get(id) === socket && byId.delete(id));
    }
    const accept = createHash('sha1')
      .update(key + GUID)
      .digest('base64');
    socket.write(
      Buffer.concat([
        Buffer.from(
          'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
            `Sec-WebSocket-Accept: ${accept}\r\n\r\n`,
          'latin1',
        ),
        Buffer.from([0x81, OPEN.length]),
        OPEN,
      ]),
    );
    /** @type {Buffer | null} */
    let rest = null;
    socket.on('data', (/** @type {Buffer} */ d) => {
      rest = forward(rest === null ? d : Buffer.concat([rest, d]));
    });
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
  serveHarness({ port: addr.port }, () => {
    server.close();
  });
});
