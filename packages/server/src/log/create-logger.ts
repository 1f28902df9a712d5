import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

/**
 * Paths that must never reach a log line even if a caller passes them by mistake. Callgate's
 * own log calls never include tokens, API-key secrets, TURN secrets or credentials; this is the
 * second line of defence.
 */
export const REDACT_PATHS = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["sec-websocket-protocol"]',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret',
  'secrets',
  'credential',
  '*.credential',
  'privateJwk',
  '*.privateJwk',
];

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
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
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
