import { CallgateError, isPlainObject } from '@callgate/protocol';
import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson, CREDENTIAL_HEADERS } from '../respond.js';
import { readJsonBody } from '../read-json.js';
import { requireWritableStore } from '../require-writable-store.js';
import { requireApiKey } from '../api-key-auth.js';
import { parseMintRequest } from '../../auth/mint-request.js';
import { createRateLimiter } from '../../util/rate-limiter.js';

/** `POST /v1/tokens`: mint an access token for the API key's tenant. */
export function addTokenRoutes(router: Router, services: Services): void {
  const { auth } = services.config;
  const limiter = createRateLimiter({
    ratePerSecond: auth.mintRatePerSecond,
    burst: auth.mintRatePerSecond * 2,
    clock: services.clock,
  });
  router.add('POST', '/v1/tokens', async ({ req, res }) => {
    const key = await requireApiKey(services, req, res);
    const waitMs = limiter.take(key.id);
    if (waitMs > 0)
      throw Object.assign(new CallgateError('rate_limited'), { retryAfterMs: waitMs });
    const body = await readJsonBody(req, services.config.server.maxBodyBytes);
    // A body naming another tenant is treated like a wrong key: same 401, nothing revealed.
    if (isPlainObject(body) && body.tenant !== undefined && body.tenant !== key.tenant)
      throw new CallgateError('unauthorized');
    const mint = parseMintRequest(body, auth);
    if (mint.sessionId !== undefined && services.revocations.isRevoked(key.tenant, mint.sessionId))
      throw new CallgateError('session_revoked', undefined, { field: 'sessionId' });
    await requireWritableStore(services);
    const issued = await services.issueToken({ tenant: key.tenant, ...mint });
    res.locals = { ...res.locals, sub: mint.sub, sid: issued.sessionId };
    sendJson(
      res,
      201,
      { token: issued.token, expiresAt: issued.expiresAt, sessionId: issued.sessionId },
      CREDENTIAL_HEADERS,
    );
  });
}
