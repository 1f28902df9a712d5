/** Codes of {@link StunDecodeError}: why bytes were not accepted as a STUN message. */
export type StunDecodeErrorCode =
  'ERR_STUN_NOT_STUN' | 'ERR_STUN_LENGTH' | 'ERR_STUN_ATTRIBUTE' | 'ERR_STUN_FINGERPRINT';

/**
 * Bad input on the wire (a datagram that is not a well-formed STUN message). Misuse by a caller
 * (a bad option) throws `TypeError`/`RangeError` instead.
 *
 * @example
 * try {
 *   decodeStunMessage(datagram);
 * } catch (err) {
 *   if (err instanceof StunDecodeError && err.code === 'ERR_STUN_NOT_STUN') dropDatagram();
 * }
 */
export class StunDecodeError extends Error {
  readonly code: StunDecodeErrorCode;

  constructor(code: StunDecodeErrorCode, message: string) {
    super(message);
    this.name = 'StunDecodeError';
    this.code = code;
  }
}
