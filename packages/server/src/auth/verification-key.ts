import { createPublicKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { isPlainObject } from '@callgate/protocol';
import { ASYMMETRIC_ALGORITHMS, type SigningAlgorithm } from '../config/schema.js';

/** A public key bound to exactly one algorithm (RFC 8725 §3.1), ready for signature checks. */
export interface VerificationKey {
  kid: string;
  alg: SigningAlgorithm;
  key: KeyObject;
}

/** Why a JWK cannot verify tokens; `reason` is safe to log (it never holds key material). */
export class UnusableKeyError extends Error {
  readonly kid: string | undefined;
  readonly reason: string;
  constructor(kid: string | undefined, reason: string) {
    super(`key ${kid ?? '(no kid)'} is unusable: ${reason}`);
    this.name = 'UnusableKeyError';
    this.kid = kid;
    this.reason = reason;
  }
}

/** JWK members that only private or symmetric keys carry (RFC 7518 §6.2.2, §6.3.2, §6.4.1). */
export const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** The one key type and curve each allowed algorithm may use. */
const KEY_TYPE: Record<SigningAlgorithm, { kty: string; crv?: string; coord?: number }> = {
  RS256: { kty: 'RSA' },
  ES256: { kty: 'EC', crv: 'P-256', coord: 32 },
  EdDSA: { kty: 'OKP', crv: 'Ed25519', coord: 32 },
};

const MIN_RSA_BITS = 2048;
// NIST SP 800-56B rev. 2 §6.2.1: 65537 <= e < 2^256, e odd.
const MIN_RSA_EXPONENT = 65_537n;
const MAX_RSA_EXPONENT = 1n << 256n;

/**
 * Imports one public JWK for verification, refusing every key that is not fit for exactly one
 * of Callgate's asymmetric algorithms (security-catalogue C38/C39; Wycheproof
 * `json_web_key_test`): private or symmetric material, `use` other than `sig`, `key_ops`
 * without `verify`, an `alg` that is unknown or does not match `kty`/`crv`, a point off its
 * curve, RSA under 2048 bits, a weak or even exponent, or a ROCA-fingerprinted modulus
 * (CVE-2017-15361). A JWK without `alg` is bound to the one allowed algorithm of its type.
 *
 * The keyring loads every stored key through this function, so a tampered store cannot slip a
 * weak key into verification; tests run the Wycheproof JWK vectors through it.
 *
 * @example
 * ```ts
 * const { alg, key } = importVerificationKey({ kty: 'EC', crv: 'P-256', x, y, kid: 'k1' });
 * ```
 */
export function importVerificationKey(jwk: unknown): VerificationKey {
  if (!isPlainObject(jwk)) throw new UnusableKeyError(undefined, 'not a JSON object');
  const kid = jwk.kid;
  if (typeof kid !== 'string' || kid.length === 0 || kid.length > 128)
    throw new UnusableKeyError(undefined, 'kid missing or not a string');
  const bad = (reason: string) => new UnusableKeyError(kid, reason);
  for (const m of PRIVATE_JWK_MEMBERS)
    if (m in jwk) throw bad(m === 'k' ? 'symmetric key' : `private member ${m}`);
  if (jwk.use !== undefined && jwk.use !== 'sig') throw bad('use is not "sig"');
  if (jwk.key_ops !== undefined) {
    if (!Array.isArray(jwk.key_ops) || !jwk.key_ops.includes('verify'))
      throw bad('key_ops does not allow "verify"');
  }
  const kty = jwk.kty;
  let alg: SigningAlgorithm;
  if (jwk.alg === undefined) {
    const inferred = ASYMMETRIC_ALGORITHMS.find(
      (a) => KEY_TYPE[a].kty === kty && KEY_TYPE[a].crv === jwk.crv,
    );
    if (inferred === undefined) throw bad('unsupported key type');
    alg = inferred;
  } else {
    if (!(ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(jwk.alg))
      throw bad('algorithm not supported');
    alg = jwk.alg as SigningAlgorithm;
  }
  const want = KEY_TYPE[alg];
  if (kty !== want.kty) throw bad(`kty does not match ${alg}`);
  if (want.crv !== undefined) {
    if (jwk.crv !== want.crv) throw bad(`crv does not match ${alg}`);
    for (const c of want.kty === 'EC' ? ['x', 'y'] : ['x'])
      if (typeof jwk[c] !== 'string' || decode(jwk[c]).length !== want.coord)
        throw bad(`${c} is not a ${want.coord}-byte coordinate`);
  } else {
    if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') throw bad('n or e missing');
    const n = toBigInt(decode(jwk.n));
    const e = toBigInt(decode(jwk.e));
    if (n.toString(2).length < MIN_RSA_BITS) throw bad(`modulus under ${MIN_RSA_BITS} bits`);
    if (e < MIN_RSA_EXPONENT || e >= MAX_RSA_EXPONENT || e % 2n === 0n)
      throw bad('public exponent out of range');
    if (hasRocaFingerprint(n)) throw bad('modulus has the ROCA fingerprint (CVE-2017-15361)');
  }
  const material: Record<string, unknown> = { kty };
  for (const m of ['crv', 'x', 'y', 'n', 'e']) if (jwk[m] !== undefined) material[m] = jwk[m];
  let key: KeyObject;
  try {
    // Node (OpenSSL) refuses points that are not on the curve.
    key = createPublicKey({ key: material as JsonWebKey, format: 'jwk' });
  } catch {
    throw bad('invalid key material');
  }
  return { kid, alg, key };
}

/**
 * Imports a JWKS. A set that carries any private or symmetric member is refused whole (it was
 * published by mistake and cannot be trusted, Wycheproof `MixedKeySet`); otherwise each unusable
 * entry is left out and reported, and a `kid` used twice makes every entry with it unusable
 * (Wycheproof `DuplicateKid`): which key was meant would be a guess.
 */
export function importVerificationKeySet(jwks: unknown): {
  keys: Map<string, VerificationKey>;
  rejected: UnusableKeyError[];
} {
  if (!isPlainObject(jwks) || !Array.isArray(jwks.keys))
    throw new UnusableKeyError(undefined, 'not a JWK set');
  for (const k of jwks.keys)
    if (isPlainObject(k) && PRIVATE_JWK_MEMBERS.some((m) => m in k))
      throw new UnusableKeyError(undefined, 'the set carries private or symmetric key material');
  const keys = new Map<string, VerificationKey>();
  const rejected: UnusableKeyError[] = [];
  const seen = new Map<string, number>();
  for (const k of jwks.keys)
    if (isPlainObject(k) && typeof k.kid === 'string') seen.set(k.kid, (seen.get(k.kid) ?? 0) + 1);
  for (const k of jwks.keys) {
    const kid = isPlainObject(k) && typeof k.kid === 'string' ? k.kid : undefined;
    if (kid !== undefined && (seen.get(kid) ?? 0) > 1) {
      rejected.push(new UnusableKeyError(kid, 'duplicate kid'));
      continue;
    }
    try {
      const key = importVerificationKey(k);
      keys.set(key.kid, key);
    } catch (err) {
      if (err instanceof UnusableKeyError) rejected.push(err);
      else throw err;
    }
  }
  return { keys, rejected };
}

function decode(b64url: string): Buffer {
  return Buffer.from(b64url, 'base64url');
}

function toBigInt(bytes: Buffer): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${bytes.toString('hex')}`);
}

// ROCA (Nemec et al., CCS 2017): Infineon primes are k·M + (65537^a mod M), M a primorial, so
// a vulnerable modulus lies, modulo every small prime of M, in the subgroup generated by 65537.
// A random modulus passes this for all 38 primes with negligible probability.
const ROCA_PRIMES = [
  3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101,
  103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
];
const ROCA_SUBGROUPS = ROCA_PRIMES.map((p) => {
  const set = new Set<number>();
  let x = 1;
  do {
    set.add(x);
    x = (x * (65_537 % p)) % p;
  } while (x !== 1);
  return set;
});

function hasRocaFingerprint(n: bigint): boolean {
  return ROCA_PRIMES.every((p, i) => ROCA_SUBGROUPS[i]!.has(Number(n % BigInt(p))));
}
