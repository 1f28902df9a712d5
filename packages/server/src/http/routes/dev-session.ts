import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson, CREDENTIAL_HEADERS } from '../respond.js';
import type { SessionManager } from '../../auth/session-manager.js';
import { DEV_TENANT, readDevRequest } from './dev.js';

/**
 * `POST /dev/session` — the session-mode companion of `POST /dev/token`: only with `--dev`,
 * only from a loopback address, it plays the application backend and starts a browser session
 * for the `default` tenant with every permission in the requested room. Body: `{ room?, sub?,
 * ttlSeconds?, metadata? }` → `201 {grant, expiresAt, sessionId, sessionExpiresAt, sub, room}`.
 * The page then exchanges the grant (`POST /v1/session/exchange`). Never registered outside dev
 * mode.
 */
export function addDevSessionRoute(
  router: Router,
  services: Services,
  sessions: SessionManager,
): void {
  router.add('POST', '/dev/session', async (ctx) => {
    const { mint, room } = await readDevRequest(ctx, services);
    const started = await sessions.start(DEV_TENANT, mint);
    sendJson(ctx.res, 201, { ...started, sub: mint.sub, room }, CREDENTIAL_HEADERS);
  });
}
