import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Member names whose values never reach a log line, at any depth and in any letter case, even
 * if a caller passes them by mistake. Callgate's own log calls never include tokens, API-key
 * secrets, TURN secrets or credentials; this is the second line of defence.
 */
export const REDACTED_NAMES: readonly string[] = [
  'token',
  'accessToken',
  'access_token',
  'refreshToken',
  'refresh_token',
  'resumeToken',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  'sec-websocket-protocol',
  'apiKey',
  'secret',
  'secrets',
  'clientSecret',
  'client_secret',
  'password',
  'credential',
  'privateJwk',
];

/** {@link REDACTED_NAMES} in lower case: what member names are compared with. */
export const REDACTED_KEYS: ReadonlySet<string> = new Set(
  REDACTED_NAMES.map((n) => n.toLowerCase()),
);

/** What a redacted value is replaced with. */
export const CENSOR = '[redacted]';

/** Objects nested deeper than this are logged as they are (log objects are shallow). */
const MAX_REDACT_DEPTH = 8;

/**
 * `value` with every member named in {@link REDACTED_KEYS} replaced by `[redacted]`, at any
 * depth (arrays included). The input is never changed: objects on the path to a redacted
 * member are copied, everything else is shared, and a value with nothing to redact is returned
 * as it is. An `Error` on such a path is copied with its prototype, `message` and `stack`, so
 * pino's error serializer still sees an error.
 *
 * One walk over the line's members: pino's path-based `redact` cost about four times as much
 * per line and matched only the paths it was given.
 *
 * @example
 * ```ts
 * redactSecrets({ event: 'x', req: { headers: { Authorization: 'Bearer eyJ' } } });
 * // { event: 'x', req: { headers: { Authorization: '[redacted]' } } }
 * ```
 */
export function redactSecrets<T>(value: T): T {
  return redactAt(value, 0);
}

function redactAt<T>(value: T, depth: number): T {
  if (typeof value !== 'object' || value === null || depth > MAX_REDACT_DEPTH) return value;
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const r = redactAt(v, depth + 1);
      if (r !== v) {
        copy ??= value.slice();
        copy[i] = r;
      }
    }
    return (copy ?? value) as T;
  }
  let copy: Record<string, unknown> | undefined;
  const obj = value as Record<string, unknown>;
  for (const key in obj) {
    if (!Object.prototype.hasOwnProperty.call(obj, key)) continue;
    const v = obj[key];
    const r =
      REDACTED_KEYS.has(key) || REDACTED_KEYS.has(key.toLowerCase())
        ? CENSOR
        : redactAt(v, depth + 1);
    if (r !== v) {
      copy ??=
        value instanceof Error
          ? (Object.assign(
              Object.create(Object.getPrototypeOf(value) as object) as Record<string, unknown>,
              { message: value.message, stack: value.stack },
              obj,
            ) as Record<string, unknown>)
          : { ...obj };
      copy[key] = r;
    }
  }
  return (copy ?? value) as T;
}

/**
 * pino options every Callgate logger uses (the server's, and the tests' capturing one): each
 * line goes through {@link redactSecrets}. pino does not pass a child logger's bindings through
 * formatters, so the names are also given to pino's own `redact` as top-level paths, which
 * covers bindings and costs next to nothing (no wildcard paths).
 */
export const LOG_REDACTION = {
  formatters: { log: (obj: Record<string, unknown>) => redactSecrets(obj) },
  redact: {
    paths: REDACTED_NAMES.filter((n) => /^[A-Za-z_$][\w$]*$/.test(n)),
    censor: CENSOR,
  },
};

export interface CreateLoggerOptions {
  level: string;
  destination?: DestinationStream | undefined;
}

/** The server's pino logger: JSON lines, one per request and per connection event. */
export function createLogger(options: CreateLoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'callgate' },
      ...LOG_REDACTION,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination ?? stdoutDestination(),
  );
}

/**
 * Standard output, written in batches: a line is buffered until 4 KiB are, or 250 ms pass, or
 * the process exits. Writes are synchronous (no thread-pool round trip per write, which cost
 * more than the line itself when every connection logs one), as pino's own default is.
 */
function stdoutDestination(): DestinationStream {
  const dest = pino.destination({ dest: 1, sync: true, minLength: 4096, periodicFlush: 250 });
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // stdout already gone: nothing left to write to.
    }
  });
  return dest;
}

/**
 * A URL as it may be logged or stored: the path, and query parameter names with every value
 * replaced (design.md "Logging": query strings are redacted; RFC 6750 §5.3).
 *
 * @example
 * ```ts
 * redactUrl('/v1/signal?token=eyJ...&x=1'); // '/v1/signal?token=[redacted]&x=[redacted]'
 * ```
 */
export function redactUrl(url: string | undefined): string {
  if (url === undefined) return '';
  const q = url.indexOf('?');
  if (q === -1) return url;
  const names = url
    .slice(q + 1)
    .split('&')
    .filter((p) => p !== '')
    .map((p) => {
      const eq = p.indexOf('=');
      const name = eq === -1 ? p : p.slice(0, eq);
      return `${/^[A-Za-z0-9_.-]{1,64}$/.test(name) ? name : '_'}=[redacted]`;
    });
  return `${url.slice(0, q)}?${names.join('&')}`;
}
