import { isErrorCode } from '@callgate/protocol';
import { CallgateClientError } from './client-error.js';
import type { GetToken } from './client-options.js';

/** A session's access token as the session routes return it. */
export interface SessionToken {
  token: string;
  /** When the access token expires (ms since the epoch, server clock). */
  expiresAt: number;
  sessionId: string;
  /** When the session ends at the latest (ms since the epoch, server clock). */
  sessionExpiresAt: number;
}

/** The part of the Web Locks API the provider uses (`navigator.locks`). */
export interface LockManagerLike {
  request<T>(name: string, callback: () => Promise<T>): Promise<T>;
}

/**
 * Options of {@link sessionTokenProvider}. All optional: in a page served from the Callgate
 * origin (or behind a proxy that forwards `/v1/session/` to it) the defaults fit.
 */
export interface SessionTokenProviderOptions {
  /** Where the session routes are: `''` (default) means this page's origin. */
  baseUrl?: string;
  /** A fetch implementation; defaults to `globalThis.fetch`. */
  fetch?: typeof fetch;
  /** A grant from your backend (`POST /v1/sessions`), exchanged by the first `getToken`. */
  grant?: string;
  /** Returns the page's readable cookies; defaults to `document.cookie` (empty outside a page). */
  cookies?: () => string;
  /**
   * Serialises refreshes across tabs of the same origin (they share the refresh cookie, and a
   * credential presented twice ends the session); defaults to `navigator.locks` when present.
   * `null` turns it off.
   */
  locks?: LockManagerLike | null;
}

/** What {@link sessionTokenProvider} returns: `getToken` for `createClient`, and the session. */
export interface SessionTokenProvider {
  /** For `createClient({ getToken })`: exchanges a pending grant, else refreshes. */
  readonly getToken: GetToken;
  /** Hands over a new grant (after a sign-in); the next `getToken` exchanges it. */
  useGrant(grant: string): void;
  /** Exchanges a grant now (the pending one when omitted). */
  exchange(grant?: string): Promise<SessionToken>;
  /** Refreshes now: a new access token, the refresh cookie rotated by the server. */
  refresh(): Promise<SessionToken>;
  /** Ends the session on the server (its sockets close with 4403) and forgets it here. */
  logout(): Promise<void>;
  /** The session id, once a token was obtained. */
  readonly sessionId: string | undefined;
}

/** The CSRF cookie: `__Host-` in production, the unprefixed dev-mode name over plain HTTP. */
export const CSRF_COOKIE_NAMES = ['__Host-callgate_csrf', 'callgate_csrf'] as const;
const SESSION_PATH = '/v1/session';
const LOCK_NAME = 'callgate-session';
/** A token kept from exchange()/refresh() is used by getToken() only with this much life left. */
const UNUSED_MIN_LIFE_MS = 30_000;

/**
 * A token source for {@link createClient} backed by a Callgate browser session
 * (docs/sessions.md): your backend starts a session with its API key and gives the page a
 * one-time grant; this exchanges it for an access token and an HttpOnly refresh cookie, then
 * refreshes through that cookie. The access token lives only in memory (never in
 * `localStorage`, `sessionStorage` or a readable cookie); the refresh credential is never
 * visible to scripts at all. Refreshes send the CSRF cookie's value as `X-CSRF-Token`, with
 * `credentials: 'same-origin'`, one at a time (also across tabs, through the Web Locks API).
 *
 * After a page reload no grant is needed: the refresh cookie is still there.
 *
 * @example
 * ```ts
 * const { grant } = await (await fetch('/api/callgate-session', { method: 'POST' })).json();
 * const session = sessionTokenProvider({ grant });
 * const client = createClient({ url: 'wss://rtc.example.com', getToken: session.getToken });
 * await client.connect();
 * // on sign-out:
 * await client.close();
 * await session.logout();
 * ```
 */
export function sessionTokenProvider(
  options: SessionTokenProviderOptions = {},
): SessionTokenProvider {
  if (typeof options !== 'object' || options === null)
    throw new TypeError('sessionTokenProvider() options must be an object');
  if (options.baseUrl !== undefined && typeof options.baseUrl !== 'string')
    throw new TypeError('"baseUrl" option must be a string');
  const baseUrl = (options.baseUrl ?? '').replace(/\/+$/, '');
  const doFetch = options.fetch ?? globalThis.fetch?.bind(globalThis);
  if (typeof doFetch !== 'function')
    throw new TypeError('"fetch" option must be a function (no global fetch here)');
  if (options.grant !== undefined && typeof options.grant !== 'string')
    throw new TypeError('"grant" option must be a string');
  const readCookies = options.cookies ?? defaultCookies;
  const locks = options.locks === undefined ? defaultLocks() : options.locks;

  let pendingGrant = options.grant;
  // In memory only: the last CSRF token the server returned (used when cookies are not
  // readable, e.g. outside a page) and a token obtained by exchange()/refresh() that no
  // getToken() has handed out yet.
  let csrfFromServer: string | undefined;
  let unused: SessionToken | undefined;
  let sessionId: string | undefined;
  let inflight: Promise<SessionToken> | undefined;

  const csrfToken = (): string | undefined => cookieValue(readCookies()) ?? csrfFromServer;

  const post = async (route: string, body: unknown, csrf: string | undefined) => {
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (csrf !== undefined) headers['x-csrf-token'] = csrf;
    let res: Response;
    try {
      res = await doFetch(`${baseUrl}${SESSION_PATH}/${route}`, {
        method: 'POST',
        headers,
        body: JSON.stringify(body),
        credentials: 'same-origin',
      });
    } catch (cause) {
      throw new CallgateClientError('token_unavailable', `Session ${route}: network error`, {
        cause,
      });
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch {
      json = undefined;
    }
    if (!res.ok) throw sessionError(route, res.status, json);
    return json;
  };

  const accept = (json: unknown, route: string): SessionToken => {
    const b = json as Partial<SessionToken & { csrfToken: string }> | undefined;
    if (
      typeof b?.token !== 'string' ||
      typeof b.expiresAt !== 'number' ||
      typeof b.sessionId !== 'string'
    )
      throw new CallgateClientError('token_unavailable', `Session ${route}: unexpected answer`);
    // The cookies belong to the browser, not to this page: a sign-in in another tab replaces
    // them, and a refresh would then yield the other session's token. Never hand that over.
    if (route === 'refresh' && sessionId !== undefined && b.sessionId !== sessionId)
      throw new CallgateClientError(
        'identity_changed',
        'The browser session changed (a sign-in elsewhere in this browser); start again',
      );
    if (typeof b.csrfToken === 'string') csrfFromServer = b.csrfToken;
    sessionId = b.sessionId;
    return {
      token: b.token,
      expiresAt: b.expiresAt,
      sessionId: b.sessionId,
      sessionExpiresAt: typeof b.sessionExpiresAt === 'number' ? b.sessionExpiresAt : b.expiresAt,
    };
  };

  /** One exchange or refresh at a time in this page, and (with Web Locks) across its tabs. */
  const single = (work: () => Promise<SessionToken>): Promise<SessionToken> => {
    if (inflight) return inflight;
    const run = locks ? () => locks.request(LOCK_NAME, work) : work;
    inflight = run().finally(() => {
      inflight = undefined;
    });
    return inflight;
  };

  const exchange = (grant?: string): Promise<SessionToken> => {
    const g = grant ?? pendingGrant;
    if (g === undefined)
      return Promise.reject(new TypeError('exchange() needs a grant (none is pending)'));
    if (g === pendingGrant) pendingGrant = undefined; // single use, whatever the outcome
    return single(async () => accept(await post('exchange', { grant: g }, undefined), 'exchange'));
  };

  const refresh = (): Promise<SessionToken> =>
    single(async () => {
      const csrf = csrfToken();
      if (csrf === undefined)
        throw new CallgateClientError(
          'token_unavailable',
          'No session here: give sessionTokenProvider a grant from your backend',
        );
      return accept(await post('refresh', {}, csrf), 'refresh');
    });

  const getToken: GetToken = async () => {
    // A token from an explicit exchange()/refresh() is handed out once, while it is young.
    const t0 = unused;
    unused = undefined;
    if (t0 !== undefined && t0.expiresAt - Date.now() > UNUSED_MIN_LIFE_MS) return t0.token;
    const t = pendingGrant !== undefined ? await exchange() : await refresh();
    return t.token;
  };

  return {
    getToken,
    useGrant(grant: string) {
      if (typeof grant !== 'string' || grant === '')
        throw new TypeError('useGrant() needs the grant string from POST /v1/sessions');
      pendingGrant = grant;
      unused = undefined;
    },
    async exchange(grant?: string) {
      const t = await exchange(grant);
      unused = t;
      return t;
    },
    async refresh() {
      const t = await refresh();
      unused = t;
      return t;
    },
    async logout() {
      const csrf = csrfToken();
      unused = undefined;
      pendingGrant = undefined;
      try {
        if (csrf !== undefined) await post('logout', {}, csrf);
      } finally {
        csrfFromServer = undefined;
        sessionId = undefined;
      }
    },
    get sessionId() {
      return sessionId;
    },
  };
}

/** The CSRF cookie's value from a `document.cookie` string (the `__Host-` name first). */
function cookieValue(cookieString: string): string | undefined {
  const jar = new Map<string, string>();
  for (const part of cookieString.split(';')) {
    const eq = part.indexOf('=');
    if (eq === -1) continue;
    const name = part.slice(0, eq).trim();
    if (!jar.has(name)) jar.set(name, part.slice(eq + 1).trim());
  }
  for (const name of CSRF_COOKIE_NAMES) {
    const v = jar.get(name);
    if (v) return v;
  }
  return undefined;
}

function sessionError(route: string, status: number, json: unknown): CallgateClientError {
  const err = (json as { error?: { code?: unknown; message?: unknown; field?: unknown } })?.error;
  const code = isErrorCode(err?.code) ? err.code : 'token_unavailable';
  const message = typeof err?.message === 'string' ? err.message : `HTTP ${status}`;
  return new CallgateClientError(
    code,
    `Session ${route} failed: ${message}`,
    typeof err?.field === 'string' ? { field: err.field } : {},
  );
}

function defaultCookies(): string {
  const doc = (globalThis as { document?: { cookie?: unknown } }).document;
  return typeof doc?.cookie === 'string' ? doc.cookie : '';
}

function defaultLocks(): LockManagerLike | null {
  const nav = (globalThis as { navigator?: { locks?: LockManagerLike } }).navigator;
  return nav?.locks && typeof nav.locks.request === 'function' ? nav.locks : null;
}
