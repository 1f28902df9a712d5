/* global fetch */
/**
 * The demo's session mode (`/demo/?session=1`): tokens from a browser session instead of the
 * dev token route. `POST /dev/session` — loopback only, `callgate serve --dev` only — plays the
 * application backend that starts a session with its API key (`POST /v1/sessions`) and hands
 * the page a one-time grant; the SDK's `sessionTokenProvider` exchanges it for an access token
 * and an HttpOnly refresh cookie, then refreshes through that cookie. The page never holds a
 * token anywhere but in memory (docs/sessions.md).
 */
import { sessionTokenProvider } from '@callgate/client';
import { userIdFor } from './dev-token.js';

/**
 * Makes the `getToken` function for `createClient`, with the same shape and `onIssued`
 * callback as `devTokenSource`, plus `logout()` to end the session when the call ends.
 *
 * @example
 * const getToken = devSessionSource({ room: 'lobby', name: 'Ada' });
 * const client = createClient({ url: location.origin.replace(/^http/, 'ws'), getToken });
 * // leaving: await client.close(); await getToken.logout();
 *
 * @param {{ room: string, name: string, ttlSeconds?: number, onIssued?: (t: import('./dev-token.js').IssuedToken) => void }} options
 * @returns {((context: { reason: 'connect' | 'reconnect' | 'refresh' }) => Promise<string>) & { logout(): Promise<void> }}
 */
export function devSessionSource({ room, name, ttlSeconds, onIssued }) {
  const sub = userIdFor(name);
  /** @type {import('@callgate/client').SessionTokenProvider | undefined} */
  let session;

  /** Plays the app backend once: a grant for this user and room. */
  async function startSession() {
    /** @type {Record<string, unknown>} */
    const body = { room, sub, metadata: { name } };
    if (ttlSeconds !== undefined) body.ttlSeconds = ttlSeconds;
    const res = await fetch('/dev/session', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    if (!res.ok) throw new Error(`POST /dev/session failed (${res.status})`);
    const { grant } = await res.json();
    return sessionTokenProvider({ grant });
  }

  /** @param {{ reason: 'connect' | 'reconnect' | 'refresh' }} context */
  async function getToken({ reason }) {
    let t;
    if (session === undefined) {
      // exchange() on the first call, refresh() after: both return the expiry the page shows.
      const started = await startSession();
      t = await started.exchange();
      session = started;
    } else t = await session.refresh();
    onIssued?.({
      token: t.token,
      expiresAt: t.expiresAt,
      sessionId: t.sessionId,
      sub,
      room,
      reason,
    });
    return t.token;
  }

  return Object.assign(getToken, {
    async logout() {
      await session?.logout();
      session = undefined;
    },
  });
}
