// The generator's ceiling for scenario (1): a bare `net` server that answers every upgrade
// with a fixed 101 and one PeerJS-style `OPEN` frame — no HTTP parser, no checks, no state.
// What it reaches is the most connects/s the load generator can drive on its core here; a
// server under test cannot be measured above it.
import { createServer } from 'node:net';
import { createHash } from 'node:crypto';
import { serveHarness } from './common.mjs';

const GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const OPEN = Buffer.from('{"type":"OPEN"}');
const KEY = /^sec-websocket-key:[ \t]*([A-Za-z0-9+/=]+)/im;

const server = createServer((socket) => {
  socket.on('error', () => socket.destroy());
  socket.once('data', (chunk) => {
    const key = KEY.exec(chunk.toString('latin1'))?.[1];
    if (key === undefined) return socket.destroy();
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
    socket.resume(); // frames from the client are read and dropped
  });
});
server.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
  serveHarness({ port: addr.port }, () => {
    server.close();
  });
});
