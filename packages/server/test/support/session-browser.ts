/**
 * A minimal browser for the session routes: a cookie jar fed only by real `Set-Cookie` headers,
 * an `Origin` on every request, and the double-submit header taken from the CSRF cookie, as the
 * SDK's `sessionTokenProvider` sends it. Tests change one thing at a time from there.
 */
import type { TestServer } from './test-server.js';

export const SECURE_NAMES = { refresh: '__Host-callgate_refresh', csrf: '__Host-callgate_csrf' };
export const DEV_NAMES = { refresh: 'callgate_refresh', csrf: 'callgate_csrf' };

export interface SessionAnswer {
  status: number;
  headers: Headers;
  json: unknown;
  /** The raw `Set-Cookie` header values. */
  setCookies: string[];
}

export interface ParsedSetCookie {
  name: string;
  value: string;
  /** Attribute names in lower case → value (`true` for flags such as `HttpOnly`). */
  attributes: Map<string, string | true>;
}

/** Parses one `Set-Cookie` value (RFC 6265 §5.2). */
export function parseSetCookie(raw: string): ParsedSetCookie {
  const [pair, ...attrs] = raw.split(';');
  const eq = pair!.indexOf('=');
  const attributes = new Map<string, string | true>();
  for (const a of attrs) {
    const i = a.indexOf('=');
    if (i === -1) attributes.set(a.trim().toLowerCase(), true);
    else attributes.set(a.slice(0, i).trim().toLowerCase(), a.slice(i + 1).trim());
  }
  return { name: pair!.slice(0, eq).trim(), value: pair!.slice(eq + 1).trim(), attributes };
}

export function errorCode(a: SessionAnswer): string | undefined {
  return (a.json as { error?: { code?: string } } | undefined)?.error?.code;
}

export interface RequestInit {
  body?: unknown;
  /** A raw body sent as is (with `contentType`). */
  raw?: string;
  contentType?: string | null;
  method?: string;
  headers?: Record<string, string>;
}

/** One request with fetch; cookies only when given in `headers.cookie`. */
export async function sessionRequest(
  server: TestServer,
  path: string,
  init: RequestInit = {},
): Promise<SessionAnswer> {
  const headers: Record<string, string> = { ...init.headers };
  let body: string | undefined = init.raw;
  if (body === undefined && init.body !== undefined) body = JSON.stringify(init.body);
  if (body !== undefined && init.contentType !== null)
    headers['content-type'] ??= init.contentType ?? 'application/json';
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? 'POST',
    headers,
    body,
    signal: AbortSignal.timeout(10_000),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, json, setCookies: res.headers.getSetCookie() };
}

/** `POST /v1/sessions` with the server's API key. */
export async function startSession(
  server: TestServer,
  body: Record<string, unknown> = { sub: 'alice', rooms: { lobby: ['join', 'presence'] } },
): Promise<{ grant: string; expiresAt: number; sessionId: string; sessionExpiresAt: number }> {
  const a = await sessionRequest(server, '/v1/sessions', {
    body,
    headers: { authorization: `Bearer ${server.apiKey}` },
  });
  if (a.status !== 201) throw new Error(`start session: ${a.status} ${JSON.stringify(a.json)}`);
  return a.json as {
    grant: string;
    expiresAt: number;
    sessionId: string;
    sessionExpiresAt: number;
  };
}

export interface TokenAnswer {
  token: string;
  expiresAt: number;
  sessionId: string;
  csrfToken: string;
  sessionExpiresAt: number;
}

/** A browser tab on the server's own origin, with a cookie jar. */
export class SessionBrowser {
  readonly jar = new Map<string, string>();
  readonly server: TestServer;
  /** Sent as `Origin` (null: none). Defaults to the server's own origin. */
  origin: string | null;
  readonly names: { refresh: string; csrf: string };

  constructor(
    server: TestServer,
    options: { origin?: string | null; names?: { refresh: string; csrf: string } } = {},
  ) {
    this.server = server;
    this.origin = options.origin === undefined ? server.url : options.origin;
    this.names = options.names ?? SECURE_NAMES;
  }

  get refreshCookie(): string | undefined {
    return this.jar.get(this.names.refresh);
  }
  get csrfCookie(): string | undefined {
    return this.jar.get(this.names.csrf);
  }

  cookieHeader(): string {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** Applies `Set-Cookie` like a browser: `Max-Age=0` deletes. */
  apply(setCookies: string[]): void {
    for (const raw of setCookies) {
      const c = parseSetCookie(raw);
      if (c.attributes.get('max-age') === '0') this.jar.delete(c.name);
      else this.jar.set(c.name, c.value);
    }
  }

  async post(
    path: string,
    body: unknown = {},
    options: { csrf?: string | null; headers?: Record<string, string> } = {},
  ): Promise<SessionAnswer> {
    const headers: Record<string, string> = {};
    if (this.origin !== null) headers.origin = this.origin;
    if (this.jar.size > 0) headers.cookie = this.cookieHeader();
    const csrf = options.csrf === undefined ? this.csrfCookie : options.csrf;
    if (csrf !== null && csrf !== undefined) headers['x-csrf-token'] = csrf;
    const a = await sessionRequest(this.server, path, {
      body,
      headers: { ...headers, ...options.headers },
    });
    this.apply(a.setCookies);
    return a;
  }

  exchange(grant: string): Promise<SessionAnswer> {
    return this.post('/v1/session/exchange', { grant }, { csrf: null });
  }

  refresh(body: unknown = {}, options: { csrf?: string | null } = {}): Promise<SessionAnswer> {
    return this.post('/v1/session/refresh', body, options);
  }

  logout(): Promise<SessionAnswer> {
    return this.post('/v1/session/logout', {});
  }

  /** Starts a session with the API key and exchanges its grant; fails unless both succeed. */
  async signIn(body?: Record<string, unknown>): Promise<TokenAnswer> {
    const { grant } = await startSession(this.server, body);
    const a = await this.exchange(grant);
    if (a.status !== 200) throw new Error(`exchange: ${a.status} ${JSON.stringify(a.json)}`);
    return a.json as TokenAnswer;
  }

  /** A copy of this tab's cookies in another jar (a stolen cookie, a second tab). */
  clone(): SessionBrowser {
    const b = new SessionBrowser(this.server, { origin: this.origin, names: this.names });
    for (const [k, v] of this.jar) b.jar.set(k, v);
    return b;
  }
}
