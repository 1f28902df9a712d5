// The PeerJS server (`peer` from npm) with its defaults, except the concurrent-connection cap
// (5000 by default), raised so the idle-memory scenario can reach ~19.9k connections.
import { createRequire } from 'node:module';
import { serveHarness } from './common.mjs';

const require = createRequire(new URL('../peers/', import.meta.url));
const { PeerServer } = /** @type {typeof import('peer')} */ (require('peer'));

const port = Number(process.env.PORT ?? 0);
const peer = PeerServer(
  { port, host: '127.0.0.1', path: '/', concurrent_limit: 1_000_000 },
  (server) => {
    const addr = /** @type {import('node:net').AddressInfo} */ (server.address());
    serveHarness({ port: addr.port }, () => {
      server.closeAllConnections?.();
      server.close();
    });
  },
);
void peer;
