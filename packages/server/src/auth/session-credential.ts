import { createHash, randomBytes } from 'node:crypto';
import type { SessionCredentialKind } from '../store/store.js';

/**
 * Prefixes of the two single-use credentials of a browser session (docs/sessions.md): the
 * one-time grant a backend hands to its page, and the refresh credential that lives only in
 * the HttpOnly cookie. The prefix makes them recognisable to secret scanners and lets a route
 * refuse the wrong kind (an access JWT, a grant at `/refresh`) before any lookup.
 */
export const SESSION_CREDENTIAL_PREFIX: Record<SessionCredentialKind, string> = {
  grant: 'cgg_',
  refresh: 'cgr_',
};

const SECRET_RE = /^[A-Za-z0-9_-]{43}$/;

export interface NewSessionCredential {
  /** Shown once (grant in the response, refresh credential in the cookie); never stored. */
  plaintext: string;
  /** SHA-256 of the plaintext, hex: what the store keeps. */
  hash: string;
}

/**
 * A new 256-bit credential. A plain SHA-256 is enough to store it: the secret is random, so
 * there is nothing for a slow hash to protect against (unlike a password).
 *
 * @example
 * ```ts
 * const { plaintext, hash } = newSessionCredential('refresh'); // plaintext: cgr_...
 * ```
 */
export function newSessionCredential(kind: SessionCredentialKind): NewSessionCredential {
  const plaintext = SESSION_CREDENTIAL_PREFIX[kind] + randomBytes(32).toString('base64url');
  return { plaintext, hash: hashSessionCredential(plaintext) };
}

/**
 * The store hash of a presented credential of `kind`, or null when it is not one (missing,
 * another kind, an access JWT, garbage): such input is refused without touching the store.
 */
export function presentedCredentialHash(
  kind: SessionCredentialKind,
  presented: unknown,
): string | null {
  if (typeof presented !== 'string') return null;
  const prefix = SESSION_CREDENTIAL_PREFIX[kind];
  if (!presented.startsWith(prefix) || !SECRET_RE.test(presented.slice(prefix.length))) return null;
  return hashSessionCredential(presented);
}

export function hashSessionCredential(plaintext: string): string {
  return createHash('sha256').update(plaintext).digest('hex');
}
