import { CallgateError, PERMISSIONS, isPlainObject, isRoomName } from '@callgate/protocol';
import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson, CREDENTIAL_HEADERS } from '../respond.js';
import { readJsonBody } from '../read-json.js';
import { parseMintRequest } from '../../auth/mint-request.js';
import type { SessionManager } from '../../auth/session-manager.js';
import { randomId } from '../../util/random-id.js';
import { DEV_TENANT, isLoopback } from './dev.js';

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
  router.add('POST', '/dev/session', async ({ req, res, remoteAddress }) => {
    if (!isLoopback(remoteAddress)) throw new CallgateError('not_found');
    const body = await readJsonBody(req, services.config.server.maxBodyBytes);
    if (!isPlainObject(body))
      throw new CallgateError('bad_request', 'The body must be a JSON object');
    const room = body.room ?? 'lobby';
    if (!isRoomName(room)) throw new CallgateError('invalid_room', undefined, { field: 'room' });
    const mint = parseMintRequest(
      {
        sub: body.sub ?? `guest-${randomId(6)}`,
        rooms: { [room]: [...PERMISSIONS] },
        ttlSeconds: body.ttlSeconds,
        metadata: body.metadata,
      },
      services.config.auth,
    );
    const started = await sessions.start(DEV_TENANT, mint);
    sendJson(res, 201, { ...started, sub: mint.sub, room }, CREDENTIAL_HEADERS);
  });
}
