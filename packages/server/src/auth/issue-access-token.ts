import { SignJWT } from 'jose';
import {
  ACCESS_TOKEN_TYP,
  type AccessTokenClaims,
  type RoomGrants,
  type TokenKind,
} from '@callgate/protocol';
import type { Keyring } from './keyring.js';
import { nowSeconds, type Clock } from '../util/clock.js';
import { randomId } from '../util/random-id.js';

export interface IssueAccessTokenInput {
  tenant: string;
  sub: string;
  rooms: RoomGrants;
  /** Lifetime; the caller has already bounded it by policy. */
  ttlSeconds: number;
  metadata?: Record<string, unknown> | undefined;
  kind?: TokenKind | undefined;
  /** Continue an existing session; a new one is started when absent. */
  sessionId?: string | undefined;
}

export interface IssuedAccessToken {
  token: string;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  sessionId: string;
  claims: AccessTokenClaims;
}

export interface TokenIssuerOptions {
  keyring: Keyring;
  clock: Clock;
  /** The expected/minted `iss`; a function when it is known only once the server listens. */
  issuer: string | (() => string);
  audience: string;
}

/**
 * Creates the signer of access tokens: `typ: at+jwt` (RFC 9068 §2.1), `kid` always, the current
 * key's algorithm, and the claims of design.md.
 *
 * @example
 * ```ts
 * const issue = createTokenIssuer({ keyring, clock, issuer, audience: 'callgate' });
 * const { token } = await issue({ tenant: 'acme', sub: 'alice', rooms: { r1: ['join'] }, ttlSeconds: 300 });
 * ```
 */
export function createTokenIssuer(options: TokenIssuerOptions) {
  return async function issueAccessToken(input: IssueAccessTokenInput): Promise<IssuedAccessToken> {
    const { kid, alg, key } = options.keyring.signingKey();
    const iat = nowSeconds(options.clock);
    const exp = iat + input.ttlSeconds;
    const sid = input.sessionId ?? randomId();
    const claims: AccessTokenClaims = {
      iss: typeof options.issuer === 'string' ? options.issuer : options.issuer(),
      aud: options.audience,
      sub: input.sub,
      tid: input.tenant,
      sid,
      jti: randomId(),
      iat,
      nbf: iat,
      exp,
      rooms: input.rooms,
      kind: input.kind ?? 'user',
    };
    if (input.metadata !== undefined) claims.md = input.metadata;
    const token = await new SignJWT({ ...claims })
      .setProtectedHeader({ alg, kid, typ: ACCESS_TOKEN_TYP })
      .sign(key);
    return { token, expiresAt: exp * 1000, sessionId: sid, claims };
  };
}

export type TokenIssuer = ReturnType<typeof createTokenIssuer>;
