import { createHash } from 'node:crypto';
import {
  grantRoom,
  MAX_METADATA_BYTES,
  MAX_ROOMS_PER_TOKEN,
  isOpaqueId,
  isPermission,
  isPlainObject,
  isRoomName,
  isTenantName,
  isUserId,
  utf8Length,
  type AccessTokenClaims,
  type Permission,
  type RoomGrants,
} from '@callgate/protocol';
import type { ClaimPath, TrustedIssuerConfig } from '../config/trusted-issuers.js';
import { TokenError } from './token-error.js';
import { decodeJsonObject } from './verify-jws.js';
import {
  checkRegisteredClaims,
  claimFailed,
  normalizeTyp,
} from './validate-access-token-claims.js';

export interface ExternalClaimOptions {
  /** Seconds since the epoch, from the injected clock. */
  now: number;
  clockToleranceSeconds: number;
  /** The whole compact token, only to derive a `jti` when the token has none. */
  token: string;
}

// Without a required `typ`, only the generic JWT types pass: an explicitly typed token of
// another kind (`logout+jwt`, `dpop+jwt`, `secevent+jwt`, `refresh+jwt`) is never an access
// token (RFC 8725 §3.11).
const GENERIC_TYPS = new Set(['application/jwt', 'application/at+jwt']);
// jose's presence order (iss, aud, iat, then the required list reversed).
const REQUIRED = ['iss', 'aud', 'iat', 'sub', 'exp'] as const;

/**
 * The claim layer for a token from a trusted external issuer, run only after its signature
 * verified against that issuer's keys: `typ`, `iss`, `aud`, `exp`, `nbf`, `iat` age (as
 * {@link validateAccessTokenClaims}, with the issuer's `maxTokenAgeSeconds`), then the
 * issuer's mapping into Callgate's claims.
 *
 * Only the mapping grants anything (catalogue B27, RFC 8725 §3.10, deny by default): the
 * token's own `tid`, `rooms`, `kind`, `scope`, `role` or `md` count only when the mapping names
 * them. Derived values:
 * - `tid`: the fixed tenant, or `prefix` + the tenant claim (must be a tenant name).
 * - `sid`: the session claim (default `sid`) when it is an opaque id, a hash of it otherwise;
 *   without one, a hash of `iss`, `sub` and `auth_time` (stable across the tokens of one
 *   login, so in-band refresh and resume keep working; `iat` would change with every token).
 * - `jti`: the token's `jti` when it is an opaque id, else a hash of it, else of the token.
 * - `exp`: never later than `iat + maxTokenAgeSeconds`, so a day-long provider token does not
 *   keep a signaling connection for a day.
 *
 * @example
 * ```ts
 * const claims = mapExternalClaims(jws.header, jws.payload, issuerConfig, { now, clockToleranceSeconds: 5, token });
 * ```
 */
export function mapExternalClaims(
  header: Record<string, unknown>,
  payloadBytes: Uint8Array,
  config: TrustedIssuerConfig,
  options: ExternalClaimOptions,
): AccessTokenClaims {
  const p = decodeJsonObject(payloadBytes);
  if (p === undefined) throw new TokenError('token_invalid', 'ERR_JWT_INVALID');
  const typ = header.typ;
  if (config.typ !== undefined) {
    if (typeof typ !== 'string' || normalizeTyp(typ) !== normalizeTyp(config.typ))
      throw claimFailed('typ', 'check_failed');
  } else if (typ !== undefined && (typeof typ !== 'string' || !GENERIC_TYPS.has(normalizeTyp(typ))))
    throw claimFailed('typ', 'check_failed');
  const { iat, exp, nbf } = checkRegisteredClaims(p, REQUIRED, {
    issuer: config.issuer,
    audience: config.audience,
    now: options.now,
    clockToleranceSeconds: options.clockToleranceSeconds,
    maxTokenAgeSeconds: config.maxTokenAgeSeconds,
  });

  const bad = (claim: string) => new TokenError('token_invalid', `claim ${claim} is malformed`);
  if (!isUserId(p.sub)) throw bad('sub');
  const sub = p.sub;
  const claims: AccessTokenClaims = {
    iss: config.issuer,
    aud: config.audience,
    sub,
    tid: mapTenant(p, config),
    sid: mapSessionId(p, config, sub),
    jti: mapTokenId(p, config, options.token),
    iat,
    nbf: nbf ?? iat,
    exp: Math.min(exp, iat + config.maxTokenAgeSeconds),
    rooms: mapRooms(p, config),
    kind: config.kind,
  };
  const md = mapMetadata(p, config);
  if (md !== undefined) claims.md = md;
  return claims;
}

/** The value at a claim path, own properties only (`constructor` is not a claim). */
function claimAt(p: Record<string, unknown>, path: ClaimPath): unknown {
  let v: unknown = p;
  for (const segment of path) {
    if (!isPlainObject(v) || !Object.hasOwn(v, segment)) return undefined;
    v = v[segment];
  }
  return v;
}

function claimName(path: ClaimPath): string {
  return path.join('.');
}

function mapTenant(p: Record<string, unknown>, config: TrustedIssuerConfig): string {
  const t = config.tenant;
  if (t.from === 'value') return t.value;
  const v = claimAt(p, t.claim);
  if (v === undefined) throw claimFailed(claimName(t.claim), 'missing');
  // An empty value would map to the bare prefix: never a tenant.
  const tenant = typeof v === 'string' && v !== '' ? t.prefix + v : undefined;
  if (!isTenantName(tenant))
    throw new TokenError('token_invalid', `claim ${claimName(t.claim)} is not a tenant name`);
  return tenant;
}

/** 22 base64url characters (132 bits) of SHA-256 over the parts: a stable opaque id. */
function derivedId(...parts: string[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('base64url').slice(0, 22);
}

function mapSessionId(
  p: Record<string, unknown>,
  config: TrustedIssuerConfig,
  sub: string,
): string {
  const v = claimAt(p, config.sessionIdClaim);
  if (v !== undefined) {
    if (typeof v !== 'string' || v === '')
      throw claimFailed(claimName(config.sessionIdClaim), 'invalid');
    return isOpaqueId(v) ? v : derivedId('sid', config.issuer, v);
  }
  const authTime = typeof p.auth_time === 'number' ? String(p.auth_time) : '';
  return derivedId('sub', config.issuer, sub, authTime);
}

function mapTokenId(
  p: Record<string, unknown>,
  config: TrustedIssuerConfig,
  token: string,
): string {
  const v = p.jti;
  if (v === undefined) return derivedId('token', token);
  if (typeof v !== 'string' || v === '') throw claimFailed('jti', 'invalid');
  return isOpaqueId(v) ? v : derivedId('jti', config.issuer, v);
}

function mapRooms(p: Record<string, unknown>, config: TrustedIssuerConfig): RoomGrants {
  const r = config.rooms;
  if (r.from === 'none') return {};
  if (r.from === 'grant') {
    const out: RoomGrants = {};
    for (const [room, perms] of Object.entries(r.grant)) grantRoom(out, room, [...perms]);
    return out;
  }
  const v = claimAt(p, r.claim);
  if (v === undefined) return {};
  const name = claimName(r.claim);
  const bad = (why: string) => new TokenError('token_invalid', `claim ${name} ${why}`);
  const out: RoomGrants = {};
  if (r.from === 'claim-map') {
    // Callgate's own shape, checked as strictly as a Callgate token's `rooms`.
    if (!isPlainObject(v)) throw bad('is not a { room: [permissions] } map');
    const entries = Object.entries(v);
    if (entries.length > MAX_ROOMS_PER_TOKEN) throw bad(`names over ${MAX_ROOMS_PER_TOKEN} rooms`);
    for (const [room, perms] of entries) {
      if (!isRoomName(room) || !Array.isArray(perms) || !perms.every(isPermission))
        throw bad('is not a { room: [permissions] } map');
      grantRoom(out, room, [...new Set(perms as Permission[])]);
    }
    return out;
  }
  // A list of room names (an array, or a space-separated string like OAuth's `scope`). Entries
  // that are not room names, or lack the prefix, grant nothing: `room:*` is not a wildcard,
  // just not a room name.
  const items = typeof v === 'string' ? v.split(' ') : v;
  if (!Array.isArray(items)) throw bad('is not a list of room names');
  for (const item of items) {
    if (typeof item !== 'string' || !item.startsWith(r.prefix)) continue;
    const room = item.slice(r.prefix.length);
    if (isRoomName(room)) grantRoom(out, room, [...r.permissions]);
  }
  if (Object.keys(out).length > MAX_ROOMS_PER_TOKEN)
    throw bad(`names over ${MAX_ROOMS_PER_TOKEN} rooms`);
  return out;
}

function mapMetadata(
  p: Record<string, unknown>,
  config: TrustedIssuerConfig,
): Record<string, unknown> | undefined {
  if (config.metadata.length === 0) return undefined;
  const md: Record<string, unknown> = {};
  for (const m of config.metadata) {
    const v = claimAt(p, m.claim);
    if (v !== undefined) md[m.as] = v;
  }
  if (Object.keys(md).length === 0) return undefined;
  if (utf8Length(JSON.stringify(md)) > MAX_METADATA_BYTES)
    throw new TokenError('token_invalid', `mapped metadata over ${MAX_METADATA_BYTES} bytes`);
  return md;
}
