import type { ErrorCode } from '@callgate/protocol';

/**
 * Error codes raised by the SDK itself, in addition to the server's {@link ErrorCode}s:
 *
 * - `not_connected`: a request was made while the client is `disconnected`;
 * - `timeout`: no answer (or no connection) within `requestTimeoutMs`;
 * - `closed`: the connection closed (or `close()` was called) before the answer arrived;
 * - `token_unavailable`: `getToken` threw or returned something that is not a token;
 * - `invalid_message`: the server sent a frame the SDK could not read (reported, then ignored).
 *
 * @example
 * ```ts
 * const local: LocalErrorCode = 'timeout';
 * ```
 */
export type LocalErrorCode =
  'not_connected' | 'timeout' | 'closed' | 'token_unavailable' | 'invalid_message';

/**
 * Every code a {@link CallgateClientError} can carry: a server error code (`forbidden`,
 * `peer_not_found`, `room_full`, `token_revoked`, ...) or a {@link LocalErrorCode}.
 *
 * @example
 * ```ts
 * function explain(code: ClientErrorCode): string {
 *   return code === 'forbidden' ? 'not allowed in this room' : code;
 * }
 * ```
 */
export type ClientErrorCode = ErrorCode | LocalErrorCode;

/** Extra facts attached to a {@link CallgateClientError}. */
export interface ClientErrorDetails {
  /** The field at fault, for the server's validation errors. */
  field?: string;
  /** The room a failed (re)join was about. */
  room?: string;
  /** The WebSocket close code, when the error comes from a close. */
  closeCode?: number;
  /** The close reason text (a server error code, or empty). */
  closeReason?: string;
  cause?: unknown;
}

/**
 * The one error class of the SDK: every rejected promise and every `error` event carries one.
 * Switch on `code`, not on `message`. Messages never contain a token or SDP.
 *
 * @example
 * ```ts
 * try {
 *   await client.join('lobby');
 * } catch (err) {
 *   if (err instanceof CallgateClientError && err.code === 'forbidden') showNoAccess();
 *   else throw err;
 * }
 * ```
 */
export class CallgateClientError extends Error {
  readonly code: ClientErrorCode;
  readonly field: string | undefined;
  readonly room: string | undefined;
  readonly closeCode: number | undefined;
  readonly closeReason: string | undefined;

  constructor(code: ClientErrorCode, message: string, details: ClientErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'CallgateClientError';
    this.code = code;
    this.field = details.field;
    this.room = details.room;
    this.closeCode = details.closeCode;
    this.closeReason = details.closeReason;
  }
}
