import { isPlainObject } from '@callgate/protocol';
import { TokenError } from './token-error.js';
import { verifyJwsSignature } from './verify-signature.js';
import type { KeyObject } from 'node:crypto';

export interface JwsVerificationOptions {
  /** Algorithms accepted in the header: asymmetric only, checked by the caller's config. */
  allowedAlgorithms: ReadonlySet<string>;
  /** Longer inputs are refused before any decoding. */
  maxTokenBytes: number;
  /**
   * The key for a `kid`, from a trusted key set (never from the token). May be async (a remote
   * JWKS); what it throws propagates unchanged.
   */
  resolveKey(
    kid: string,
  ):
    | { alg: string; key: KeyObject }
    | undefined
    | Promise<{ alg: string; key: KeyObject } | undefined>;
}

/** A compact JWS whose signature verified: the protected header and the raw payload bytes. */
export interface VerifiedJws {
  header: Record<string, unknown>;
  payload: Uint8Array;
  kid: string;
  alg: string;
}

// Compact JWS: three base64url segments, no padding, nothing else (RFC 7515 §7.1). Anything with
// `{`, `"`, whitespace or a fifth segment (JWE) is refused before any crypto (catalogue A12-A14).
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
// Header members that would point us at key material we do not control (RFC 8725 §3.10).
const FORBIDDEN_HEADER_MEMBERS = ['jku', 'x5u', 'jwk', 'x5c'] as const;

/**
 * The signature and format layer of the verification policy: everything up to and including
 * the signature, nothing about claims. `createTokenVerifier` runs it first, then the claim
 * layer; the Wycheproof JWS vectors (whose payloads are not claim sets) run through it alone.
 *
 * Order: presence → length cap → compact format → canonical base64url → header is a JSON object
 * → `alg` on the allow-list → no key-carrying members → string `kid` → key from the trusted set,
 * bound to that one algorithm → signature (`verifyJwsSignature`, which also rejects unknown and
 * empty `crit` as jose's `compactVerify` does) → no unencoded payload (`b64: false`).
 *
 * @example
 * ```ts
 * const { header, payload } = await verifyCompactJws(token, {
 *   allowedAlgorithms: new Set(['RS256']), maxTokenBytes: 8192, resolveKey: (kid) => keys.get(kid),
 * });
 * ```
 */
export async function verifyCompactJws(
  token: unknown,
  options: JwsVerificationOptions,
): Promise<VerifiedJws> {
  const jws = readCompactJws(token, options);
  return verifyCompactJwsWith(token as string, jws, await options.resolveKey(jws.kid));
}

/**
 * {@link verifyCompactJws} with a key resolver that answers at once (the server's own keyring):
 * the same checks in the same order, without a promise.
 */
export function verifyCompactJwsNow(
  token: unknown,
  options: Omit<JwsVerificationOptions, 'resolveKey'> & {
    resolveKey(kid: string): { alg: string; key: KeyObject } | undefined;
  },
): VerifiedJws {
  const jws = readCompactJws(token, options);
  return verifyCompactJwsWith(token as string, jws, options.resolveKey(jws.kid));
}

/** The steps before the key: presence, length, format, base64url, header, `alg`, `kid`. */
function readCompactJws(
  token: unknown,
  options: Pick<JwsVerificationOptions, 'allowedAlgorithms' | 'maxTokenBytes'>,
): { header: Record<string, unknown>; alg: string; kid: string } {
  if (token === undefined || token === null || token === '')
    throw new TokenError('token_missing', 'no token');
  if (typeof token !== 'string') throw new TokenError('token_malformed', 'not a string');
  if (token.length > options.maxTokenBytes)
    throw new TokenError('token_malformed', 'token too long');
  if (!COMPACT_JWS.test(token)) throw new TokenError('token_malformed', 'not a compact JWS');
  if (!token.split('.').every(isCanonicalBase64url))
    throw new TokenError('token_malformed', 'not canonical base64url');

  const header = decodeJsonObject(token.slice(0, token.indexOf('.')));
  if (header === undefined) throw new TokenError('token_malformed', 'header is not a JSON object');
  const alg = header.alg;
  if (typeof alg !== 'string' || !options.allowedAlgorithms.has(alg))
    throw new TokenError('token_invalid', 'algorithm not allowed');
  for (const m of FORBIDDEN_HEADER_MEMBERS)
    if (m in header) throw new TokenError('token_invalid', `header member ${m} not accepted`);
  const kid = header.kid;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128)
    throw new TokenError('token_invalid', 'kid missing or not a string');
  return { header, alg, kid };
}

/** The steps from the key on: the key bound to `alg`, the signature, no unencoded payload. */
function verifyCompactJwsWith(
  token: string,
  { header, alg, kid }: { header: Record<string, unknown>; alg: string; kid: string },
  key: { alg: string; key: KeyObject } | undefined,
): VerifiedJws {
  if (key === undefined) throw new TokenError('token_invalid', 'unknown kid');
  // One key, one algorithm (RFC 8725 §3.1): an RS256 key never verifies an ES256 header.
  if (key.alg !== alg) throw new TokenError('token_invalid', 'algorithm does not match the key');

  // node:crypto's synchronous verify, with jose's checks and details (verify-signature.ts).
  const payload = verifyJwsSignature(token, header, alg, key.key);
  // RFC 7797 unencoded payloads are legal JWS but never a JWT (jose's jwtVerify refuses them too).
  if (header.b64 === false) throw new TokenError('token_invalid', 'ERR_JWT_INVALID');
  return { header, payload, kid, alg };
}

/**
 * True when the segment is the one canonical unpadded base64url form of its bytes (RFC 7515 §2,
 * RFC 4648 §3.5). Decoders ignore non-zero pad bits and a dangling sixth character, so without
 * this check several distinct strings would verify as the same signed token (catalogue A14).
 * The segment is known to hold base64url characters only (COMPACT_JWS), so canonical means: no
 * dangling character (length ≢ 1 mod 4) and the bits past the last whole byte are zero — the
 * same answer as decoding and encoding again, without either.
 */
function isCanonicalBase64url(segment: string): boolean {
  const rest = segment.length & 3;
  if (rest === 0) return true;
  if (rest === 1) return false;
  const last = BASE64URL.indexOf(segment.charAt(segment.length - 1));
  // 2 characters left carry 12 bits (one byte + 4 pad bits), 3 carry 18 (two bytes + 2).
  return (last & (rest === 2 ? 0x0f : 0x03)) === 0;
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

/**
 * Strict UTF-8 (catalogue A15), one decoder reused rather than made per call: `decode` without
 * `stream` keeps no state between calls.
 */
export const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** The JSON object a base64url segment holds (strict UTF-8, catalogue A15), or undefined. */
export function decodeJsonObject(
  segment: string | Uint8Array,
): Record<string, unknown> | undefined {
  try {
    const bytes = typeof segment === 'string' ? Buffer.from(segment, 'base64url') : segment;
    const v = JSON.parse(UTF8.decode(bytes)) as unknown;
    return isPlainObject(v) ? v : undefined;
  } catch {
    return undefined;
  }
}
