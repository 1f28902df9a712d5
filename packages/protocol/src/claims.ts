import type { RoomGrants, TokenKind } from './identity.js';

/** The JWS header `typ` of every Callgate access token (RFC 9068 §2.1). */
export const ACCESS_TOKEN_TYP = 'at+jwt';

/**
 * The claims of a Callgate access token (design.md "Access token").
 * Times are seconds since the epoch.
 */
export interface AccessTokenClaims {
  iss: string;
  aud: string;
  sub: string;
  tid: string;
  sid: string;
  jti: string;
  iat: number;
  nbf: number;
  exp: number;
  rooms: RoomGrants;
  md?: Record<string, unknown>;
  kind: TokenKind;
}
