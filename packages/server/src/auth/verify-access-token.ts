import type { AccessTokenClaims } from '@callgate/protocol';
import type { Keyring } from './keyring.js';
import type { RevocationList } from './revocation-list.js';
import { nowSeconds, type Clock } from '../util/clock.js';
import { TokenError } from './token-error.js';
import { decodeJsonObject, verifyCompactJws, verifyCompactJwsNow } from './verify-jws.js';
import { validateAccessTokenClaims } from './validate-access-token-claims.js';
import { mapExternalClaims } from './map-external-claims.js';
import { KeySetUnavailableError } from './remote-key-set.js';
import type { ExternalIssuer, ExternalIssuers } from './external-issuers.js';

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
  /**
   * Trusted external issuers by exact `iss` (docs/external-issuers.md): a token naming one is
   * verified with that issuer's keys and mapping instead of the keyring.
   */
  externalIssuers?: ExternalIssuers;
  /** Whether a tenant exists; an external token may only map to an existing tenant. */
  tenantExists?: (tenant: string) => Promise<boolean>;
}

export interface VerifiedAccessToken {
  claims: AccessTokenClaims;
  kid: string;
  alg: string;
}

export type TokenVerifier = ((token: string | undefined | null) => Promise<VerifiedAccessToken>) & {
  /**
   * The same verification without a promise, for a token that needs nothing remote (one the
   * server's own keyring verifies): the result, a thrown TokenError, or undefined when the
   * token names an external issuer (then only the promise form can answer). Optional: a
   * verifier without it is always awaited.
   */
  now?: (token: string | undefined | null) => VerifiedAccessToken | undefined;
};

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
 * A token whose (not yet verified) `iss` is exactly a trusted external issuer's, and not ours,
 * takes the same steps with that issuer's own key set and algorithms in step 1 (so a `kid`
 * only ever selects a key of the issuer the token names, catalogue C43), and
 * {@link mapExternalClaims} in step 2 (its `typ`, `aud` and age rules, then its mapping into
 * the same {@link AccessTokenClaims}); its tenant must exist. Reading `iss` before the
 * signature only picks the key set: the claim is checked again after it. Everything else,
 * including a token naming an unknown issuer, goes through the keyring and fails there.
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
  const external = options.externalIssuers ?? new Map<string, ExternalIssuer>();
  const ownIssuer = () => (typeof options.issuer === 'string' ? options.issuer : options.issuer());

  /** The external issuer a token names (not yet verified: it only picks the key set). */
  const externalFor = (token: string | undefined | null): ExternalIssuer | undefined => {
    if (external.size === 0) return undefined;
    const iss = unverifiedIssuer(token, options.maxTokenBytes);
    return iss === undefined || iss === ownIssuer() ? undefined : external.get(iss);
  };
  const jwsOptions = {
    allowedAlgorithms: allowed,
    maxTokenBytes: options.maxTokenBytes,
    resolveKey: (kid: string) => options.keyring.verificationKey(kid),
  };

  const verifier: TokenVerifier = async function verifyAccessToken(token) {
    const issuer = externalFor(token);
    if (issuer !== undefined) return verifyExternal(token as string, issuer);
    return verifyOwn(token);
  };
  verifier.now = (token) => (externalFor(token) !== undefined ? undefined : verifyOwn(token));
  return verifier;

  /** A token for the keyring: every step is local and synchronous. */
  function verifyOwn(token: string | undefined | null): VerifiedAccessToken {
    const jws = verifyCompactJwsNow(token, jwsOptions);
    const claims = validateAccessTokenClaims(jws.header, jws.payload, {
      issuer: ownIssuer(),
      audience: options.audience,
      now: nowSeconds(options.clock),
      clockToleranceSeconds: options.clockToleranceSeconds,
      maxTokenAgeSeconds: options.accessTokenTtlSeconds,
    });
    if (options.revocations.isRevoked(claims.tid, claims.sid, claims.jti))
      throw new TokenError('token_revoked', 'session or token revoked');
    return { claims, kid: jws.kid, alg: jws.alg };
  }

  async function verifyExternal(token: string, issuer: ExternalIssuer) {
    const jws = await verifyCompactJws(token, {
      allowedAlgorithms: issuer.algorithms,
      maxTokenBytes: options.maxTokenBytes,
      resolveKey: async (kid) => {
        try {
          return await issuer.keys.resolve(kid);
        } catch (err) {
          if (!(err instanceof KeySetUnavailableError)) throw err;
          // Fail closed, but as "retry later" rather than "this token is bad" (catalogue C41).
          throw Object.assign(
            new TokenError('issuer_unavailable', `issuer keys unavailable: ${err.reason}`, {
              cause: err,
            }),
            { retryAfterMs: err.retryAfterMs },
          );
        }
      },
    });
    const claims = mapExternalClaims(jws.header, jws.payload, issuer.config, {
      now: nowSeconds(options.clock),
      clockToleranceSeconds: options.clockToleranceSeconds,
      token,
    });
    // Tenants are created by an operator, never by a token (docs/external-issuers.md).
    if (options.tenantExists === undefined || !(await options.tenantExists(claims.tid)))
      throw new TokenError('token_invalid', 'mapped tenant does not exist');
    if (options.revocations.isRevoked(claims.tid, claims.sid, claims.jti))
      throw new TokenError('token_revoked', 'session or token revoked');
    return { claims, kid: jws.kid, alg: jws.alg };
  }
}

/**
 * The `iss` of a token that looks like a compact JWS, before any verification: used only to
 * pick the key set and mapping. Anything odd returns undefined, and the token then takes the
 * keyring path, whose checks report it with the usual codes.
 */
function unverifiedIssuer(token: unknown, maxTokenBytes: number): string | undefined {
  if (typeof token !== 'string' || token.length > maxTokenBytes) return undefined;
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  const iss = decodeJsonObject(parts[1]!)?.iss;
  return typeof iss === 'string' ? iss : undefined;
}
