export { CloseCode, closeAction, type CloseAction } from './close-codes.js';
export {
  ErrorCodes,
  CallgateError,
  isErrorCode,
  type ErrorCode,
  type ErrorBody,
} from './errors.js';
export {
  PERMISSIONS,
  TOKEN_KINDS,
  MAX_METADATA_BYTES,
  MAX_ROOMS_PER_TOKEN,
  isRoomName,
  isUserId,
  isOpaqueId,
  isTenantName,
  isPermission,
  isTokenKind,
  isPlainObject,
  utf8Length,
  type Permission,
  type TokenKind,
  type RoomGrants,
} from './identity.js';
export { ACCESS_TOKEN_TYP, type AccessTokenClaims } from './claims.js';
