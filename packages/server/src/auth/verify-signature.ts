import { verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { TokenError } from './token-error.js';

/** What each allowed algorithm hashes with, and the one key type it may use. */
const ALGORITHMS: Record<string, { hash: string | null; keyType: readonly string[] }> = {
  RS256: { hash: 'sha256', keyType: ['rsa'] },
  ES256: { hash: 'sha256', keyType: ['ec'] },
  EdDSA: { hash: null, keyType: ['ed25519', 'ed448'] },
};

/** Keys already checked against an algorithm (KeyObjects are immutable). */
const checkedKeys = new WeakMap<KeyObject, string>();

/**
 * The signature step of a compact JWS (RFC 7515 §5.2), with node:crypto's synchronous
 * `verify`: the same checks and error details as jose's `compactVerify` (`crit` per RFC 7515
 * §4.1.11 with only `b64` understood, `b64` a boolean when present, the key fit for `alg`), at
 * about a third of the cost per RS256 token (jose goes through WebCrypto and converts the
 * KeyObject on every call). Returns the decoded payload.
 *
 * The caller has already checked the compact format, canonical base64url, that `alg` is allowed
 * and that `key` is the trusted key bound to `alg` (verify-jws.ts).
 *
 * @example
 * ```ts
 * const payload = verifyJwsSignature(token, header, 'RS256', key); // throws TokenError
 * ```
 */
export function verifyJwsSignature(
  token: string,
  header: Record<string, unknown>,
  alg: string,
  key: KeyObject,
): Uint8Array {
  const crit = header.crit;
  if (crit !== undefined) {
    if (
      !Array.isArray(crit) ||
      crit.length === 0 ||
      crit.some((p) => typeof p !== 'string' || p.length === 0)
    )
      throw new TokenError('token_invalid', 'ERR_JWS_INVALID');
    for (const p of crit as string[]) {
      if (p !== 'b64') throw new TokenError('token_invalid', 'ERR_JOSE_NOT_SUPPORTED');
      if (header[p] === undefined) throw new TokenError('token_invalid', 'ERR_JWS_INVALID');
    }
  }
  if (header.b64 !== undefined && typeof header.b64 !== 'boolean')
    throw new TokenError('token_invalid', 'ERR_JWS_INVALID');
  const spec = ALGORITHMS[alg];
  if (spec === undefined) throw new TokenError('token_invalid', 'ERR_JOSE_ALG_NOT_ALLOWED');
  if (checkedKeys.get(key) !== alg) {
    if (!fitFor(spec.keyType, alg, key))
      throw new TokenError('token_invalid', 'verification failed');
    checkedKeys.set(key, alg);
  }

  // With `b64: false` the payload segment is used as is; the signing input is the same bytes.
  const firstDot = token.indexOf('.');
  const lastDot = token.lastIndexOf('.');
  const input = Buffer.from(token.slice(0, lastDot), 'ascii');
  const signature = Buffer.from(token.slice(lastDot + 1), 'base64url');
  let ok = false;
  try {
    ok = cryptoVerify(
      spec.hash,
      input,
      alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' } : key,
      signature,
    );
  } catch {
    ok = false;
  }
  if (!ok) throw new TokenError('token_invalid', 'signature verification failed');
  const payload = token.slice(firstDot + 1, lastDot);
  return header.b64 === false ? Buffer.from(payload, 'ascii') : Buffer.from(payload, 'base64url');
}

function fitFor(keyType: readonly string[], alg: string, key: KeyObject): boolean {
  if (key.type !== 'public') return false;
  if (!keyType.includes(key.asymmetricKeyType ?? '')) return false;
  const d = key.asymmetricKeyDetails;
  if (alg === 'RS256') return (d?.modulusLength ?? 0) >= 2048;
  if (alg === 'ES256') return d?.namedCurve === 'prime256v1';
  return true;
}
