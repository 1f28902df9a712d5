import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.js';

/** The store setting holding the server's CSRF key (generated once, survives restarts). */
export const CSRF_KEY_SETTING = 'session.csrf_key';

export interface CsrfSigner {
  /** A new token bound to the session: `<nonce>.<HMAC>`, readable by the page. */
  issue(tenant: string, sessionId: string): string;
  /** True when `token` was issued by this server for this session. */
  verify(tenant: string, sessionId: string, token: string): boolean;
}

const TOKEN_RE = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;

/**
 * The signed double-submit pattern (OWASP CSRF cheat sheet): the CSRF token is an HMAC of the
 * session id and a nonce under a server key. A token planted in the cookie jar by a sibling
 * subdomain (which can write a non-`__Host-` cookie for the parent domain) matches its own
 * header but not the victim's session, so it fails (security catalogue F72).
 *
 * @example
 * ```ts
 * const csrf = await loadCsrfSigner(store);
 * const token = csrf.issue('acme', sid);
 * csrf.verify('acme', sid, token); // true
 * ```
 */
export async function loadCsrfSigner(store: Store): Promise<CsrfSigner> {
  const stored = await store.setSettingIfAbsent(
    CSRF_KEY_SETTING,
    randomBytes(32).toString('base64url'),
  );
  const key = Buffer.from(stored, 'base64url');
  const mac = (tenant: string, sessionId: string, nonce: string) =>
    createHmac('sha256', key).update(`callgate-csrf\0${tenant}\0${sessionId}\0${nonce}`).digest();
  return {
    issue(tenant, sessionId) {
      const nonce = randomBytes(16).toString('base64url');
      return `${nonce}.${mac(tenant, sessionId, nonce).toString('base64url')}`;
    },
    verify(tenant, sessionId, token) {
      const m = TOKEN_RE.exec(token);
      if (!m) return false;
      const given = Buffer.from(m[2]!, 'base64url');
      const expected = mac(tenant, sessionId, m[1]!);
      return given.length === expected.length && timingSafeEqual(given, expected);
    },
  };
}
