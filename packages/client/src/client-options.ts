import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { systemClock, type Clock } from './clock.js';
import { signalUrl } from './signal-url.js';
import type { WebSocketConstructor } from './websocket-like.js';

/**
 * Why the SDK asks for a token: the first `connect`, a reconnect whose cached token is too old
 * (or was refused with 4401), or an in-band refresh before expiry.
 *
 * @example
 * ```ts
 * const getToken: GetToken = async ({ reason }) => fetchToken({ refresh: reason !== 'connect' });
 * ```
 */
export type TokenRequestReason = 'connect' | 'reconnect' | 'refresh';

/**
 * The application's token source: its backend mints a Callgate access token (with its API
 * key, `POST /v1/tokens`) for the signed-in user and returns it. Called again whenever a fresh
 * token is needed; keep it cheap and do not cache the result yourself.
 *
 * @example
 * ```ts
 * const getToken: GetToken = async () => {
 *   const res = await fetch('/api/callgate-token', { method: 'POST', credentials: 'include' });
 *   if (!res.ok) throw new Error(`token endpoint: ${res.status}`);
 *   return (await res.json()) as { token: string };
 * };
 * ```
 */
export type GetToken = (context: {
  reason: TokenRequestReason;
}) => Promise<string | { token: string }>;

/**
 * Where log lines go; `console` fits. Messages never contain a token.
 *
 * @example
 * ```ts
 * createClient({ url, getToken, logger: console });
 * ```
 */
export type ClientLogger = Partial<
  Record<'debug' | 'info' | 'warn' | 'error', (message: string, data?: object) => void>
>;

/**
 * Options of {@link createClient}. Only `url` and `getToken` are required.
 *
 * @example
 * ```ts
 * const options: ClientOptions = {
 *   url: 'wss://callgate.example.com',
 *   getToken: async () => (await fetch('/api/callgate-token')).json(),
 *   reconnect: { maxDelayMs: 10_000 },
 * };
 * ```
 */
export interface ClientOptions {
  /** The `ws(s)://` URL of `/v1/signal`, or the server's base URL (`/v1/signal` is appended to an empty path). */
  url: string;
  /** Returns a fresh access token (a string or `{ token }`). */
  getToken: GetToken;
  /** A WebSocket constructor; defaults to `globalThis.WebSocket` (pass `ws`'s in Node 20). */
  WebSocket?: WebSocketConstructor;
  /** Time and timers; defaults to `Date.now()` and `setTimeout`. */
  clock?: Clock;
  /** Returns a number in [0, 1) for backoff jitter; defaults to `Math.random`. */
  random?: () => number;
  /** Reconnect backoff, merged with {@link DEFAULT_BACKOFF}. */
  reconnect?: Partial<BackoffOptions>;
  /**
   * How long a request may wait for its answer, including time spent reconnecting; also how
   * long `getToken` may take. Default 10000 ms.
   */
  requestTimeoutMs?: number;
  /** How long a connection attempt may take to reach `welcome` before it is abandoned. Default 10000 ms. */
  handshakeTimeoutMs?: number;
  /** Fraction of a token's lifetime after which the client refreshes it in-band, in (0, 1). Default 0.8. */
  refreshAt?: number;
  logger?: ClientLogger;
}

/** {@link ClientOptions} after validation and defaults. */
export interface ResolvedClientOptions {
  url: string;
  getToken: GetToken;
  WebSocket: WebSocketConstructor;
  clock: Clock;
  random: () => number;
  reconnect: BackoffOptions;
  requestTimeoutMs: number;
  handshakeTimeoutMs: number;
  refreshAt: number;
  logger: ClientLogger;
}

const DEFAULTS = {
  requestTimeoutMs: 10_000,
  handshakeTimeoutMs: 10_000,
  refreshAt: 0.8,
} as const;

/**
 * Validates options and fills in defaults; misuse throws a `TypeError` or `RangeError` naming
 * the option (style.md, "Errors").
 *
 * @example
 * ```ts
 * const resolved = resolveClientOptions({ url: 'ws://127.0.0.1:8080', getToken, WebSocket });
 * ```
 */
export function resolveClientOptions(options: ClientOptions): ResolvedClientOptions {
  if (typeof options !== 'object' || options === null) {
    throw new TypeError('createClient() needs an options object');
  }
  if (typeof options.url !== 'string') throw new TypeError('"url" option must be a string');
  if (typeof options.getToken !== 'function') {
    throw new TypeError('"getToken" option must be a function returning a token');
  }
  const WebSocketCtor = options.WebSocket ?? globalWebSocket();
  if (typeof WebSocketCtor !== 'function') {
    throw new TypeError(
      '"WebSocket" option is required where globalThis.WebSocket is missing (pass ws\'s WebSocket in Node 20)',
    );
  }
  const clock = options.clock ?? systemClock;
  if (typeof clock.now !== 'function' || typeof clock.setTimer !== 'function') {
    throw new TypeError('"clock" option must have now() and setTimer()');
  }
  const random = options.random ?? Math.random;
  if (typeof random !== 'function') throw new TypeError('"random" option must be a function');
  const reconnect: BackoffOptions = { ...DEFAULT_BACKOFF, ...options.reconnect };
  positive('reconnect.initialDelayMs', reconnect.initialDelayMs, true);
  positive('reconnect.maxDelayMs', reconnect.maxDelayMs, true);
  if (reconnect.maxDelayMs < reconnect.initialDelayMs) {
    throw new RangeError(
      '"reconnect.maxDelayMs" option must be at least "reconnect.initialDelayMs"',
    );
  }
  if (!(Number.isFinite(reconnect.factor) && reconnect.factor >= 1)) {
    throw new RangeError('"reconnect.factor" option must be a number >= 1');
  }
  fraction('reconnect.jitter', reconnect.jitter);
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
  positive('requestTimeoutMs', requestTimeoutMs, false);
  const handshakeTimeoutMs = options.handshakeTimeoutMs ?? DEFAULTS.handshakeTimeoutMs;
  positive('handshakeTimeoutMs', handshakeTimeoutMs, false);
  const refreshAt = options.refreshAt ?? DEFAULTS.refreshAt;
  if (typeof refreshAt !== 'number' || !(refreshAt > 0 && refreshAt < 1)) {
    throw new RangeError('"refreshAt" option must be a number greater than 0 and less than 1');
  }
  return {
    url: signalUrl(options.url),
    getToken: options.getToken,
    WebSocket: WebSocketCtor,
    clock,
    random,
    reconnect,
    requestTimeoutMs,
    handshakeTimeoutMs,
    refreshAt,
    logger: options.logger ?? {},
  };
}

function globalWebSocket(): WebSocketConstructor | undefined {
  return (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
}

function positive(name: string, value: number, zeroOk: boolean): void {
  if (
    typeof value !== 'number' ||
    !Number.isFinite(value) ||
    value < 0 ||
    (!zeroOk && value === 0)
  ) {
    throw new RangeError(
      `"${name}" option must be a ${zeroOk ? 'non-negative' : 'positive'} number of milliseconds`,
    );
  }
}

function fraction(name: string, value: number): void {
  if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
    throw new RangeError(`"${name}" option must be a number between 0 and 1`);
  }
}
