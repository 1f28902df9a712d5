/**
 * Encoding and decoding of whole STUN messages (RFC 8489 §5 header, §14 attribute TLVs).
 * TURN (RFC 5766) uses the same framing with more methods and attributes.
 */
import { createHmac, randomBytes } from 'node:crypto';
import {
  FINGERPRINT_XOR,
  HEADER_LENGTH,
  MAGIC_COOKIE,
  StunAttr,
  TRANSACTION_ID_LENGTH,
  classOf,
  messageType,
  methodOf,
} from './constants.js';
import type { StunClass } from './constants.js';
import { crc32 } from './crc32.js';
import { StunDecodeError } from './stun-error.js';

/** One attribute: its 16-bit type and its value without padding. */
export interface StunAttribute {
  readonly type: number;
  readonly value: Uint8Array;
}

/** A STUN message: method, class, 96-bit transaction id and attributes in wire order. */
export interface StunMessage {
  readonly method: number;
  readonly cls: StunClass;
  readonly transactionId: Uint8Array;
  readonly attributes: readonly StunAttribute[];
}

/** Options of {@link encodeStunMessage}. */
export interface EncodeStunOptions {
  /**
   * Append MESSAGE-INTEGRITY (HMAC-SHA1, RFC 8489 §14.5) keyed with this key: the long-term key
   * from `longTermKey()` or, for short-term credentials, the password's bytes.
   */
  integrityKey?: Uint8Array;
  /** Append FINGERPRINT (RFC 8489 §14.7) as the last attribute. */
  fingerprint?: boolean;
  /**
   * The byte used to pad attribute values to a multiple of 4. RFC 8489 §14 lets it be any value
   * and receivers ignore it; it exists so tests can rebuild RFC 5769's samples (which pad with
   * spaces) byte for byte. Default 0.
   */
  padding?: number;
}

/** A fresh random 96-bit transaction id (RFC 8489 §5: uniformly and randomly chosen). */
export function newTransactionId(): Uint8Array {
  return new Uint8Array(randomBytes(TRANSACTION_ID_LENGTH));
}

/**
 * Cheap demultiplexing test (RFC 8489 §5, RFC 7983): the top two bits are zero, the length is a
 * multiple of 4 that matches the datagram, and the magic cookie is present.
 *
 * @example
 * socket.on('message', (datagram) => {
 *   if (isStunMessage(datagram)) handleStun(decodeStunMessage(datagram));
 * });
 */
export function isStunMessage(bytes: Uint8Array): boolean {
  if (bytes.length < HEADER_LENGTH) return false;
  const view = viewOf(bytes);
  if ((view.getUint8(0) & 0xc0) !== 0) return false;
  const length = view.getUint16(2);
  return (
    length % 4 === 0 &&
    length + HEADER_LENGTH === bytes.length &&
    view.getUint32(4) === MAGIC_COOKIE
  );
}

/**
 * Serializes a message; optionally appends MESSAGE-INTEGRITY and FINGERPRINT, computed over the
 * preceding bytes with the header length already covering them (RFC 8489 §14.5, §14.7).
 *
 * @example
 * const bytes = encodeStunMessage(
 *   { method: StunMethod.Binding, cls: StunClass.Request, transactionId: newTransactionId(), attributes: [] },
 *   { fingerprint: true },
 * );
 */
export function encodeStunMessage(message: StunMessage, options: EncodeStunOptions = {}): Buffer {
  if (message.transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new TypeError('"transactionId" must be 12 bytes');
  }
  if (!Number.isInteger(message.method) || message.method < 0 || message.method > 0xfff) {
    throw new RangeError('"method" must be a 12-bit integer');
  }
  const padding = options.padding ?? 0;
  if (!Number.isInteger(padding) || padding < 0 || padding > 0xff) {
    throw new RangeError('"padding" must be a byte value');
  }
  let bodyLength = 0;
  for (const attribute of message.attributes) {
    if (attribute.type === StunAttr.MessageIntegrity || attribute.type === StunAttr.Fingerprint) {
      throw new TypeError(
        'MESSAGE-INTEGRITY and FINGERPRINT are added by the "integrityKey" and "fingerprint" options',
      );
    }
    if (attribute.value.length > 0xffff)
      throw new RangeError('attribute value exceeds 65535 bytes');
    bodyLength += 4 + padded(attribute.value.length);
  }
  const integrityLength = options.integrityKey ? 24 : 0;
  const fingerprintLength = options.fingerprint ? 8 : 0;
  const total = HEADER_LENGTH + bodyLength + integrityLength + fingerprintLength;
  if (total - HEADER_LENGTH > 0xffff) throw new RangeError('message exceeds 65535 bytes');

  const out = Buffer.alloc(total, padding);
  out.writeUInt16BE(messageType(message.method, message.cls), 0);
  out.writeUInt32BE(MAGIC_COOKIE, 4);
  out.set(message.transactionId, 8);
  let offset = HEADER_LENGTH;
  for (const attribute of message.attributes) {
    out.writeUInt16BE(attribute.type, offset);
    out.writeUInt16BE(attribute.value.length, offset + 2);
    out.set(attribute.value, offset + 4);
    offset += 4 + padded(attribute.value.length);
  }
  if (options.integrityKey) {
    // §14.5: the HMAC covers the message up to the attribute, with a length field that already
    // counts MESSAGE-INTEGRITY (but not a FINGERPRINT that follows it).
    out.writeUInt16BE(offset + 24 - HEADER_LENGTH, 2);
    const mac = createHmac('sha1', options.integrityKey).update(out.subarray(0, offset)).digest();
    out.writeUInt16BE(StunAttr.MessageIntegrity, offset);
    out.writeUInt16BE(20, offset + 2);
    out.set(mac, offset + 4);
    offset += 24;
  }
  if (options.fingerprint) {
    out.writeUInt16BE(offset + 8 - HEADER_LENGTH, 2);
    const value = (crc32(out.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
    out.writeUInt16BE(StunAttr.Fingerprint, offset);
    out.writeUInt16BE(4, offset + 2);
    out.writeUInt32BE(value, offset + 4);
    offset += 8;
  }
  out.writeUInt16BE(offset - HEADER_LENGTH, 2);
  return out;
}

/**
 * Parses one STUN message. Throws {@link StunDecodeError} for anything that is not a well-formed
 * message, including a FINGERPRINT that does not match. Attributes after MESSAGE-INTEGRITY other
 * than FINGERPRINT are dropped, as RFC 8489 §14.5 says receivers must ignore them. Integrity is
 * not checked here: call `verifyMessageIntegrity()` with the key.
 *
 * @example
 * const message = decodeStunMessage(datagram);
 * const realm = getTextAttribute(message, StunAttr.Realm);
 */
export function decodeStunMessage(bytes: Uint8Array): StunMessage {
  if (bytes.length < HEADER_LENGTH) {
    throw new StunDecodeError('ERR_STUN_NOT_STUN', 'shorter than a STUN header');
  }
  const view = viewOf(bytes);
  const type = view.getUint16(0);
  if ((type & 0xc000) !== 0 || view.getUint32(4) !== MAGIC_COOKIE) {
    throw new StunDecodeError('ERR_STUN_NOT_STUN', 'no STUN magic cookie');
  }
  const length = view.getUint16(2);
  if (length % 4 !== 0 || length + HEADER_LENGTH !== bytes.length) {
    throw new StunDecodeError('ERR_STUN_LENGTH', 'the length field does not match the message');
  }
  const attributes: StunAttribute[] = [];
  let offset = HEADER_LENGTH;
  let afterIntegrity = false;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) {
      throw new StunDecodeError('ERR_STUN_ATTRIBUTE', 'truncated attribute header');
    }
    const attrType = view.getUint16(offset);
    const attrLength = view.getUint16(offset + 2);
    const end = offset + 4 + attrLength;
    if (end > bytes.length) {
      throw new StunDecodeError('ERR_STUN_ATTRIBUTE', 'attribute runs past the end of the message');
    }
    // Copies (not views): Buffer#slice would alias the datagram the caller may reuse.
    const value = new Uint8Array(bytes.subarray(offset + 4, end));
    if (attrType === StunAttr.Fingerprint) {
      // §14.7: FINGERPRINT is always last and covers everything before it.
      if (attrLength !== 4 || end !== bytes.length) {
        throw new StunDecodeError('ERR_STUN_FINGERPRINT', 'FINGERPRINT must be the last attribute');
      }
      if (!fingerprintMatches(bytes, offset)) {
        throw new StunDecodeError('ERR_STUN_FINGERPRINT', 'FINGERPRINT does not match');
      }
      attributes.push({ type: attrType, value });
    } else if (!afterIntegrity || attrType === StunAttr.MessageIntegritySha256) {
      attributes.push({ type: attrType, value });
    }
    if (attrType === StunAttr.MessageIntegrity) afterIntegrity = true;
    offset += 4 + padded(attrLength);
  }
  if (offset !== bytes.length) {
    throw new StunDecodeError('ERR_STUN_ATTRIBUTE', 'attribute padding runs past the end');
  }
  return {
    method: methodOf(type),
    cls: classOf(type),
    transactionId: new Uint8Array(bytes.subarray(8, 20)),
    attributes,
  };
}

/** The value of the first attribute of `type`, or `undefined`. */
export function getAttribute(message: StunMessage, type: number): Uint8Array | undefined {
  return message.attributes.find((a) => a.type === type)?.value;
}

/** RFC 8489 §14: values are padded to a multiple of 4 bytes. */
export function padded(length: number): number {
  return (length + 3) & ~3;
}

function fingerprintMatches(bytes: Uint8Array, offset: number): boolean {
  const view = viewOf(bytes);
  const expected = (crc32(bytes.subarray(0, offset)) ^ FINGERPRINT_XOR) >>> 0;
  return view.getUint32(offset + 4) === expected;
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
