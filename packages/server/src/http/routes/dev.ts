import { CallgateError, PERMISSIONS, isPlainObject, isRoomName } from '@callgate/protocol';
import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson, CREDENTIAL_HEADERS } from '../respond.js';
import { readJsonBody } from '../read-json.js';
import { parseMintRequest } from '../../auth/mint-request.js';
import { randomId } from '../../util/random-id.js';

export const DEV_TENANT = 'default';

/** True for 127.0.0.0/8, ::1 and IPv4-mapped loopback. */
export function isLoopback(address: string): boolean {
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

/**
 * `POST /dev/token` — only with `--dev`, only from a loopback address: mints a token for the
 * `default` tenant with every permission in the requested room, so the demo runs with no
 * backend. Body: `{ room, sub?, ttlSeconds?, metadata? }`. Never registered outside dev mode.
 */
export function addDevRoutes(router: Router, services: Services): void {
  router.add('POST', '/dev/token', async ({ req, res, remoteAddress }) => {
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
        sessionId: body.sessionId,
      },
      services.config.auth,
    );
    const issued = await services.issueToken({ tenant: DEV_TENANT, ...mint });
    sendJson(
      res,
      201,
      {
        token: issued.token,
        expiresAt: issued.expiresAt,
        sessionId: issued.sessionId,
        sub: mint.sub,
        room,
      },
      CREDENTIAL_HEADERS,
    );
  });
}
