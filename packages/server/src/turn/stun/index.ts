export {
  MAGIC_COOKIE,
  HEADER_LENGTH,
  TRANSACTION_ID_LENGTH,
  FINGERPRINT_XOR,
  TRANSPORT_UDP,
  StunMethod,
  StunClass,
  StunAttr,
  messageType,
  methodOf,
  classOf,
} from './constants.js';
export { crc32 } from './crc32.js';
export { StunDecodeError, type StunDecodeErrorCode } from './stun-error.js';
export {
  encodeStunMessage,
  decodeStunMessage,
  isStunMessage,
  newTransactionId,
  getAttribute,
  type StunAttribute,
  type StunMessage,
  type EncodeStunOptions,
} from './stun-message.js';
export { longTermKey, shortTermKey, verifyMessageIntegrity } from './integrity.js';
export {
  textAttribute,
  getTextAttribute,
  xorAddressAttribute,
  decodeXorAddress,
  getXorAddress,
  errorCodeAttribute,
  getErrorCode,
  uint32Attribute,
  getUint32,
  requestedTransportAttribute,
  type TransportAddress,
  type StunErrorCode,
} from './attributes.js';
