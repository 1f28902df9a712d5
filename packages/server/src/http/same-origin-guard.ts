import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallgateError } from '@callgate/protocol';
import type { Services } from '../services.js';
import { isHttpsRequest } from './session-cookies.js';

/**
 * Refuses a cross-site request to a browser-session route with 403 `origin_forbidden`
 * (security catalogue F73, OWASP CSRF "verifying origin with standard headers"):
 *
 * - `Sec-Fetch-Site: cross-site` (set by the browser, not by page scripts);
 * - an `Origin` that is neither the server's own nor in `auth.sessionAllowedOrigins`, `null`
 *   included. The server's own origin is that of `server.publicUrl`; when none is configured,
 *   the origin the request was addressed to (`Host`), so dev and tests on any loopback name work.
 *
 * A request without `Origin` (a non-browser client) passes this check; the CSRF token and the
 * SameSite cookies still stand between it and a session.
 */
export function requireSameOrigin(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
): void {
  const site = req.headers['sec-fetch-site'];
  if (site === 'cross-site') refuse(res, 'sec-fetch-site cross-site');
  const origin = req.headers.origin;
  if (origin === undefined) return;
  if (services.config.auth.sessionAllowedOrigins.includes(origin)) return;
  if (origin === new URL(services.publicUrl).origin) return;
  if (services.config.server.publicUrl === undefined && req.headers.host !== undefined) {
    const scheme = isHttpsRequest(req, services.config.server.trustProxy) ? 'https' : 'http';
    if (origin === `${scheme}://${req.headers.host.toLowerCase()}`) return;
  }
  refuse(res, 'origin not allowed');
}

function refuse(res: ServerResponse, detail: string): never {
  res.locals = { ...res.locals, detail };
  throw new CallgateError('origin_forbidden', 'Cross-site requests are not allowed on this route');
}
