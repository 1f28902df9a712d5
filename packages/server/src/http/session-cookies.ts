import type { IncomingMessage } from 'node:http';
import type { Services } from '../services.js';

/** Cookie names and whether they carry `Secure` (and the `__Host-` prefix that needs it). */
export interface SessionCookieNames {
  refresh: string;
  csrf: string;
  secure: boolean;
}

/** The production names: `__Host-` pins a cookie to this host, `Path=/`, `Secure`, no `Domain`. */
export const SECURE_SESSION_COOKIES: SessionCookieNames = {
  refresh: '__Host-callgate_refresh',
  csrf: '__Host-callgate_csrf',
  secure: true,
};

/**
 * The documented dev-mode exception: `callgate serve --dev` reached over plain HTTP (a browser
 * drops `Secure` cookies from `http://` pages other than localhost, and `__Host-` requires
 * `Secure`). Never used without `--dev`.
 */
export const DEV_SESSION_COOKIES: SessionCookieNames = {
  refresh: 'callgate_refresh',
  csrf: 'callgate_csrf',
  secure: false,
};

/** True when the request reached us over TLS (directly, or per a trusted proxy's header). */
export function isHttpsRequest(req: IncomingMessage, trustProxy: boolean): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true;
  if (!trustProxy) return false;
  const proto = req.headers['x-forwarded-proto'];
  return (Array.isArray(proto) ? proto[0] : proto)?.split(',')[0]?.trim() === 'https';
}

/**
 * Which names this request uses: the `__Host-` pair, except in dev mode over plain HTTP. Only
 * that pair is ever read in production, so an unprefixed cookie planted from a sibling
 * subdomain is never taken for ours.
 */
export function sessionCookieNames(services: Services, req: IncomingMessage): SessionCookieNames {
  const { dev, server } = services.config;
  return dev && !isHttpsRequest(req, server.trustProxy)
    ? DEV_SESSION_COOKIES
    : SECURE_SESSION_COOKIES;
}

/**
 * The two `Set-Cookie` values of a session: the refresh credential (HttpOnly: never readable
 * by page scripts) and the CSRF token (readable, the page echoes it in `X-CSRF-Token`). Both
 * `SameSite=Strict; Path=/` without `Domain` (RFC 6265bis §4.1.3.2 for `__Host-`). An empty
 * value with `maxAgeSeconds` 0 clears them.
 */
export function sessionSetCookies(
  names: SessionCookieNames,
  values: { refresh: string; csrf: string },
  maxAgeSeconds: number,
): string[] {
  const attrs = `Path=/; Max-Age=${Math.max(0, Math.floor(maxAgeSeconds))}; SameSite=Strict${names.secure ? '; Secure' : ''}`;
  return [
    `${names.refresh}=${values.refresh}; ${attrs}; HttpOnly`,
    `${names.csrf}=${values.csrf}; ${attrs}`,
  ];
}

/** The `Set-Cookie` values that delete both session cookies. */
export function clearedSessionCookies(names: SessionCookieNames): string[] {
  return sessionSetCookies(names, { refresh: '', csrf: '' }, 0);
}

/**
 * Every value of cookie `name` in the request (RFC 6265 §5.4 `Cookie` header). More than one
 * value means someone else wrote a cookie of that name: callers treat that as absent.
 */
export function readCookie(req: IncomingMessage, name: string): string[] {
  const header = req.headers.cookie;
  if (header === undefined) return [];
  const out: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    if (part.slice(0, eq).trim() !== name) continue;
    let value = part.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"'))
      value = value.slice(1, -1);
    out.push(value);
  }
  return out;
}

/** The single value of cookie `name`, or undefined when absent or ambiguous. */
export function readSingleCookie(req: IncomingMessage, name: string): string | undefined {
  const values = readCookie(req, name);
  return values.length === 1 ? values[0] : undefined;
}
