import {
  grantRoom,
  ACCESS_TOKEN_TYP,
  isOpaqueId,
  isPermission,
  isPlainObject,
  isRoomName,
  isTenantName,
  isTokenKind,
  isUserId,
  type AccessTokenClaims,
  type Permission,
  type RoomGrants,
} from '@callgate/protocol';
import { TokenError } from './token-error.js';
import { decodeJsonObject } from './verify-jws.js';

export interface ClaimValidationOptions {
  issuer: string;
  audience: string;
  /** Seconds since the epoch, from the injected clock. */
  now: number;
  clockToleranceSeconds: number;
  /** The access-token lifetime: the oldest `iat` accepted. */
  maxTokenAgeSeconds: number;
}

// jose's presence order (iss, aud, iat, then the required list reversed), so the first missing
// claim reported is the same one jose's jwtVerify would report.
const REQUIRED = ['iss', 'aud', 'iat', 'sid', 'tid', 'jti', 'sub', 'exp'] as const;

/**
 * The claim layer of the verification policy, run only on a payload whose signature verified
 * (RFC 8725 §3.1: claims are never read before the signature): `typ` `at+jwt` (RFC 9068 §4),
 * presence, `iss` and `aud`, `nbf`, `exp`, `iat` not older than the lifetime nor in the future
 * (RFC 7519 §4.1), all with bounded tolerance, then the shapes of Callgate's own claims.
 * Semantics follow jose's `jwtVerify`, with finite numbers required for the times.
 *
 * @example
 * ```ts
 * const claims = validateAccessTokenClaims(jws.header, jws.payload, { issuer, audience, now, ... });
 * ```
 */
export function validateAccessTokenClaims(
  header: Record<string, unknown>,
  payloadBytes: Uint8Array,
  options: ClaimValidationOptions,
): AccessTokenClaims {
  const p = decodeJsonObject(payloadBytes);
  if (p === undefined) throw new TokenError('token_invalid', 'ERR_JWT_INVALID');
  if (typeof header.typ !== 'string' || normalizeTyp(header.typ) !== normalizeTyp(ACCESS_TOKEN_TYP))
    throw claimFailed('typ', 'check_failed');
  const { iat, exp, nbf } = checkRegisteredClaims(p, REQUIRED, options);
  return toClaims(p, iat, exp, nbf);
}

export interface RegisteredClaimPolicy {
  issuer: string;
  audience: string;
  /** Seconds since the epoch. */
  now: number;
  clockToleranceSeconds: number;
  maxTokenAgeSeconds: number;
}

/**
 * The registered claims (RFC 7519 §4.1) every accepted token must pass, ours or an external
 * issuer's: the `required` members present; `iss` exact; `aud` ours (a string, or an array that
 * includes it); `nbf` not in the future, `exp` not past and `iat` neither in the future nor older
 * than `maxTokenAgeSeconds`, each within the tolerance. Expiry and age are `token_expired`,
 * everything else `token_invalid`.
 */
export function checkRegisteredClaims(
  p: Record<string, unknown>,
  required: readonly string[],
  policy: RegisteredClaimPolicy,
): { iat: number; exp: number; nbf: number | undefined } {
  for (const claim of required) if (!Object.hasOwn(p, claim)) throw claimFailed(claim, 'missing');
  if (p.iss !== policy.issuer) throw claimFailed('iss', 'check_failed');
  // An ID token's `aud` is the client id, never the resource's audience (catalogue B25).
  const aud = p.aud;
  if (!(aud === policy.audience || (Array.isArray(aud) && aud.includes(policy.audience))))
    throw claimFailed('aud', 'check_failed');
  const { now, clockToleranceSeconds: tolerance } = policy;
  const iat = numericDate(p, 'iat');
  const nbf = p.nbf === undefined ? undefined : numericDate(p, 'nbf');
  if (nbf !== undefined && nbf > now + tolerance) throw claimFailed('nbf', 'check_failed');
  const exp = numericDate(p, 'exp');
  if (exp <= now - tolerance)
    throw new TokenError('token_expired', '"exp" claim timestamp check failed');
  const age = now - iat;
  if (age - tolerance > policy.maxTokenAgeSeconds)
    throw new TokenError(
      'token_expired',
      '"iat" claim timestamp check failed (too far in the past)',
    );
  if (age < -tolerance) throw claimFailed('iat', 'check_failed');
  return { iat, exp, nbf };
}

export function claimFailed(
  claim: string,
  reason: 'missing' | 'check_failed' | 'invalid',
): TokenError {
  return new TokenError('token_invalid', `claim ${claim}: ${reason}`);
}

/** A NumericDate (RFC 7519 §2): a finite JSON number (`1e999` parses to Infinity). */
export function numericDate(p: Record<string, unknown>, claim: string): number {
  const v = p[claim];
  if (typeof v !== 'number' || !Number.isFinite(v)) throw claimFailed(claim, 'invalid');
  return v;
}

/** RFC 7515 §4.1.9: media types compare case-insensitively; `application/` may be omitted. */
export function normalizeTyp(value: string): string {
  const lower = value.toLowerCase();
  return lower.includes('/') ? lower : `application/${lower}`;
}

function toClaims(
  p: Record<string, unknown>,
  iat: number,
  exp: number,
  nbf: number | undefined,
): AccessTokenClaims {
  const bad = (claim: string) => new TokenError('token_invalid', `claim ${claim} is malformed`);
  if (!isUserId(p.sub)) throw bad('sub');
  if (!isTenantName(p.tid)) throw bad('tid');
  if (!isOpaqueId(p.sid)) throw bad('sid');
  if (!isOpaqueId(p.jti)) throw bad('jti');
  if (typeof p.iss !== 'string' || typeof p.aud !== 'string') throw bad('iss/aud');
  const kind = p.kind === undefined ? 'user' : p.kind;
  if (!isTokenKind(kind)) throw bad('kind');
  const rooms: RoomGrants = {};
  if (p.rooms !== undefined) {
    if (!isPlainObject(p.rooms)) throw bad('rooms');
    for (const [room, perms] of Object.entries(p.rooms)) {
      if (!isRoomName(room) || !Array.isArray(perms) || !perms.every(isPermission))
        throw bad('rooms');
      grantRoom(rooms, room, [...new Set(perms as Permission[])]);
    }
  }
  if (p.md !== undefined && !isPlainObject(p.md)) throw bad('md');
  const claims: AccessTokenClaims = {
    iss: p.iss,
    aud: p.aud,
    sub: p.sub,
    tid: p.tid,
    sid: p.sid,
    jti: p.jti,
    iat,
    nbf: nbf ?? iat,
    exp,
    rooms,
    kind,
  };
  if (p.md !== undefined) claims.md = p.md as Record<string, unknown>;
  return claims;
}
