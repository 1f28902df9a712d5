import {
  CallgateError,
  PERMISSIONS,
  isOpaqueId,
  isPlainObject,
  isRoomName,
} from '@callgate/protocol';
import type { Router, RouteContext } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson, CREDENTIAL_HEADERS } from '../respond.js';
import { readJsonBody } from '../read-json.js';
import { parseMintRequest, type MintRequest } from '../../auth/mint-request.js';
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
  router.add('POST', '/dev/token', async (ctx) => {
    const { mint, room, body } = await readDevRequest(ctx, services);
    const sessionId = body.sessionId;
    if (sessionId !== undefined && !isOpaqueId(sessionId))
      throw new CallgateError('invalid_session_id', undefined, { field: 'sessionId' });
    const issued = await services.issueToken({ tenant: DEV_TENANT, ...mint, sessionId });
    sendJson(
      ctx.res,
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

/**
 * The body of a dev route (`/dev/token`, `/dev/session`), from a loopback address only:
 * `{ room?, sub?, ttlSeconds?, metadata? }` → a mint request with every permission in `room`.
 */
export async function readDevRequest(
  { req, remoteAddress }: RouteContext,
  services: Services,
): Promise<{ mint: MintRequest; room: string; body: Record<string, unknown> }> {
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
  return { mint, room, body };
}
