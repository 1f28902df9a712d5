/**
 * MESSAGE-INTEGRITY (RFC 8489 §14.5) and the long-term credential key (RFC 8489 §9.2.2).
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { HEADER_LENGTH, StunAttr } from './constants.js';
import { padded } from './stun-message.js';

/**
 * The long-term credential key: `MD5(username ":" realm ":" password)` (RFC 8489 §9.2.2 with
 * the RFC 5389 MD5 algorithm, the only one coturn accepts in TURN REST mode).
 *
 * RFC 8489 asks for OpaqueString (formerly SASLprep) on username and password; plain UTF-8 is
 * the same for the ASCII usernames and base64 passwords of the TURN REST scheme, and for the
 * RFC 5769 §2.4 sample whose password is already in its prepared form.
 *
 * @example
 * const key = longTermKey('1700003600:sess_x', 'example.org', credential);
 * encodeStunMessage(request, { integrityKey: key, fingerprint: true });
 */
export function longTermKey(username: string, realm: string, password: string): Uint8Array {
  return new Uint8Array(
    createHash('md5').update(`${username}:${realm}:${password}`, 'utf8').digest(),
  );
}

/**
 * The short-term credential key: the password itself (RFC 8489 §9.1.1), as ICE uses it.
 *
 * @example
 * verifyMessageIntegrity(datagram, shortTermKey('VOkJxbRl1RmTxUk/WvJxBt'));
 */
export function shortTermKey(password: string): Uint8Array {
  return new Uint8Array(Buffer.from(password, 'utf8'));
}

/**
 * Whether the raw message carries a MESSAGE-INTEGRITY attribute that verifies with `key`.
 * Works on the bytes as received, since the HMAC covers the sender's padding bytes too.
 * Returns false when the attribute is missing or the message is malformed.
 *
 * @example
 * if (!verifyMessageIntegrity(datagram, key)) return reply401();
 */
export function verifyMessageIntegrity(bytes: Uint8Array, key: Uint8Array): boolean {
  const offset = findAttribute(bytes, StunAttr.MessageIntegrity);
  if (offset < 0) return false;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(offset + 2) !== 20 || offset + 24 > bytes.length) return false;
  // §14.5: the HMAC input is the message up to the attribute, with the header length adjusted
  // to end right after MESSAGE-INTEGRITY (a FINGERPRINT that follows is not counted).
  const input = Buffer.from(bytes.subarray(0, offset));
  input.writeUInt16BE(offset + 24 - HEADER_LENGTH, 2);
  const expected = createHmac('sha1', key).update(input).digest();
  return timingSafeEqual(expected, bytes.subarray(offset + 4, offset + 24));
}

/** Offset of the first attribute of `type` in raw bytes, or -1 (also when malformed). */
function findAttribute(bytes: Uint8Array, type: number): number {
  if (bytes.length < HEADER_LENGTH) return -1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let offset = HEADER_LENGTH;
  while (offset + 4 <= bytes.length) {
    if (view.getUint16(offset) === type) return offset;
    offset += 4 + padded(view.getUint16(offset + 2));
  }
  return -1;
}
