import { CallgateError } from '@callgate/protocol';
import type { Router } from '../http/router.js';
import type { Services } from '../services.js';
import { sendJson, CREDENTIAL_HEADERS } from '../http/respond.js';
import { bearerToken } from '../auth/api-keys.js';
import { TokenError } from '../auth/token-error.js';
import { createRateLimiter } from '../util/rate-limiter.js';
import type { TurnService } from './turn-service.js';

/**
 * `POST /v1/turn/credentials`, and `POST`/`GET /api/turn-credentials` for the seed documents'
 * clients: access-token auth, `no-store` + `Vary: Authorization`, a per-user rate limit. The
 * user comes only from the verified token (`?username=` and the like are ignored, catalogue G81).
 */
export function addTurnRoutes(router: Router, services: Services, turn: TurnService): void {
  const perMinute = services.config.turn.requestsPerMinutePerUser;
  const limiter = createRateLimiter({
    ratePerSecond: perMinute / 60,
    burst: perMinute,
    clock: services.clock,
  });
  const handler = async ({ req, res }: Parameters<Parameters<Router['add']>[2]>[0]) => {
    let claims;
    try {
      ({ claims } = await services.verifyToken(bearerToken(req.headers.authorization)));
    } catch (err) {
      if (err instanceof TokenError && err.status === 401) {
        res.locals = { ...res.locals, detail: err.detail };
        // RFC 6750 §3: tell the client what kind of credential is wanted.
        res.setHeader(
          'www-authenticate',
          `Bearer error="invalid_token", error_description="${err.code}"`,
        );
        res.setHeader('vary', 'Authorization');
      }
      throw err;
    }
    res.locals = { ...res.locals, tenant: claims.tid, sub: claims.sub, sid: claims.sid };
    const waitMs = limiter.take(`${claims.tid}\u0000${claims.sub}`);
    if (waitMs > 0)
      throw Object.assign(new CallgateError('rate_limited'), { retryAfterMs: waitMs });
    sendJson(res, 200, turn.credentialsFor(claims.sid), CREDENTIAL_HEADERS);
  };
  router.add('POST', '/v1/turn/credentials', handler);
  router.add(['POST', 'GET'], '/api/turn-credentials', handler);
}
