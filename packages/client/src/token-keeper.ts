import { isHttpToken, type AckMessage, type WelcomeMessage } from '@callgate/protocol';
import { CallgateClientError } from './client-error.js';
import type { Clock } from './clock.js';
import type { GetToken, TokenRequestReason } from './client-options.js';

/** A token and when (local clock) the SDK got it: the start of its lifetime as seen here. */
export interface Credential {
  token: string;
  obtainedAt: number;
}

export interface TokenKeeperOptions {
  getToken: GetToken;
  clock: Clock;
  /** Fraction of the lifetime after which to refresh (0.8). */
  refreshAt: number;
  /** How long `getToken` may take before the attempt counts as failed. */
  timeoutMs: number;
  /** Sends `refresh {token}` on the current connection; resolves with its ack. */
  sendRefresh(token: string): Promise<AckMessage>;
  /** A refresh was acknowledged. */
  refreshed(ack: AckMessage): void;
  /** A refresh failed for a reason other than the connection closing. */
  failed(error: CallgateClientError): void;
}

/** After a failed refresh, try again this much later (while the token is still valid). */
export const REFRESH_RETRY_MS = 5000;

/**
 * Keeps the access token: asks `getToken` when a new one is needed, reuses a young one on
 * reconnect, and refreshes in-band before expiry — when `refreshAt` (80%) of the token's
 * lifetime has passed, or when the server sends `token_expiring`, whichever comes first.
 *
 * Expiry is the server's `expiresAt` moved onto the local clock with the skew measured at
 * `welcome` (`serverTime - now`), so a client whose clock is minutes off still refreshes in
 * time. A refresh never drops the connection; if it fails, it is retried every
 * {@link REFRESH_RETRY_MS} until the token expires (the server then closes with 4401 and the
 * client reconnects with a new token).
 *
 * @example
 * ```ts
 * const keeper = new TokenKeeper({ getToken, clock, refreshAt: 0.8, sendRefresh, refreshed, failed });
 * const cred = await keeper.tokenFor('connect');
 * keeper.connected(cred, welcome);
 * ```
 */
export class TokenKeeper {
  readonly #o: TokenKeeperOptions;
  #current: Credential | null = null;
  #expiresAtLocal = 0;
  #skewMs = 0;
  #invalid = false;
  /** Bumped on every connect and disconnect: a refresh started under another one is void. */
  #generation = 0;
  #live = false;
  #refreshing = -1;
  #cancelTimer: (() => void) | null = null;

  constructor(options: TokenKeeperOptions) {
    this.#o = options;
  }

  /** Server clock minus local clock, measured at the last `welcome` (ms). */
  get skewMs(): number {
    return this.#skewMs;
  }

  /** When the current token expires, on the local clock (ms); 0 before the first `welcome`. */
  get expiresAtLocal(): number {
    return this.#expiresAtLocal;
  }

  /** When the next refresh is due, on the local clock (ms). */
  get refreshDueAt(): number {
    const cur = this.#current;
    if (!cur) return 0;
    return cur.obtainedAt + this.#o.refreshAt * Math.max(0, this.#expiresAtLocal - cur.obtainedAt);
  }

  /**
   * The token for a connection attempt: a new one on `connect`, after {@link invalidate}, or
   * when the cached one is past its refresh point; else the cached one.
   */
  async tokenFor(reason: 'connect' | 'reconnect'): Promise<Credential> {
    const cur = this.#current;
    if (reason === 'reconnect' && cur && !this.#invalid && this.#o.clock.now() < this.refreshDueAt)
      return cur;
    return this.#obtain(reason);
  }

  /** The server refused the token (4401): the next attempt gets a new one. */
  invalidate(): void {
    this.#invalid = true;
  }

  /** A `welcome` accepted `credential`: measure the skew, schedule the refresh. */
  connected(credential: Credential, welcome: WelcomeMessage): void {
    this.#generation++;
    this.#live = true;
    this.#current = credential;
    this.#invalid = false;
    this.#skewMs = welcome.serverTime - this.#o.clock.now();
    this.#expiresAtLocal = welcome.expiresAt - this.#skewMs;
    this.#schedule(this.refreshDueAt);
  }

  /** The server sent `token_expiring`: refresh now unless a refresh is already under way. */
  expiring(): void {
    if (this.#live) void this.#refresh();
  }

  /** The connection is gone: no refresh until the next `welcome`. */
  disconnected(): void {
    this.#generation++;
    this.#live = false;
    this.#stopTimer();
  }

  /** Forget everything (the client stopped). */
  reset(): void {
    this.disconnected();
    this.#current = null;
    this.#expiresAtLocal = 0;
    this.#skewMs = 0;
    this.#invalid = false;
  }

  async #refresh(): Promise<void> {
    const generation = this.#generation;
    if (this.#refreshing === generation) return;
    this.#refreshing = generation;
    this.#stopTimer();
    try {
      const credential = await this.#obtain('refresh');
      if (generation !== this.#generation) return;
      const ack = await this.#o.sendRefresh(credential.token);
      if (generation !== this.#generation) return;
      this.#current = credential;
      if (ack.expiresAt !== undefined) this.#expiresAtLocal = ack.expiresAt - this.#skewMs;
      this.#schedule(this.refreshDueAt);
      this.#o.refreshed(ack);
    } catch (err) {
      if (generation !== this.#generation) return;
      const error =
        err instanceof CallgateClientError
          ? err
          : new CallgateClientError('token_unavailable', 'The refresh failed', { cause: err });
      // A close interrupted it: the reconnect brings a token of its own.
      if (error.code === 'closed' || error.code === 'not_connected') return;
      this.#o.failed(error);
      const retryAt = this.#o.clock.now() + REFRESH_RETRY_MS;
      if (retryAt < this.#expiresAtLocal) this.#schedule(retryAt);
    } finally {
      if (this.#refreshing === generation) this.#refreshing = -1;
    }
  }

  async #obtain(reason: TokenRequestReason): Promise<Credential> {
    const { clock, getToken, timeoutMs } = this.#o;
    // A fetch without a timeout can hang forever; a hung getToken must not stall reconnects.
    const value = await new Promise<unknown>((resolve, reject) => {
      const cancel = clock.setTimer(
        () =>
          reject(
            new CallgateClientError(
              'token_unavailable',
              `getToken() did not settle within ${timeoutMs} ms`,
            ),
          ),
        timeoutMs,
      );
      Promise.resolve()
        .then(() => getToken({ reason }))
        .then(
          (v) => {
            cancel();
            resolve(v);
          },
          (cause: unknown) => {
            cancel();
            reject(new CallgateClientError('token_unavailable', 'getToken() failed', { cause }));
          },
        );
    });
    const token =
      typeof value === 'object' && value !== null && 'token' in value
        ? (value as { token: unknown }).token
        : value;
    // The token travels as the subprotocol entry `bearer.<token>`: anything but RFC 7230 token
    // characters would make the WebSocket constructor throw.
    if (typeof token !== 'string' || !isHttpToken(token)) {
      // Never quote the value: it may be a token.
      throw new CallgateClientError(
        'token_unavailable',
        'getToken() must return a compact JWS string or { token }',
      );
    }
    return { token, obtainedAt: this.#o.clock.now() };
  }

  #schedule(at: number): void {
    this.#stopTimer();
    if (!this.#live) return;
    const delay = Math.max(0, Math.round(at - this.#o.clock.now()));
    this.#cancelTimer = this.#o.clock.setTimer(() => {
      this.#cancelTimer = null;
      void this.#refresh();
    }, delay);
  }

  #stopTimer(): void {
    this.#cancelTimer?.();
    this.#cancelTimer = null;
  }
}
