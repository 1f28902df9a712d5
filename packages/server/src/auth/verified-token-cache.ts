import type { Keyring } from './keyring.js';
import type { RevocationList } from './revocation-list.js';
import type { Clock } from '../util/clock.js';
import { TokenError } from './token-error.js';
import type { TokenVerifier, VerifiedAccessToken } from './verify-access-token.js';

export interface VerifiedTokenCacheOptions {
  keyring: Keyring;
  revocations: RevocationList;
  clock: Clock;
  /** The server's own `iss`: only its tokens are cached (never an external issuer's). */
  issuer: () => string;
  accessTokenTtlSeconds: number;
  /** Entries kept; the oldest is dropped past it. */
  maxEntries?: number;
}

interface Entry {
  verified: VerifiedAccessToken;
  /** Until when (ms) the entry may answer: the earlier of `exp` and `iat` + lifetime. */
  untilMs: number;
  issuer: string;
}

/**
 * Remembers tokens that passed the full verification policy, so the same token presented
 * again (the connect and the TURN request of one client, a reconnect, repeated credential
 * fetches) skips the signature and claim checks, which cost most of a request (an RS256
 * verification alone is ~30 µs). This is the verified-JWT cache of API gateways (Envoy's
 * `jwt_cache_config`), with the checks that can change while a token is cached done on every
 * hit:
 *
 * - the key is the exact token string, so only a byte-identical token hits;
 * - an entry answers only before the token's `exp` and before `iat` + the access-token
 *   lifetime (no tolerance: past either, the full policy decides and reports the code);
 * - the revocation list is consulted on every hit (`token_revoked`, as the full path);
 * - the signing key must still be in the keyring (`callgate keys revoke` takes effect at once),
 *   and the server's issuer must be the one the token was checked against;
 * - only the server's own tokens are cached, never an external issuer's (their keys and
 *   tenants are checked remotely on every use), and failures are never cached.
 *
 * Bounded (`maxEntries`, oldest dropped first); entries are shared, so the claims of a cached
 * token are one object for all its connections.
 *
 * @example
 * ```ts
 * const verifyToken = cacheVerifiedTokens(createTokenVerifier(...), { keyring, revocations, clock, issuer, accessTokenTtlSeconds: 300 });
 * ```
 */
export function cacheVerifiedTokens(
  verify: TokenVerifier,
  options: VerifiedTokenCacheOptions,
): TokenVerifier {
  const max = options.maxEntries ?? 4096;
  const entries = new Map<string, Entry>();

  /** The cached result for `token`, if one may still answer (revocation checked); else undefined. */
  const lookup = (token: string | undefined | null): VerifiedAccessToken | undefined => {
    if (typeof token !== 'string') return undefined;
    const e = entries.get(token);
    if (e === undefined) return undefined;
    const c = e.verified.claims;
    if (
      options.clock.now() < e.untilMs &&
      e.issuer === options.issuer() &&
      options.keyring.verificationKey(e.verified.kid) !== undefined
    ) {
      if (options.revocations.isRevoked(c.tid, c.sid, c.jti))
        throw new TokenError('token_revoked', 'session or token revoked');
      return e.verified;
    }
    entries.delete(token);
    return undefined;
  };
  /** Remembers a token that passed the full policy, if it is the server's own. */
  const remember = (
    token: string | undefined | null,
    verified: VerifiedAccessToken,
  ): VerifiedAccessToken => {
    const issuer = options.issuer();
    const c = verified.claims;
    if (typeof token === 'string' && c.iss === issuer) {
      if (entries.size >= max) entries.delete(entries.keys().next().value as string);
      entries.set(token, {
        verified,
        untilMs: Math.min(c.exp, c.iat + options.accessTokenTtlSeconds) * 1000,
        issuer,
      });
    }
    return verified;
  };

  const cached: TokenVerifier = async function verifyWithCache(token) {
    return lookup(token) ?? remember(token, await verify(token));
  };
  const now = verify.now;
  if (now !== undefined)
    cached.now = (token) => {
      const hit = lookup(token);
      if (hit !== undefined) return hit;
      const verified = now(token);
      return verified === undefined ? undefined : remember(token, verified);
    };
  return cached;
}
