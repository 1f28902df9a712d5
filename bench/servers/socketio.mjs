// Socket.IO 4 with the websocket transport only and the thinnest logic the scenarios need:
// `join` (acknowledged), `send` to one socket id, `pub` to a room; the sender's id rides
// along, as Callgate's `from` does. No authentication.
import { createServer } from 'node:http';
import { createRequire } from 'node:module';
import { serveHarness } from './common.mjs';

const require = createRequire(new URL('../peers/', import.meta.url));
const { Server } = /** @type {typeof import('socket.io')} */ (require('socket.io'));

const http = createServer();
const io = new Server(http, { transports: ['websocket'], serveClient: false });
io.on('connection', (socket) => {
  socket.on('join', (/** @type {string} */ room, /** @type {(() => void) | undefined} */ ack) => {
    void socket.join(room);
    if (typeof ack === 'function') ack();
  });
  socket.on('send', (/** @type {string} */ to, /** @type {unknown} */ data) => {
    socket.to(to).emit('msg', socket.id, data);
  });
  socket.on('pub', (/** @type {string} */ room, /** @type {unknown} */ data) => {
    socket.to(room).emit('msg', socket.id, data);
  });
});
http.listen(Number(process.env.PORT ?? 0), '127.0.0.1', () => {
  const addr = /** @type {import('node:net').AddressInfo} */ (http.address());
  serveHarness({ port: addr.port }, () => {
    io.close();
    http.closeAllConnections();
  });
});
