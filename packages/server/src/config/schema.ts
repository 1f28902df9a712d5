/**
 * The one table of configuration keys. The loader, the environment-variable mapping, the
 * validation and `docs/configuration.md` (kept in step by a test) all derive from it.
 */
import { parseTrustedIssuer } from './trusted-issuers.js';

export type KeyKind =
  | 'string'
  | 'url'
  | 'integer'
  | 'boolean'
  | 'string[]'
  | 'enum'
  | 'enum[]'
  | 'secret'
  | 'secret[]'
  | 'object[]';

/** Validates one item of an `object[]` key; reports problems through `fail` with their paths. */
export type ItemParser = (
  raw: unknown,
  path: string,
  fail: (message: string, path: string) => undefined,
) => unknown;

export interface KeySpec {
  kind: KeyKind;
  default: unknown;
  description: string;
  min?: number;
  max?: number;
  values?: readonly string[];
  /** Allowed to be absent (default `undefined`). */
  optional?: boolean;
  /** For `object[]`: the validator of one item. */
  parseItem?: ItemParser;
}

export const ASYMMETRIC_ALGORITHMS = ['RS256', 'ES256', 'EdDSA'] as const;
export type SigningAlgorithm = (typeof ASYMMETRIC_ALGORITHMS)[number];

const KIB = 1024;
const MIB = 1024 * KIB;

/** Dotted path → spec. Order here is the order of docs/configuration.md. */
export const CONFIG_KEYS = {
  dataDir: {
    kind: 'string',
    default: './.callgate',
    description:
      'Directory of the SQLite store (created with mode 0700; the database file is 0600).',
  },
  dev: {
    kind: 'boolean',
    default: false,
    description:
      'Development mode: bootstraps a `default` tenant and API key, serves `/demo` and the loopback-only dev token route.',
  },

  'server.host': { kind: 'string', default: '0.0.0.0', description: 'Address to listen on.' },
  'server.port': {
    kind: 'integer',
    default: 8080,
    min: 0,
    max: 65535,
    description: 'Port to listen on (0 picks a free port).',
  },
  'server.publicUrl': {
    kind: 'url',
    default: undefined,
    optional: true,
    description:
      'The URL clients reach this server at; defaults to `http://localhost:<port>`. Used for `jwks_uri` and the default issuer.',
  },
  'server.trustProxy': {
    kind: 'boolean',
    default: false,
    description:
      'Take the client address from `X-Forwarded-For` (only behind a proxy you control).',
  },
  'server.maxBodyBytes': {
    kind: 'integer',
    default: 64 * KIB,
    min: 1 * KIB,
    max: 16 * MIB,
    description: 'Largest accepted HTTP request body.',
  },
  'server.headersTimeoutMs': {
    kind: 'integer',
    default: 10_000,
    min: 1000,
    max: 120_000,
    description: 'Time allowed to receive request headers (slowloris defence).',
  },
  'server.requestTimeoutMs': {
    kind: 'integer',
    default: 30_000,
    min: 1000,
    max: 600_000,
    description: 'Time allowed for a whole request.',
  },
  'server.shutdownDrainMs': {
    kind: 'integer',
    default: 5000,
    min: 0,
    max: 120_000,
    description: 'On SIGTERM: time between `going_away` and closing sockets with 1001.',
  },

  'log.level': {
    kind: 'enum',
    default: 'info',
    values: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    description: 'pino log level.',
  },

  'auth.issuer': {
    kind: 'string',
    default: undefined,
    optional: true,
    description: '`iss` of minted tokens; defaults to `server.publicUrl`.',
  },
  'auth.audience': {
    kind: 'string',
    default: 'callgate',
    description: '`aud` of minted tokens, required on verification.',
  },
  'auth.algorithm': {
    kind: 'enum',
    default: 'RS256',
    values: ASYMMETRIC_ALGORITHMS,
    description: 'Algorithm of newly generated signing keys.',
  },
  'auth.allowedAlgorithms': {
    kind: 'enum[]',
    default: ['RS256', 'ES256', 'EdDSA'],
    values: ASYMMETRIC_ALGORITHMS,
    description:
      'Algorithms accepted on verification (asymmetric only; HS* and `none` can never be enabled).',
  },
  'auth.accessTokenTtlSeconds': {
    kind: 'integer',
    default: 300,
    min: 30,
    max: 3600,
    description: 'Default and maximum access-token lifetime; also the oldest `iat` accepted.',
  },
  'auth.minTokenTtlSeconds': {
    kind: 'integer',
    default: 30,
    min: 5,
    max: 3600,
    description: 'Shortest lifetime a mint request may ask for.',
  },
  'auth.clockToleranceSeconds': {
    kind: 'integer',
    default: 5,
    min: 0,
    max: 30,
    description: 'Clock skew tolerated on `exp`, `nbf` and `iat`.',
  },
  'auth.keyRotationDays': {
    kind: 'integer',
    default: 7,
    min: 1,
    max: 365,
    description: 'Signing-key rotation period while serving.',
  },
  'auth.maxTokenBytes': {
    kind: 'integer',
    default: 8192,
    min: 1024,
    max: 65_536,
    description: 'Tokens longer than this are refused before any crypto.',
  },
  'auth.sessionTtlSeconds': {
    kind: 'integer',
    default: 86_400,
    min: 300,
    max: 31 * 86_400,
    description:
      'Absolute lifetime of a browser session (its refresh cookie), and how long a session revocation is kept (a revoked session id can never be extended in that time).',
  },
  'auth.sessionIdleSeconds': {
    kind: 'integer',
    default: 3600,
    min: 60,
    max: 31 * 86_400,
    description:
      'A browser session not refreshed for this long ends (idle timeout); each refresh restarts it.',
  },
  'auth.sessionAllowedOrigins': {
    kind: 'string[]',
    default: [],
    description:
      "Exact `Origin`s allowed on the browser-session routes besides the server's own (`server.publicUrl`); cross-site requests get 403.",
  },
  'auth.mintRatePerSecond': {
    kind: 'integer',
    default: 200,
    min: 1,
    max: 1_000_000,
    description: 'Token mints per second per API key (burst = 2x).',
  },
  'auth.trustedIssuers': {
    kind: 'object[]',
    default: [],
    parseItem: parseTrustedIssuer,
    description:
      'External OpenID providers whose access tokens are accepted: `issuer`, `jwksUri`, `audience` and a mapping of tenant, rooms, metadata and session. See [external-issuers.md](external-issuers.md).',
  },

  'signal.allowQueryToken': {
    kind: 'boolean',
    default: true,
    description:
      'Accept `?token=` on `/v1/signal` for clients that cannot set subprotocols (redacted from logs).',
  },
  'signal.allowedOrigins': {
    kind: 'string[]',
    default: [],
    description: 'Exact `Origin` allow-list for the WebSocket handshake; empty allows any origin.',
  },
  'signal.maxMessageBytes': {
    kind: 'integer',
    default: 64 * KIB,
    min: 1 * KIB,
    max: 16 * MIB,
    description: 'Largest frame; larger closes with 1009.',
  },
  'signal.resumeGraceMs': {
    kind: 'integer',
    default: 10_000,
    min: 0,
    max: 300_000,
    description: 'How long a dropped peer is kept for resume.',
  },
  'signal.resumeBufferMessages': {
    kind: 'integer',
    default: 256,
    min: 0,
    max: 100_000,
    description: 'Messages buffered for a dropped peer.',
  },
  'signal.resumeBufferBytes': {
    kind: 'integer',
    default: 1 * MIB,
    min: 0,
    max: 64 * MIB,
    description: 'Bytes buffered for a dropped peer.',
  },
  'signal.pingIntervalMs': {
    kind: 'integer',
    default: 25_000,
    min: 100,
    max: 600_000,
    description: 'WebSocket ping interval.',
  },
  'signal.pongTimeoutMs': {
    kind: 'integer',
    default: 10_000,
    min: 100,
    max: 600_000,
    description: 'Terminate a connection that has not answered a ping within this time.',
  },
  'signal.messagesPerSecond': {
    kind: 'integer',
    default: 100,
    min: 1,
    max: 1_000_000,
    description: 'Sustained message rate per connection.',
  },
  'signal.messageBurst': {
    kind: 'integer',
    default: 200,
    min: 1,
    max: 1_000_000,
    description: 'Burst allowance per connection.',
  },
  'signal.rateLimitStrikes': {
    kind: 'integer',
    default: 50,
    min: 1,
    max: 1_000_000,
    description: 'Rate-limited messages after which the connection is closed with 4429.',
  },
  'signal.maxRoomsPerConnection': {
    kind: 'integer',
    default: 16,
    min: 1,
    max: 1000,
    description: 'Rooms one connection may join.',
  },
  'signal.maxPeersPerRoom': {
    kind: 'integer',
    default: 100,
    min: 1,
    max: 100_000,
    description: 'Peers in one room (`room_full` past it).',
  },
  'signal.maxConnectionsPerUser': {
    kind: 'integer',
    default: 10,
    min: 1,
    max: 10_000,
    description: 'Live connections per user per tenant.',
  },
  'signal.replaceDuplicateConnections': {
    kind: 'boolean',
    default: false,
    description:
      'When a user is at the connection limit, close their oldest connection with 4409 instead of refusing the new one.',
  },
  'signal.maxBufferedBytes': {
    kind: 'integer',
    default: 1 * MIB,
    min: 16 * KIB,
    max: 256 * MIB,
    description: 'Unsent bytes to a slow consumer before it is closed with 1008.',
  },
  'signal.maxInvalidMessages': {
    kind: 'integer',
    default: 10,
    min: 1,
    max: 10_000,
    description: 'Invalid messages after which the connection is closed with 4400.',
  },
  'signal.handshakesPerSecondPerIp': {
    kind: 'integer',
    default: 20,
    min: 1,
    max: 1_000_000,
    description:
      'Sustained WebSocket handshakes per client IP (burst = 2x); past it HTTP 429 with `Retry-After`.',
  },
  'signal.maxConnectionsPerIp': {
    kind: 'integer',
    default: 1000,
    min: 1,
    max: 1_000_000,
    description:
      'Live WebSocket connections per client IP (all users together); past it the handshake gets HTTP 429 with `Retry-After`.',
  },
  'signal.maxEventLoopLagMs': {
    kind: 'integer',
    default: 1000,
    min: 0,
    max: 60_000,
    description:
      'Event-loop lag above which new WebSocket handshakes get HTTP 503 `overloaded` with `Retry-After` (0 turns the check off).',
  },
  'signal.tokenExpiringLeadSeconds': {
    kind: 'integer',
    default: 60,
    min: 1,
    max: 3600,
    description:
      '`token_expiring` is sent this long before `exp` (or at 80% of a shorter lifetime).',
  },

  'turn.secrets': {
    kind: 'secret[]',
    default: [],
    description:
      'TURN REST shared secrets, newest first (each at least 32 bytes). Empty: one is generated and kept in the store.',
  },
  'turn.ttlSeconds': {
    kind: 'integer',
    default: 3600,
    min: 60,
    max: 86_400,
    description: 'TURN credential lifetime.',
  },
  'turn.urls': {
    kind: 'string[]',
    default: [],
    description:
      'STUN/TURN URLs for `iceServers`; empty: `stun:` and `turn:` on this host port 3478 (UDP and TCP).',
  },
  'turn.realm': {
    kind: 'string',
    default: undefined,
    optional: true,
    description: 'TURN realm for the relay; defaults to the host of `server.publicUrl`.',
  },
  'turn.requestsPerMinutePerUser': {
    kind: 'integer',
    default: 30,
    min: 1,
    max: 1_000_000,
    description: 'TURN credential requests per user per minute (429 past it).',
  },
} as const satisfies Record<string, KeySpec>;

export type ConfigKey = keyof typeof CONFIG_KEYS;

/** Environment variable for a key: `CALLGATE_` + upper snake case of each segment, joined by `_`. */
export function envName(key: string): string {
  return (
    'CALLGATE_' +
    key
      .split('.')
      .map((seg) => seg.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toUpperCase())
      .join('_')
  );
}
