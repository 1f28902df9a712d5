/**
 * Typed values of the attributes Callgate reads and writes (RFC 8489 §14, RFC 5766 §14).
 */
import { isIP } from 'node:net';
import { MAGIC_COOKIE, StunAttr, TRANSACTION_ID_LENGTH } from './constants.js';
import { StunDecodeError } from './stun-error.js';
import { getAttribute } from './stun-message.js';
import type { StunAttribute, StunMessage } from './stun-message.js';

/** A transport address as Node's `dgram` reports it. */
export interface TransportAddress {
  readonly family: 'IPv4' | 'IPv6';
  readonly address: string;
  readonly port: number;
}

/** The value of ERROR-CODE (RFC 8489 §14.8). */
export interface StunErrorCode {
  readonly code: number;
  readonly reason: string;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { fatal: false });

/**
 * A UTF-8 text attribute: USERNAME, REALM, NONCE, SOFTWARE (RFC 8489 §14.3, §14.9, §14.10, §14.14).
 *
 * @example
 * textAttribute(StunAttr.Software, 'callgate');
 */
export function textAttribute(type: number, text: string): StunAttribute {
  return { type, value: encoder.encode(text) };
}

/** The first text attribute of `type` decoded as UTF-8, or `undefined`. */
export function getTextAttribute(message: StunMessage, type: number): string | undefined {
  const value = getAttribute(message, type);
  return value === undefined ? undefined : decoder.decode(value);
}

/**
 * An XOR-MAPPED-ADDRESS style attribute (RFC 8489 §14.2): XOR-MAPPED-ADDRESS,
 * XOR-RELAYED-ADDRESS and XOR-PEER-ADDRESS (RFC 5766 §14.3, §14.5) share the format.
 *
 * @example
 * xorAddressAttribute(StunAttr.XorPeerAddress, { family: 'IPv4', address: '192.0.2.1', port: 9 }, tid);
 */
export function xorAddressAttribute(
  type: number,
  address: TransportAddress,
  transactionId: Uint8Array,
): StunAttribute {
  const kind = isIP(address.address);
  if (kind === 0) throw new TypeError('"address" must be an IPv4 or IPv6 literal');
  if (!Number.isInteger(address.port) || address.port < 0 || address.port > 0xffff) {
    throw new RangeError('"port" must be 0..65535');
  }
  const raw = kind === 4 ? ipv4Bytes(address.address) : ipv6Bytes(address.address);
  const value = new Uint8Array(4 + raw.length);
  const view = new DataView(value.buffer);
  view.setUint8(1, kind === 4 ? 0x01 : 0x02);
  view.setUint16(2, address.port ^ (MAGIC_COOKIE >>> 16));
  const mask = xorMask(transactionId);
  for (let i = 0; i < raw.length; i++) value[4 + i] = (raw[i] as number) ^ (mask[i] as number);
  return { type, value };
}

/**
 * Decodes an XOR-*-ADDRESS value. Throws {@link StunDecodeError} when malformed.
 *
 * @example
 * const relayed = decodeXorAddress(getAttribute(response, StunAttr.XorRelayedAddress)!, tid);
 */
export function decodeXorAddress(value: Uint8Array, transactionId: Uint8Array): TransportAddress {
  const family = value[1];
  const length = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (length === 0 || value.length !== 4 + length) {
    throw new StunDecodeError('ERR_STUN_ATTRIBUTE', 'malformed XOR address');
  }
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength);
  const port = view.getUint16(2) ^ (MAGIC_COOKIE >>> 16);
  const mask = xorMask(transactionId);
  const raw = new Uint8Array(length);
  for (let i = 0; i < length; i++) raw[i] = (value[4 + i] as number) ^ (mask[i] as number);
  return family === 0x01
    ? { family: 'IPv4', address: Array.from(raw).join('.'), port }
    : { family: 'IPv6', address: formatIpv6(raw), port };
}

/** The first XOR-*-ADDRESS attribute of `type`, decoded, or `undefined`. */
export function getXorAddress(message: StunMessage, type: number): TransportAddress | undefined {
  const value = getAttribute(message, type);
  return value === undefined ? undefined : decodeXorAddress(value, message.transactionId);
}

/**
 * ERROR-CODE (RFC 8489 §14.8): class (hundreds) and number, then a UTF-8 reason phrase.
 *
 * @example
 * errorCodeAttribute(401, 'Unauthorized');
 */
export function errorCodeAttribute(code: number, reason: string): StunAttribute {
  if (!Number.isInteger(code) || code < 300 || code > 699) {
    throw new RangeError('"code" must be 300..699');
  }
  const text = encoder.encode(reason);
  const value = new Uint8Array(4 + text.length);
  value[2] = Math.floor(code / 100);
  value[3] = code % 100;
  value.set(text, 4);
  return { type: StunAttr.ErrorCode, value };
}

/** The ERROR-CODE of a message, or `undefined`. Throws {@link StunDecodeError} when malformed. */
export function getErrorCode(message: StunMessage): StunErrorCode | undefined {
  const value = getAttribute(message, StunAttr.ErrorCode);
  if (value === undefined) return undefined;
  if (value.length < 4) throw new StunDecodeError('ERR_STUN_ATTRIBUTE', 'malformed ERROR-CODE');
  const code = ((value[2] as number) & 0x07) * 100 + (value[3] as number);
  return { code, reason: decoder.decode(value.subarray(4)) };
}

/**
 * A 32-bit unsigned attribute: LIFETIME (RFC 5766 §14.2) in seconds.
 *
 * @example
 * uint32Attribute(StunAttr.Lifetime, 0); // release an allocation (RFC 5766 §7)
 */
export function uint32Attribute(type: number, n: number): StunAttribute {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError('value must be uint32');
  const value = new Uint8Array(4);
  new DataView(value.buffer).setUint32(0, n);
  return { type, value };
}

/** The first 32-bit attribute of `type`, or `undefined`. */
export function getUint32(message: StunMessage, type: number): number | undefined {
  const value = getAttribute(message, type);
  if (value === undefined) return undefined;
  if (value.length !== 4) throw new StunDecodeError('ERR_STUN_ATTRIBUTE', 'malformed uint32');
  return new DataView(value.buffer, value.byteOffset, 4).getUint32(0);
}

/**
 * REQUESTED-TRANSPORT (RFC 5766 §14.7): the protocol number and three reserved bytes.
 *
 * @example
 * requestedTransportAttribute(TRANSPORT_UDP);
 */
export function requestedTransportAttribute(protocol: number): StunAttribute {
  return { type: StunAttr.RequestedTransport, value: Uint8Array.of(protocol, 0, 0, 0) };
}

/** RFC 8489 §14.2: the address is XORed with the magic cookie followed by the transaction id. */
function xorMask(transactionId: Uint8Array): Uint8Array {
  if (transactionId.length !== TRANSACTION_ID_LENGTH) {
    throw new TypeError('"transactionId" must be 12 bytes');
  }
  const mask = new Uint8Array(16);
  new DataView(mask.buffer).setUint32(0, MAGIC_COOKIE);
  mask.set(transactionId, 4);
  return mask;
}

function ipv4Bytes(address: string): Uint8Array {
  return Uint8Array.from(address.split('.').map(Number));
}

function ipv6Bytes(address: string): Uint8Array {
  // Expand an embedded dotted quad ("::ffff:192.0.2.1") and the "::" run into 8 groups.
  let text = address.replace(/%.*$/, '');
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (quad?.[1]) {
    const b = ipv4Bytes(quad[1]);
    const hex = (i: number, j: number) => (((b[i] as number) << 8) | (b[j] as number)).toString(16);
    text = `${text.slice(0, -quad[1].length)}${hex(0, 1)}:${hex(2, 3)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups =
    tail === undefined
      ? left
      : [...left, ...Array(8 - left.length - right.length).fill('0'), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g: string, i: number) => {
    const n = parseInt(g, 16);
    out[2 * i] = n >> 8;
    out[2 * i + 1] = n & 0xff;
  });
  return out;
}

/** RFC 5952 text form: lower case, leading zeros dropped, the longest zero run as "::". */
function formatIpv6(raw: Uint8Array): string {
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((raw[i] as number) << 8) | (raw[i + 1] as number));
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}
