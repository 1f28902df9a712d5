/**
 * Ephemeral TURN credentials in the TURN REST scheme (draft-uberti-behave-turn-rest-00), the
 * one coturn validates with `use-auth-secret` and no database (design.md "TURN credentials").
 */
import { KeyObject } from 'node:crypto';
import { computeTurnCredential } from './compute-turn-credential.js';

/** The shortest credential lifetime a caller may ask for, in seconds. */
export const TURN_TTL_MIN_SECONDS = 60;
/** The longest: one day, the draft's recommendation (§2.2) and security-catalogue G76. */
export const TURN_TTL_MAX_SECONDS = 86_400;
/** A secret must have at least this many bytes (security-catalogue G82). */
export const TURN_SECRET_MIN_BYTES = 32;

// The opaque id is a session id: base64url characters only. No ':' (coturn splits the username
// at the first ':' to find the expiry) and nothing that could carry personal data or whitespace.
const ID_RE = /^[A-Za-z0-9_-]{1,128}$/;

/** What a client needs for one TURN relay login. */
export interface TurnCredentials {
  /** `"<expiry>:<id>"`, expiry in absolute UNIX seconds (10 digits). */
  readonly username: string;
  /** `base64(HMAC-SHA1(secret, username))`. */
  readonly credential: string;
  /** The lifetime asked for, in seconds. */
  readonly ttl: number;
  /** The expiry in milliseconds since the epoch (the username's expiry × 1000). */
  readonly expiresAt: number;
}

/** Options of {@link mintTurnCredentials}. */
export interface MintTurnCredentialsOptions {
  /**
   * The shared secret (the newest of `turn.secrets`), at least 32 bytes; strings count as UTF-8.
   * A secret `KeyObject` made once (`createSecretKey`) saves preparing the key on every call.
   */
  secret: string | Uint8Array | KeyObject;
  /** The opaque session id: 1..128 characters of `[A-Za-z0-9_-]`. Never personal data. */
  id: string;
  /** Lifetime in seconds, 60..86400. */
  ttlSeconds: number;
  /** Clock in milliseconds since the epoch; default `Date.now`. */
  now?: () => number;
}

/**
 * Mints one set of TURN REST credentials. Throws `TypeError`/`RangeError` naming the option on
 * misuse; the messages never contain the secret, the id or the credential.
 *
 * The expiry is checked by the relay only when a client first authenticates (coturn 4.6.1), so
 * an allocation made before it keeps working after it; new allocations need fresh credentials.
 *
 * @example
 * const creds = mintTurnCredentials({ secret, id: claims.sid, ttlSeconds: 3600 });
 * // { username: '1767229200:Qm9vb...', credential: 'x1y2...=', ttl: 3600, expiresAt: 1767229200000 }
 */
export function mintTurnCredentials(options: MintTurnCredentialsOptions): TurnCredentials {
  const { secret, id, ttlSeconds, now = Date.now } = options;
  const secretBytes =
    typeof secret === 'string'
      ? Buffer.byteLength(secret, 'utf8')
      : secret instanceof Uint8Array
        ? secret.byteLength
        : secret instanceof KeyObject && secret.type === 'secret'
          ? (secret.symmetricKeySize ?? 0)
          : undefined;
  if (secretBytes === undefined)
    throw new TypeError('"secret" option must be a string, a Uint8Array or a secret KeyObject');
  if (secretBytes < TURN_SECRET_MIN_BYTES)
    throw new RangeError(`"secret" option must be at least ${TURN_SECRET_MIN_BYTES} bytes`);
  if (typeof id !== 'string' || !ID_RE.test(id)) {
    throw new TypeError('"id" option must be 1..128 characters of [A-Za-z0-9_-] (no ":")');
  }
  if (
    typeof ttlSeconds !== 'number' ||
    !Number.isInteger(ttlSeconds) ||
    ttlSeconds < TURN_TTL_MIN_SECONDS ||
    ttlSeconds > TURN_TTL_MAX_SECONDS
  ) {
    throw new RangeError(
      `"ttlSeconds" option must be an integer from ${TURN_TTL_MIN_SECONDS} to ${TURN_TTL_MAX_SECONDS}`,
    );
  }
  if (typeof now !== 'function') throw new TypeError('"now" option must be a function');
  const nowMs = now();
  // The draft and coturn want absolute UNIX *seconds*. A 13-digit millisecond expiry is a classic
  // bug (catalogue G76): coturn truncates it to 32 bits, so acceptance depends on the date. A
  // clock that returns seconds instead of milliseconds would give a 7-digit expiry; both fail here.
  const expiry = Math.floor(nowMs / 1000) + ttlSeconds;
  if (!Number.isFinite(nowMs) || expiry < 1_000_000_000 || expiry > 9_999_999_999) {
    throw new RangeError('"now" option must return milliseconds since the UNIX epoch');
  }
  const username = `${expiry}:${id}`;
  return {
    username,
    credential: computeTurnCredential(secret, username),
    ttl: ttlSeconds,
    expiresAt: expiry * 1000,
  };
}
