/** Codes of {@link TurnClientError}. */
export type TurnClientErrorCode =
  /** No (valid) answer within the time allowed. */
  | 'ERR_TURN_TIMEOUT'
  /** The server answered with something a TURN client cannot use (missing attributes...). */
  | 'ERR_TURN_PROTOCOL'
  /** The server answered a request of an existing allocation with a STUN error (see `errorCode`). */
  | 'ERR_TURN_REJECTED'
  /** The client was closed while a request was pending, or used after `close()`. */
  | 'ERR_TURN_CLOSED';

/**
 * A failure of the TURN/STUN client that is not a plain "credentials refused" answer (that one
 * is `allocate()`'s `{ ok: false, errorCode }` result). Messages never carry the password or the
 * credential.
 *
 * @example
 * try {
 *   await allocation.createPermission('10.0.0.1');
 * } catch (err) {
 *   if (err instanceof TurnClientError && err.errorCode === 403) console.log('peer refused');
 * }
 */
export class TurnClientError extends Error {
  readonly code: TurnClientErrorCode;
  /** The STUN error code (RFC 8489 §14.8) for `ERR_TURN_REJECTED`. */
  readonly errorCode: number | undefined;

  constructor(
    code: TurnClientErrorCode,
    message: string,
    errorCode?: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'TurnClientError';
    this.code = code;
    this.errorCode = errorCode;
  }
}
