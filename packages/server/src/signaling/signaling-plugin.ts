import type { Plugin } from '../app.js';
import type { Bus } from './bus.js';
import { createInProcessBus } from './in-process-bus.js';
import { CallgateError } from '@callgate/protocol';
import { SIGNAL_PATH, SignalingCore } from './signaling-core.js';
import { addRoomRoutes } from './room-routes.js';
import { interceptUpgrades } from './fast-upgrade.js';

export interface SignalingPluginOptions {
  /** Defaults to the in-process bus. */
  bus?: Bus;
  /** Receives the core once created (tests and benchmarks). */
  onCreated?: (core: SignalingCore) => void;
}

/** Installs `GET /v1/signal`, the room admin routes, and live-socket revocation. */
export function signalingPlugin(options: SignalingPluginOptions = {}): Plugin {
  return ({ router, server, services }) => {
    const core = new SignalingCore(services, options.bus ?? createInProcessBus());
    // Plain upgrades to /v1/signal are read off the socket (fast-upgrade.ts); anything else, and
    // every other request, goes through Node's HTTP parser and reaches `upgrade` or the router.
    const stopIntercepting = interceptUpgrades(server, {
      path: SIGNAL_PATH,
      headersTimeoutMs: services.config.server.headersTimeoutMs,
      onUpgrade: (req, socket, head) => core.handleUpgrade(req, socket, head),
    });
    server.on('upgrade', (req, socket, head) => core.handleUpgrade(req, socket, head));
    services.connections.push({ closeSession: (tenant, sid) => core.closeSession(tenant, sid) });
    // A plain GET (no upgrade, e.g. the Upgrade header was dropped past Node's 2000-header
    // limit, catalogue D56) is a malformed handshake: 400, as design.md "Handshake" says.
    router.add('GET', SIGNAL_PATH, () => {
      throw new CallgateError('bad_request', 'This route needs a WebSocket upgrade (RFC 6455)');
    });
    addRoomRoutes(router, services, core);
    options.onCreated?.(core);
    return {
      drain: () => core.drain(services.config.server.shutdownDrainMs),
      close: () => {
        stopIntercepting();
        return core.close();
      },
    };
  };
}
