/**
 * STUN/TURN wire constants: RFC 8489 (STUN), RFC 5766/8656 (TURN).
 */

/** RFC 8489 §5: the fixed magic cookie in bytes 4..7 of every STUN message. */
export const MAGIC_COOKIE = 0x2112a442;

/** RFC 8489 §5: the fixed header is 20 bytes (type, length, cookie, 96-bit transaction id). */
export const HEADER_LENGTH = 20;

/** RFC 8489 §5: the transaction id is 96 bits. */
export const TRANSACTION_ID_LENGTH = 12;

/** RFC 8489 §14.7: FINGERPRINT is CRC-32 of the message XOR this value ("STUN"). */
export const FINGERPRINT_XOR = 0x5354554e;

/** Methods (RFC 8489 §18.2, RFC 5766 §13). */
export const StunMethod = {
  Binding: 0x001,
  Allocate: 0x003,
  Refresh: 0x004,
  Send: 0x006,
  Data: 0x007,
  CreatePermission: 0x008,
  ChannelBind: 0x009,
} as const;
export type StunMethod = (typeof StunMethod)[keyof typeof StunMethod];

/** Message classes (RFC 8489 §5: the C1/C0 bits of the message type). */
export const StunClass = {
  Request: 0b00,
  Indication: 0b01,
  SuccessResponse: 0b10,
  ErrorResponse: 0b11,
} as const;
export type StunClass = (typeof StunClass)[keyof typeof StunClass];

/** Attribute types used by Callgate (RFC 8489 §18.3, RFC 5766 §14). */
export const StunAttr = {
  MappedAddress: 0x0001,
  Username: 0x0006,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  UnknownAttributes: 0x000a,
  ChannelNumber: 0x000c,
  Lifetime: 0x000d,
  XorPeerAddress: 0x0012,
  Data: 0x0013,
  Realm: 0x0014,
  Nonce: 0x0015,
  XorRelayedAddress: 0x0016,
  RequestedTransport: 0x0019,
  XorMappedAddress: 0x0020,
  MessageIntegritySha256: 0x001c,
  Software: 0x8022,
  Fingerprint: 0x8028,
} as const;
export type StunAttr = (typeof StunAttr)[keyof typeof StunAttr];

/** RFC 5766 §14.7: REQUESTED-TRANSPORT protocol number for UDP (the only one RFC 5766 defines). */
export const TRANSPORT_UDP = 17;

/** RFC 8489 §5: the 14-bit message type interleaves the 12-bit method with the 2 class bits. */
export function messageType(method: number, cls: StunClass): number {
  return (
    (method & 0x000f) |
    ((method & 0x0070) << 1) |
    ((method & 0x0f80) << 2) |
    ((cls & 0b01) << 4) |
    ((cls & 0b10) << 7)
  );
}

/** The method encoded in a message type (RFC 8489 §5). */
export function methodOf(type: number): number {
  return (type & 0x000f) | ((type & 0x00e0) >> 1) | ((type & 0x3e00) >> 2);
}

/** The class encoded in a message type (RFC 8489 §5). */
export function classOf(type: number): StunClass {
  return (((type >> 4) & 0b01) | ((type >> 7) & 0b10)) as StunClass;
}
