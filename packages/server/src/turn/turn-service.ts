import { createSecretKey, type KeyObject } from 'node:crypto';
import type { IceServer } from '@callgate/protocol';
import type { CallgateConfig } from '../config/config.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../util/clock.js';
import { mintTurnCredentials } from './mint-turn-credentials.js';
import { buildIceServers } from './ice-servers.js';
import {
  ensureStoredSecret,
  readStoredSecrets,
  secretId,
  type TurnSecretInfo,
} from './turn-secrets.js';

/** The response of `POST /v1/turn/credentials` (design.md "TURN credentials"). */
export interface TurnCredentialResponse {
  username: string;
  credential: string;
  /** Seconds. */
  ttl: number;
  /** Milliseconds since the epoch. */
  expiresAt: number;
  urls: string[];
  iceServers: IceServer[];
}

/** `turn.urls` when none are configured: STUN and TURN (UDP and TCP) on the public host, port 3478. */
export function defaultTurnUrls(host: string): string[] {
  const h = host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
  return [`stun:${h}:3478`, `turn:${h}:3478?transport=udp`, `turn:${h}:3478?transport=tcp`];
}

/** The host part of a URL, for the default TURN URLs and realm. */
export function publicHost(publicUrl: string): string {
  return new URL(publicUrl).hostname.replace(/^\[|\]$/g, '');
}

/**
 * Mints TURN REST credentials for sessions, signed with the newest secret: the configured
 * `turn.secrets`, or the secrets kept in the store (generated on first start, rotated with
 * `callgate turn secret add|remove`). Reloads when the store changes.
 */
export class TurnService {
  readonly #config: CallgateConfig['turn'];
  readonly #store: Store;
  readonly #clock: Clock;
  #publicUrl: () => string;
  #secrets: readonly string[] = [];
  /** The newest secret as a KeyObject, made once per reload rather than on every HMAC. */
  #signingKey: KeyObject | undefined;
  #createdAt: ReadonlyArray<number | null> = [];

  private constructor(
    config: CallgateConfig['turn'],
    store: Store,
    clock: Clock,
    publicUrl: () => string,
  ) {
    this.#config = config;
    this.#store = store;
    this.#clock = clock;
    this.#publicUrl = publicUrl;
  }

  static async open(options: {
    config: CallgateConfig['turn'];
    store: Store;
    clock: Clock;
    publicUrl: () => string;
    /** Generate a secret when none exists (the server does; read-only CLI commands do not). */
    generate?: boolean;
  }): Promise<TurnService> {
    const svc = new TurnService(options.config, options.store, options.clock, options.publicUrl);
    if (options.config.secrets.length === 0 && options.generate !== false)
      await ensureStoredSecret(options.store, options.clock.now());
    await svc.reload();
    return svc;
  }

  /** True when the secrets come from the config file/env rather than the store. */
  get configured(): boolean {
    return this.#config.secrets.length > 0;
  }

  async reload(): Promise<void> {
    if (this.configured) {
      this.#secrets = [...this.#config.secrets];
      this.#createdAt = this.#secrets.map(() => null);
    } else {
      const stored = await readStoredSecrets(this.#store);
      this.#secrets = stored.map((s) => s.secret);
      this.#createdAt = stored.map((s) => s.createdAt);
    }
    const newest = this.#secrets[0];
    this.#signingKey =
      newest === undefined ? undefined : createSecretKey(Buffer.from(newest, 'utf8'));
  }

  /** Every accepted secret, newest (signing) first: what the relay must know. */
  secrets(): readonly string[] {
    return this.#secrets;
  }

  list(): TurnSecretInfo[] {
    return this.#secrets.map((s, i) => ({
      id: secretId(s),
      createdAt: this.#createdAt[i] ?? null,
      primary: i === 0,
      source: this.configured ? 'config' : 'store',
    }));
  }

  urls(): string[] {
    if (this.#config.urls.length > 0) return [...this.#config.urls];
    // The default URLs follow the public URL (known only once listening with port 0): parsed
    // again only when it changes, not for every welcome.
    const publicUrl = this.#publicUrl();
    if (publicUrl !== this.#defaultUrlsFor) {
      this.#defaultUrls = defaultTurnUrls(publicHost(publicUrl));
      this.#defaultUrlsFor = publicUrl;
    }
    return [...this.#defaultUrls];
  }

  #defaultUrlsFor: string | undefined;
  #defaultUrls: string[] = [];

  realm(): string {
    return this.#config.realm ?? publicHost(this.#publicUrl());
  }

  /** Credentials for one session; the id part of the username is the session id (opaque). */
  credentialsFor(sessionId: string): TurnCredentialResponse {
    // Set with the secrets in reload(): undefined exactly when there is no secret.
    const secret = this.#signingKey;
    if (secret === undefined) throw new Error('no TURN secret is available');
    const creds = mintTurnCredentials({
      secret,
      id: sessionId,
      ttlSeconds: this.#config.ttlSeconds,
      now: () => this.#clock.now(),
    });
    const urls = this.urls();
    return {
      username: creds.username,
      credential: creds.credential,
      ttl: creds.ttl,
      expiresAt: creds.expiresAt,
      urls,
      iceServers: buildIceServers(creds, urls),
    };
  }
}
