/* global fetch */
/**
 * The demo's token source: `POST /dev/token`, the loopback-only route of `callgate serve --dev`.
 * A real application asks its own backend instead, which mints with its API key
 * (`POST /v1/tokens`); the shape of `getToken` stays the same.
 */

/**
 * @typedef {object} IssuedToken
 * @property {string} token
 * @property {number} expiresAt ms since the epoch
 * @property {string} sessionId
 * @property {string} sub
 * @property {string} room
 * @property {'connect' | 'reconnect' | 'refresh'} reason why the SDK asked for it
 */

/**
 * A user id for the token's `sub` (printable ASCII, no whitespace) from a display name: the
 * name's letters and digits plus a random suffix, so two "Ada"s are two users.
 *
 * @param {string} name
 * @returns {string}
 */
export function userIdFor(name) {
  const slug = name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .toLowerCase()
    .slice(0, 32);
  const suffix = Math.random().toString(36).slice(2, 8);
  return `${slug || 'guest'}-${suffix}`;
}

/**
 * Makes the `getToken` function for `createClient`. Every token after the first carries the
 * first one's session id: an in-band refresh must keep `sub`, tenant and `sid`, or the server
 * closes the connection with 4403.
 *
 * @example
 * const getToken = devTokenSource({ room: 'lobby', name: 'Ada', onIssued: (t) => show(t.expiresAt) });
 * const client = createClient({ url: location.origin.replace(/^http/, 'ws'), getToken });
 *
 * @param {{ room: string, name: string, ttlSeconds?: number, onIssued?: (t: IssuedToken) => void }} options
 * @returns {(context: { reason: 'connect' | 'reconnect' | 'refresh' }) => Promise<string>}
 */
export function devTokenSource({ room, name, ttlSeconds, onIssued }) {
  const sub = userIdFor(name);
  /** @type {string | undefined} */
  let sessionId;
  return async ({ reason }) => {
    /** @type {Record<string, unknown>} */
    const body = { room, sub, metadata: { name } };
    if (sessionId !== undefined) body.sessionId = sessionId;
    if (ttlSeconds !== undefined) body.ttlSeconds = ttlSeconds;
    const res = await fetch('/dev/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) {
      /** @type {string} */
      let code = String(res.status);
      try {
        const error = (await res.json()).error;
        code = `${res.status} ${error.code}: ${error.message}`;
      } catch {
        // not JSON: the status says enough
      }
      throw new Error(`POST /dev/token failed (${code})`);
    }
    const issued = await res.json();
    sessionId = issued.sessionId;
    onIssued?.({ ...issued, reason });
    return issued.token;
  };
}
