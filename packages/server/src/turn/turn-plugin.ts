import type { Plugin } from '../app.js';
import { TurnService } from './turn-service.js';
import { addTurnRoutes } from './turn-routes.js';

/**
 * TURN credentials: the HTTP routes, and fresh `iceServers` in every signaling `welcome` and
 * refresh ack (the single-connection pattern of design.md). Secrets rotated with the CLI are
 * picked up when the store changes.
 */
export function turnPlugin(): Plugin {
  return async ({ router, services }) => {
    const turn = await TurnService.open({
      config: services.config.turn,
      store: services.store,
      clock: services.clock,
      publicUrl: () => services.publicUrl,
    });
    services.iceServersFor = ({ sessionId }) => turn.credentialsFor(sessionId).iceServers;
    services.reloaders.push(() => turn.reload());
    addTurnRoutes(router, services, turn);
  };
}
