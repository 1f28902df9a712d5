import type { AccessTokenClaims } from '@callgate/protocol';
import type { Keyring } from './keyring.js';
import type { RevocationList } from './revocation-list.js';
import { nowSeconds, type Clock } from '../util/clock.js';
import { TokenError } from './token-error.js';
import { verifyCompactJws } from './verify-jws.js';
import { validateAccessTokenClaims } from './validate-access-token-claims.js';

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

const HS_OR_NONE = /^(none|hs\d+)$/i;

/**
 * Creates the one verification policy of design.md, used by every place that accepts an access
 * token (HTTP, the signaling handshake and refresh, the CLI's `verify`).
 *
 * Two layers, then revocation:
 * 1. {@link verifyCompactJws} — presence → length cap → compact format → header (alg on the
 *    asymmetric allow-list, string `kid`, no key-carrying members) → key by `kid` from our
 *    keyring only, bound to its algorithm → signature (before any claim is read, RFC 8725 §3.1).
 * 2. {@link validateAccessTokenClaims} — `typ` `at+jwt`, `iss`, `aud`, `exp`, `nbf`, `iat` age
 *    (≤ lifetime) with bounded tolerance → claim shapes.
 * 3. The session, token and tenant are not revoked.
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
    const jws = await verifyCompactJws(token, {
      allowedAlgorithms: allowed,
      maxTokenBytes: options.maxTokenBytes,
      resolveKey: (kid) => options.keyring.verificationKey(kid),
    });
    const claims = validateAccessTokenClaims(jws.header, jws.payload, {
      issuer: typeof options.issuer === 'string' ? options.issuer : options.issuer(),
      audience: options.audience,
      now: nowSeconds(options.clock),
      clockToleranceSeconds: options.clockToleranceSeconds,
      maxTokenAgeSeconds: options.accessTokenTtlSeconds,
    });
    if (options.revocations.isRevoked(claims.tid, claims.sid, claims.jti))
      throw new TokenError('token_revoked', 'session or token revoked');
    return { claims, kid: jws.kid, alg: jws.alg };
  };
}
