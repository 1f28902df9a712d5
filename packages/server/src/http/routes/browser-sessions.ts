import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallgateError, isPlainObject } from '@callgate/protocol';
import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson, CREDENTIAL_HEADERS } from '../respond.js';
import { readJsonBody } from '../read-json.js';
import { requireApiKey } from '../api-key-auth.js';
import { requireWritableStore } from '../require-writable-store.js';
import { requireSameOrigin } from '../same-origin-guard.js';
import {
  clearedSessionCookies,
  readSingleCookie,
  sessionCookieNames,
  sessionSetCookies,
  type SessionCookieNames,
} from '../session-cookies.js';
import { parseMintRequest } from '../../auth/mint-request.js';
import { parseRefreshScope } from '../../auth/refresh-scope.js';
import {
  createSessionManager,
  type RotatedSession,
  type SessionManager,
} from '../../auth/session-manager.js';
import type { SessionCredentialMatch } from '../../store/store.js';
import { createRateLimiter } from '../../util/rate-limiter.js';

/** The header a page echoes the CSRF cookie in. */
export const CSRF_HEADER = 'x-csrf-token';

/** Session responses carry credentials in the body and in cookies: never cached. */
const SESSION_HEADERS = { ...CREDENTIAL_HEADERS, vary: 'Authorization, Cookie' } as const;

/**
 * Browser sessions (docs/sessions.md, issue 8):
 *
 * - `POST /v1/sessions` (API key): the backend starts a session → `201 {grant, expiresAt,
 *   sessionId, sessionExpiresAt}`; the grant is single use and lives 60 s.
 * - `POST /v1/session/exchange {grant}` (the page): → `200 {token, expiresAt, sessionId,
 *   csrfToken, sessionExpiresAt}` and the refresh and CSRF cookies.
 * - `POST /v1/session/refresh` (cookie + `X-CSRF-Token`): a new access token, the refresh
 *   cookie rotated. A rotated credential presented again revokes the session.
 * - `POST /v1/session/logout` (cookie + `X-CSRF-Token`): revokes the session, clears the cookies.
 *
 * The three browser routes refuse cross-site requests (403 `origin_forbidden`), bodies that are
 * not JSON (415) and other methods (405); every answer is `Cache-Control: no-store`.
 */
export function addBrowserSessionRoutes(router: Router, services: Services): SessionManager {
  const { auth, server } = services.config;
  const sessions = createSessionManager(services);
  const perKey = createRateLimiter({
    ratePerSecond: auth.mintRatePerSecond,
    burst: auth.mintRatePerSecond * 2,
    clock: services.clock,
  });
  const perIp = createRateLimiter({
    ratePerSecond: auth.mintRatePerSecond,
    burst: auth.mintRatePerSecond * 2,
    clock: services.clock,
  });
  const throttle = (limiter: typeof perIp, key: string) => {
    const waitMs = limiter.take(key);
    if (waitMs > 0)
      throw Object.assign(new CallgateError('rate_limited'), { retryAfterMs: waitMs });
  };

  /** The checks every browser route starts with: same origin, rate, a JSON object body. */
  const browserRequest = async (
    req: IncomingMessage,
    res: ServerResponse,
    remoteAddress: string,
  ): Promise<Record<string, unknown>> => {
    requireSameOrigin(services, req, res);
    throttle(perIp, remoteAddress);
    const body = await readJsonBody(req, server.maxBodyBytes);
    if (!isPlainObject(body))
      throw new CallgateError('bad_request', 'The body must be a JSON object');
    return body;
  };

  /** Sends the new token and sets both cookies (the CSRF token is bound to the session). */
  const sendRotated = (
    res: ServerResponse,
    names: SessionCookieNames,
    rotated: RotatedSession,
    csrfToken: string,
  ) => {
    const { issued, refresh, family } = rotated;
    res.locals = {
      ...res.locals,
      tenant: family.tenant,
      sub: family.grants.sub,
      sid: family.sessionId,
    };
    const maxAge = (family.expiresAt - services.clock.now()) / 1000;
    res.setHeader('set-cookie', sessionSetCookies(names, { refresh, csrf: csrfToken }, maxAge));
    sendJson(
      res,
      200,
      {
        token: issued.token,
        expiresAt: issued.expiresAt,
        sessionId: family.sessionId,
        csrfToken,
        sessionExpiresAt: family.expiresAt,
      },
      SESSION_HEADERS,
    );
  };

  /**
   * The signed double-submit check (catalogue F72): the header equals the CSRF cookie, and the
   * token is the HMAC the server bound to this session. Returns the verified token.
   */
  const requireCsrfPair = (
    req: IncomingMessage,
    res: ServerResponse,
    names: SessionCookieNames,
  ) => {
    const header = req.headers[CSRF_HEADER];
    const cookie = readSingleCookie(req, names.csrf);
    if (typeof header !== 'string' || header === '') return csrfFailed(res, 'no csrf header');
    if (cookie === undefined) return csrfFailed(res, 'no csrf cookie');
    const a = Buffer.from(header);
    const b = Buffer.from(cookie);
    if (a.length !== b.length || !timingSafeEqual(a, b))
      return csrfFailed(res, 'csrf header differs from cookie');
    return header;
  };
  const requireCsrfBinding = async (
    res: ServerResponse,
    match: SessionCredentialMatch,
    token: string,
  ) => {
    if (!(await sessions.verifyCsrf(match.family, token)))
      csrfFailed(res, 'csrf token not bound to this session');
  };

  /** A refresh that fails with `invalid_grant` also deletes the cookies: they are dead. */
  const clearingCookiesOnInvalidGrant = async <T>(
    res: ServerResponse,
    names: SessionCookieNames,
    fn: () => Promise<T>,
  ): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof CallgateError && err.code === 'invalid_grant')
        res.setHeader('set-cookie', clearedSessionCookies(names));
      throw err;
    }
  };

  router.add('POST', '/v1/sessions', async ({ req, res }) => {
    const key = await requireApiKey(services, req, res);
    throttle(perKey, key.id);
    const body = await readJsonBody(req, server.maxBodyBytes);
    // A body naming another tenant is treated like a wrong key: same 401, nothing revealed.
    if (isPlainObject(body) && body.tenant !== undefined && body.tenant !== key.tenant)
      throw new CallgateError('unauthorized');
    if (isPlainObject(body) && body.sessionId !== undefined)
      throw new CallgateError(
        'invalid_session_id',
        'A browser session always starts a new session id; omit "sessionId"',
        { field: 'sessionId' },
      );
    const mint = parseMintRequest(body, auth);
    await requireWritableStore(services);
    const started = await sessions.start(key.tenant, mint);
    res.locals = { ...res.locals, sub: mint.sub, sid: started.sessionId };
    sendJson(res, 201, started, SESSION_HEADERS);
  });

  router.add('POST', '/v1/session/exchange', async ({ req, res, remoteAddress }) => {
    const body = await browserRequest(req, res, remoteAddress);
    const names = sessionCookieNames(services, req);
    const match = await sessions.find('grant', body.grant);
    await requireWritableStore(services);
    const rotated = await sessions.rotate(match, {});
    sendRotated(res, names, rotated, await sessions.csrfToken(rotated.family));
  });

  router.add('POST', '/v1/session/refresh', async ({ req, res, remoteAddress }) => {
    const body = await browserRequest(req, res, remoteAddress);
    const names = sessionCookieNames(services, req);
    const csrfToken = requireCsrfPair(req, res, names);
    const rotated = await clearingCookiesOnInvalidGrant(res, names, async () => {
      const match = await sessions.find('refresh', readSingleCookie(req, names.refresh));
      await requireCsrfBinding(res, match, csrfToken);
      const scope = parseRefreshScope(body, match.family, auth);
      await requireWritableStore(services);
      return sessions.rotate(match, scope);
    });
    sendRotated(res, names, rotated, csrfToken);
  });

  router.add('POST', '/v1/session/logout', async ({ req, res, remoteAddress }) => {
    await browserRequest(req, res, remoteAddress);
    const names = sessionCookieNames(services, req);
    const csrfToken = requireCsrfPair(req, res, names);
    let match: SessionCredentialMatch | null = null;
    try {
      match = await sessions.find('refresh', readSingleCookie(req, names.refresh));
    } catch (err) {
      if (!(err instanceof CallgateError && err.code === 'invalid_grant')) throw err;
    }
    let closed = 0;
    let revoked = false;
    if (match !== null) {
      await requireCsrfBinding(res, match, csrfToken);
      res.locals = {
        ...res.locals,
        tenant: match.family.tenant,
        sub: match.family.grants.sub,
        sid: match.family.sessionId,
      };
      // Never answer "logged out" without having recorded the revocation (503 instead).
      await requireWritableStore(services);
      revoked = match.family.revokedAt === null;
      closed = await sessions.revoke(match.family, 'logout');
    }
    res.setHeader('set-cookie', clearedSessionCookies(names));
    sendJson(
      res,
      200,
      {
        revoked,
        ...(match ? { sessionId: match.family.sessionId } : {}),
        closedConnections: closed,
      },
      SESSION_HEADERS,
    );
  });

  return sessions;
}

function csrfFailed(res: ServerResponse, detail: string): never {
  res.locals = { ...res.locals, detail };
  throw new CallgateError('csrf_failed');
}
