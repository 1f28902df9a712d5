import type { Plugin } from '../app.js';
import type { Bus } from './bus.js';
import { createInProcessBus } from './in-process-bus.js';
import { SignalingCore } from './signaling-core.js';
import { addRoomRoutes } from './room-routes.js';

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
    server.on('upgrade', (req, socket, head) => core.handleUpgrade(req, socket, head));
    services.connections.push({ closeSession: (tenant, sid) => core.closeSession(tenant, sid) });
    addRoomRoutes(router, services, core);
    options.onCreated?.(core);
    return {
      drain: () => core.drain(services.config.server.shutdownDrainMs),
      close: () => core.close(),
    };
  };
}
