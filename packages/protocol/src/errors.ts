import { CloseCode } from './close-codes.js';

/**
 * The one table of error codes, shared by the HTTP API, the signaling protocol and the SDK.
 * Each code maps to an HTTP status and, where the error ends a WebSocket, the close code.
 * `docs/errors.md` documents every entry; a test keeps the two in step.
 */
export const ErrorCodes = {
  // Token verification (design.md "Verification").
  token_missing: {
    status: 401,
    close: CloseCode.TokenInvalid,
    message: 'No access token was presented',
  },
  token_malformed: {
    status: 401,
    close: CloseCode.TokenInvalid,
    message: 'The access token is not a well-formed compact JWS',
  },
  token_invalid: {
    status: 401,
    close: CloseCode.TokenInvalid,
    message: 'The access token failed verification',
  },
  token_expired: {
    status: 401,
    close: CloseCode.TokenInvalid,
    message: 'The access token has expired',
  },
  token_revoked: {
    status: 401,
    close: CloseCode.Forbidden,
    message: 'The session or token has been revoked',
  },
  // An external issuer's keys could not be fetched (docs/external-issuers.md): fail closed,
  // but tell the client to retry rather than to throw its token away.
  issuer_unavailable: {
    status: 503,
    close: CloseCode.Overloaded,
    message: "The token's issuer could not be reached for its signing keys; retry later",
  },
  // API keys and admin authentication.
  unauthorized: { status: 401, close: null, message: 'Missing or invalid API key' },
  // Request shape.
  bad_request: { status: 400, close: null, message: 'The request is malformed' },
  invalid_sub: {
    status: 400,
    close: null,
    message: '"sub" must be 1..128 printable ASCII characters without whitespace',
  },
  invalid_rooms: {
    status: 400,
    close: null,
    message: '"rooms" must map room names to lists of known permissions',
  },
  invalid_room: {
    status: 400,
    close: null,
    message: 'Room names are 1..128 characters of [A-Za-z0-9._:-]',
  },
  invalid_permission: {
    status: 400,
    close: null,
    message: 'Unknown permission; allowed: join, publish, send, presence',
  },
  invalid_metadata: {
    status: 400,
    close: null,
    message: '"metadata" must be a JSON object of at most 4096 bytes serialized',
  },
  invalid_ttl: { status: 400, close: null, message: '"ttlSeconds" is outside the allowed range' },
  invalid_kind: { status: 400, close: null, message: '"kind" must be one of user, agent, service' },
  invalid_session_id: {
    status: 400,
    close: null,
    message: '"sessionId" is not a valid session id',
  },
  invalid_peer_id: { status: 400, close: null, message: 'Not a valid peer id' },
  invalid_field: { status: 400, close: null, message: 'A field has an invalid value' },
  session_revoked: {
    status: 409,
    close: null,
    message: 'The session has been revoked and cannot be extended',
  },
  // Browser sessions (docs/sessions.md): OAuth-style codes (RFC 6749 §5.2) on the grant,
  // refresh and logout routes.
  invalid_grant: {
    status: 400,
    close: null,
    message: 'The session grant or refresh credential is invalid, expired, reused or revoked',
  },
  invalid_scope: {
    status: 400,
    close: null,
    message: 'A refresh may not ask for more than the session grants',
  },
  csrf_failed: {
    status: 403,
    close: null,
    message: 'Missing or invalid CSRF token',
  },
  not_found: { status: 404, close: null, message: 'No such resource' },
  method_not_allowed: { status: 405, close: null, message: 'Method not allowed on this route' },
  payload_too_large: {
    status: 413,
    close: CloseCode.MessageTooBig,
    message: 'The request or message is too large',
  },
  unsupported_media_type: {
    status: 415,
    close: null,
    message: 'Content-Type must be application/json',
  },
  // Signaling.
  unknown_type: { status: 400, close: null, message: 'Unknown message type' },
  forbidden: { status: 403, close: null, message: 'The token does not allow this action' },
  origin_forbidden: { status: 403, close: null, message: 'Origin not allowed' },
  peer_not_found: { status: 404, close: null, message: 'No such peer within reach' },
  not_joined: { status: 409, close: null, message: 'Not a member of that room' },
  room_full: { status: 409, close: null, message: 'The room has reached its peer limit' },
  duplicate_id: {
    status: 409,
    close: null,
    message:
      'A message with this id was already received on this connection; it was not processed again',
  },
  too_many_rooms: {
    status: 409,
    close: null,
    message: 'The connection has joined the maximum number of rooms',
  },
  too_many_connections: {
    status: 429,
    close: CloseCode.RateLimited,
    message: 'Too many connections for this user',
  },
  rate_limited: { status: 429, close: CloseCode.RateLimited, message: 'Rate limit exceeded' },
  protocol_violation: {
    status: 400,
    close: CloseCode.ProtocolViolation,
    message: 'Too many invalid messages',
  },
  identity_changed: {
    status: 403,
    close: CloseCode.Forbidden,
    message: 'A refresh token must carry the same sub, tid and sid',
  },
  kicked: {
    status: 403,
    close: CloseCode.Forbidden,
    message: 'Removed from the room by the application',
  },
  replaced: {
    status: 409,
    close: CloseCode.Replaced,
    message: 'Replaced by a newer connection of the same identity',
  },
  slow_consumer: {
    status: 503,
    close: CloseCode.PolicyViolation,
    message: 'The client did not read its messages fast enough',
  },
  binary_not_supported: {
    status: 400,
    close: CloseCode.UnsupportedData,
    message: 'Binary frames are not supported',
  },
  resume_failed: {
    status: 409,
    close: null,
    message: 'The resume token is unknown or expired; joined as a new peer',
  },
  // Server state.
  draining: { status: 503, close: CloseCode.Overloaded, message: 'The server is shutting down' },
  overloaded: { status: 503, close: CloseCode.Overloaded, message: 'The server is overloaded' },
  not_ready: { status: 503, close: null, message: 'The server is not ready' },
  internal_error: { status: 500, close: CloseCode.InternalError, message: 'Internal error' },
} as const satisfies Record<string, { status: number; close: number | null; message: string }>;

/** Every error code, as a string union for `switch (err.code)`. */
export type ErrorCode = keyof typeof ErrorCodes;

/** The JSON error body of every HTTP error and of the `error` signaling message. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  /** The request field at fault, for validation errors (e.g. `rooms.lobby[1]`). */
  field?: string;
}

/** True when `code` is a known error code. */
export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.prototype.hasOwnProperty.call(ErrorCodes, code);
}

/**
 * An error with a stable `code` from {@link ErrorCodes}. Messages never contain a token,
 * a secret or SDP.
 *
 * @example
 * ```ts
 * throw new CallgateError('invalid_sub', undefined, { field: 'sub' });
 * ```
 */
export class CallgateError extends Error {
  readonly code: ErrorCode;
  readonly status: number;
  readonly closeCode: number | null;
  readonly field: string | undefined;

  constructor(code: ErrorCode, message?: string, options?: { field?: string; cause?: unknown }) {
    super(
      message ?? ErrorCodes[code].message,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.name = 'CallgateError';
    this.code = code;
    this.status = ErrorCodes[code].status;
    this.closeCode = ErrorCodes[code].close;
    this.field = options?.field;
  }

  toBody(): ErrorBody {
    const body: ErrorBody = { code: this.code, message: this.message };
    if (this.field !== undefined) body.field = this.field;
    return body;
  }
}
