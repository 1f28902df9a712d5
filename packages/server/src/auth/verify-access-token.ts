import { jwtVerify, errors as joseErrors, type JWTPayload } from 'jose';
import {
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
import type { Keyring } from './keyring.js';
import type { RevocationList } from './revocation-list.js';
import type { Clock } from '../util/clock.js';
import { TokenError } from './token-error.js';

export interface TokenVerifierOptions {
  keyring: Keyring;
  revocations: RevocationList;
  clock: Clock;
  /** The expected/minted `iss`; a function when it is known only once the server listens. */
  issuer: string | (() => string);
  audience: string;
  allowedAlgorithms: readonly string[];
  accessTokenTtlSeconds: number;
  clockToleranceSeconds: number;
  maxTokenBytes: number;
}

export interface VerifiedAccessToken {
  claims: AccessTokenClaims;
  kid: string;
  alg: string;
}

export type TokenVerifier = (token: string | undefined | null) => Promise<VerifiedAccessToken>;

// Compact JWS: three base64url segments, no padding, nothing else (RFC 7515 §7.1). Anything with
// `{`, `"`, whitespace or a fifth segment (JWE) is refused before any crypto (catalogue A12-A14).
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// Header members that would point us at key material we do not control (RFC 8725 §3.10).
const FORBIDDEN_HEADER_MEMBERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;
const HS_OR_NONE = /^(none|hs\d+)$/i;

/**
 * Creates the one verification policy of design.md, used by every place that accepts an access
 * token (HTTP, the signaling handshake and refresh, the CLI's `verify`).
 *
 * Order: presence → length cap → compact format → header (alg on the asymmetric allow-list, `typ`
 * `at+jwt`, string `kid`, no key-carrying members) → key by `kid` from our keyring only, bound to
 * its algorithm → signature (jose, before any claim is read, RFC 8725 §3.1) → `iss`, `aud`,
 * `exp`, `nbf`, `iat` age (≤ lifetime) with bounded tolerance → claim shapes → revocation.
 *
 * @example
 * ```ts
 * const verify = createTokenVerifier({ keyring, revocations, clock, issuer, audience: 'callgate', ... });
 * const { claims } = await verify(token); // throws TokenError with code token_expired, ...
 * ```
 */
export function createTokenVerifier(options: TokenVerifierOptions): TokenVerifier {
  if (options.clockToleranceSeconds > 30)
    throw new RangeError('"clockToleranceSeconds" must be at most 30');
  for (const a of options.allowedAlgorithms)
    if (HS_OR_NONE.test(a)) throw new TypeError(`"allowedAlgorithms" must be asymmetric; got ${a}`);
  const allowed = new Set(options.allowedAlgorithms);

  return async function verifyAccessToken(token) {
    if (token === undefined || token === null || token === '')
      throw new TokenError('token_missing', 'no token');
    if (typeof token !== 'string') throw new TokenError('token_malformed', 'not a string');
    if (token.length > options.maxTokenBytes)
      throw new TokenError('token_malformed', 'token too long');
    if (!COMPACT_JWS.test(token)) throw new TokenError('token_malformed', 'not a compact JWS');
    if (!token.split('.').every(isCanonicalBase64url))
      throw new TokenError('token_malformed', 'not canonical base64url');

    const header = decodeSegment(token.slice(0, token.indexOf('.')));
    if (header === undefined)
      throw new TokenError('token_malformed', 'header is not a JSON object');
    const alg = header.alg;
    if (typeof alg !== 'string' || !allowed.has(alg))
      throw new TokenError('token_invalid', 'algorithm not allowed');
    for (const m of FORBIDDEN_HEADER_MEMBERS)
      if (m in header) throw new TokenError('token_invalid', `header member ${m} not accepted`);
    const kid = header.kid;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128)
      throw new TokenError('token_invalid', 'kid missing or not a string');
    const key = options.keyring.verificationKey(kid);
    if (key === undefined) throw new TokenError('token_invalid', 'unknown kid');
    // One key, one algorithm (RFC 8725 §3.1): an RS256 key never verifies an ES256 header.
    if (key.alg !== alg) throw new TokenError('token_invalid', 'algorithm does not match the key');

    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key.key, {
        algorithms: [key.alg],
        issuer: typeof options.issuer === 'string' ? options.issuer : options.issuer(),
        audience: options.audience,
        typ: ACCESS_TOKEN_TYP,
        requiredClaims: ['exp', 'iat', 'sub', 'jti', 'tid', 'sid'],
        maxTokenAge: options.accessTokenTtlSeconds,
        clockTolerance: options.clockToleranceSeconds,
        currentDate: new Date(options.clock.now()),
      }));
    } catch (err) {
      throw mapJoseError(err);
    }

    const claims = toClaims(payload);
    if (options.revocations.isRevoked(claims.tid, claims.sid, claims.jti))
      throw new TokenError('token_revoked', 'session or token revoked');
    return { claims, kid, alg };
  };
}

/**
 * True when the segment is the one canonical unpadded base64url form of its bytes (RFC 7515 §2,
 * RFC 4648 §3.5). Decoders ignore non-zero pad bits and a dangling sixth character, so without
 * this check several distinct strings would verify as the same signed token (catalogue A14).
 */
function isCanonicalBase64url(segment: string): boolean {
  return Buffer.from(segment, 'base64url').toString('base64url') === segment;
}

function decodeSegment(segment: string): Record<string, unknown> | undefined {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(
      Buffer.from(segment, 'base64url'),
    );
    const v = JSON.parse(text) as unknown;
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}

function mapJoseError(err: unknown): TokenError {
  if (err instanceof joseErrors.JWTExpired)
    return new TokenError('token_expired', err.message, { cause: err });
  if (err instanceof joseErrors.JWTClaimValidationFailed)
    return new TokenError('token_invalid', `claim ${err.claim}: ${err.reason}`, { cause: err });
  if (err instanceof joseErrors.JWSSignatureVerificationFailed)
    return new TokenError('token_invalid', 'signature verification failed', { cause: err });
  if (err instanceof joseErrors.JOSEError)
    return new TokenError('token_invalid', err.code, { cause: err });
  return new TokenError('token_invalid', 'verification failed', { cause: err });
}

function toClaims(p: JWTPayload): AccessTokenClaims {
  const bad = (claim: string) => new TokenError('token_invalid', `claim ${claim} is malformed`);
  if (!isUserId(p.sub)) throw bad('sub');
  if (!isTenantName(p.tid)) throw bad('tid');
  if (!isOpaqueId(p.sid)) throw bad('sid');
  if (!isOpaqueId(p.jti)) throw bad('jti');
  if (typeof p.iat !== 'number' || typeof p.exp !== 'number') throw bad('iat/exp');
  if (typeof p.iss !== 'string' || typeof p.aud !== 'string') throw bad('iss/aud');
  const kind = p.kind === undefined ? 'user' : p.kind;
  if (!isTokenKind(kind)) throw bad('kind');
  const rooms: RoomGrants = {};
  if (p.rooms !== undefined) {
    if (!isPlainObject(p.rooms)) throw bad('rooms');
    for (const [room, perms] of Object.entries(p.rooms)) {
      if (!isRoomName(room) || !Array.isArray(perms) || !perms.every(isPermission))
        throw bad('rooms');
      rooms[room] = [...new Set(perms as Permission[])];
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
    iat: p.iat,
    nbf: typeof p.nbf === 'number' ? p.nbf : p.iat,
    exp: p.exp,
    rooms,
    kind,
  };
  if (p.md !== undefined) claims.md = p.md as Record<string, unknown>;
  return claims;
}
