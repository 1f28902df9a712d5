import { CallgateError, isOpaqueId } from '@callgate/protocol';
import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson } from '../respond.js';
import { requireApiKey } from '../api-key-auth.js';
import { requireWritableStore } from '../require-writable-store.js';

/**
 * `POST /v1/sessions/{sid}/revoke`: every token of the session stops verifying, live sockets
 * close with 4403, and the session id can no longer be extended by a mint.
 */
export function addSessionRoutes(router: Router, services: Services): void {
  router.add('POST', '/v1/sessions/:sid/revoke', async ({ req, res, params }) => {
    const key = await requireApiKey(services, req, res);
    const sid = params.sid!;
    if (!isOpaqueId(sid))
      throw new CallgateError('invalid_session_id', undefined, { field: 'sid' });
    const now = services.clock.now();
    const { accessTokenTtlSeconds, clockToleranceSeconds, sessionTtlSeconds } =
      services.config.auth;
    const keepSeconds = Math.max(sessionTtlSeconds, accessTokenTtlSeconds + clockToleranceSeconds);
    // Never answer "revoked" without having recorded it (503 instead, the caller retries).
    await requireWritableStore(services);
    try {
      await services.revocations.add({
        tenant: key.tenant,
        kind: 'sid',
        value: sid,
        revokedAt: now,
        expiresAt: now + keepSeconds * 1000,
      });
    } catch (err) {
      throw new CallgateError('not_ready', 'The revocation could not be stored', { cause: err });
    }
    let closed = 0;
    for (const c of services.connections)
      closed += await c.closeSession(key.tenant, sid, 'token_revoked');
    res.locals = { ...res.locals, sid };
    services.log.info(
      { event: 'session_revoked', tenant: key.tenant, sid, closed },
      'session revoked',
    );
    sendJson(res, 200, { sessionId: sid, revoked: true, closedConnections: closed });
  });
}
