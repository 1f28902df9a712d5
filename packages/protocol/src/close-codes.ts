/**
 * WebSocket close codes used by `callgate.v1`.
 *
 * 1000-1011 are RFC 6455 §7.4.1 codes; 4000-4999 are reserved by RFC 6455 §7.4.2 for
 * applications. The 44xx codes mirror HTTP statuses so a client can map them at a glance.
 *
 * @example
 * ```ts
 * if (event.code === CloseCode.TokenInvalid) await getFreshToken();
 * ```
 */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  UnsupportedData: 1003,
  InvalidPayload: 1007,
  PolicyViolation: 1008,
  MessageTooBig: 1009,
  InternalError: 1011,
  TryAgainLater: 1013,
  ProtocolViolation: 4400,
  TokenInvalid: 4401,
  Forbidden: 4403,
  Replaced: 4409,
  RateLimited: 4429,
  Overloaded: 4503,
} as const;

export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** What a client should do after a close, per design.md's close-code table. */
export type CloseAction = 'stop' | 'reconnect' | 'reconnect_new_token' | 'reconnect_after';

/**
 * The client policy for a close code: `stop` (do not reconnect), `reconnect` (resume with
 * backoff), `reconnect_new_token` (fetch a new token first), `reconnect_after` (honour the
 * server's `retryAfterMs`). Unknown codes (including 1006, an abnormal drop) reconnect.
 */
export function closeAction(code: number): CloseAction {
  switch (code) {
    case CloseCode.Normal:
    case CloseCode.UnsupportedData:
    case CloseCode.InvalidPayload:
    case CloseCode.MessageTooBig:
    case CloseCode.ProtocolViolation:
    case CloseCode.Forbidden:
    case CloseCode.Replaced:
      return 'stop';
    case CloseCode.TokenInvalid:
      return 'reconnect_new_token';
    case CloseCode.RateLimited:
    case CloseCode.Overloaded:
    case CloseCode.TryAgainLater:
      return 'reconnect_after';
    default:
      return 'reconnect';
  }
}
