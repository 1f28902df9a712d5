import { promisify } from 'node:util';
import { generateKeyPair, createPrivateKey, type JsonWebKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type { Store, StoredKey, KeyState } from '../store/store.js';
import type { Clock } from '../util/clock.js';
import type { SigningAlgorithm } from '../config/schema.js';
import { importVerificationKey, UnusableKeyError } from './verification-key.js';

export interface KeyringOptions {
  store: Store;
  clock: Clock;
  /** Algorithm of newly generated keys. */
  algorithm: SigningAlgorithm;
  accessTokenTtlSeconds: number;
  clockToleranceSeconds: number;
  keyRotationDays: number;
}

/** A key ready for use; `key` is a Node KeyObject (private for the signer, public otherwise). */
export interface ActiveKey {
  kid: string;
  alg: string;
  state: KeyState;
  key: KeyObject;
}

/** What `keys list` and the admin API may show: never private material. */
export interface KeyInfo {
  kid: string;
  alg: string;
  state: KeyState;
  createdAt: number;
  activatedAt: number | null;
  retiredAt: number | null;
  deleteAfter: number | null;
}

/** Members a public JWK may carry; everything else (d, p, q, dp, dq, qi, k, ...) is dropped. */
const PUBLIC_MEMBERS = ['kty', 'crv', 'n', 'e', 'x', 'y'] as const;

/**
 * The signing keyring (design.md "Keys and JWKS"): one **current** key signs, a **next** key is
 * published ahead of use, **retired** keys stay published until every token they signed has
 * expired. Keys persist in the store, so tokens survive restarts.
 *
 * @example
 * ```ts
 * const keyring = await Keyring.open({ store, clock, algorithm: 'RS256', ... });
 * const { kid, key } = keyring.signingKey();
 * ```
 */
export class Keyring {
  readonly #opts: KeyringOptions;
  #keys = new Map<string, StoredKey>();
  #public = new Map<string, ActiveKey>();
  #signing: ActiveKey | undefined;
  #unusable: UnusableKeyError[] = [];

  private constructor(opts: KeyringOptions) {
    this.#opts = opts;
  }

  /** Loads the keyring from the store, creating the current and next keys when missing. */
  static async open(opts: KeyringOptions): Promise<Keyring> {
    const ring = new Keyring(opts);
    await ring.reload();
    await ring.#ensureComplete();
    return ring;
  }

  /** Re-reads the store (another process, e.g. the CLI, may have rotated or revoked). */
  async reload(): Promise<void> {
    const keys = await this.#opts.store.listKeys();
    this.#keys = new Map(keys.map((k) => [k.kid, k]));
    this.#public = new Map();
    this.#signing = undefined;
    this.#unusable = [];
    for (const k of keys) {
      // The same checks as any foreign key (catalogue C39): a weak or mismatched key that
      // reached the store by hand never verifies a token.
      let key: KeyObject;
      try {
        ({ key } = importVerificationKey({ ...k.publicJwk, kid: k.kid, alg: k.alg }));
      } catch (err) {
        if (!(err instanceof UnusableKeyError)) throw err;
        this.#unusable.push(err);
        continue;
      }
      this.#public.set(k.kid, { kid: k.kid, alg: k.alg, state: k.state, key });
      if (k.state === 'current')
        this.#signing = {
          kid: k.kid,
          alg: k.alg,
          state: k.state,
          key: createPrivateKey({ key: k.privateJwk as JsonWebKey, format: 'jwk' }),
        };
    }
  }

  /** The key that signs new tokens. */
  signingKey(): ActiveKey {
    if (!this.#signing) throw new Error('keyring has no current key');
    return this.#signing;
  }

  /** A published key by `kid` (next, current or retired), or undefined. */
  verificationKey(kid: string): ActiveKey | undefined {
    return this.#public.get(kid);
  }

  /** Stored keys that failed the verification-key checks (never used, never published). */
  unusableKeys(): readonly UnusableKeyError[] {
    return this.#unusable;
  }

  /** The JWKS document: public members plus `kid`, `alg`, `use: "sig"` for every published key. */
  jwks(): { keys: JWK[] } {
    const order: Record<KeyState, number> = { current: 0, next: 1, retired: 2 };
    return {
      keys: [...this.#keys.values()]
        .filter((k) => this.#public.has(k.kid))
        .sort((a, b) => order[a.state] - order[b.state] || a.createdAt - b.createdAt)
        .map((k) => publicJwk(k)),
    };
  }

  list(): KeyInfo[] {
    return [...this.#keys.values()].map((k) => ({
      kid: k.kid,
      alg: k.alg,
      state: k.state,
      createdAt: k.createdAt,
      activatedAt: k.activatedAt,
      retiredAt: k.retiredAt,
      deleteAfter: k.deleteAfter,
    }));
  }

  /** True when the current key has signed for `keyRotationDays`. */
  rotationDue(): boolean {
    const cur = this.#currentStored();
    if (!cur) return true;
    const since = cur.activatedAt ?? cur.createdAt;
    return this.#opts.clock.now() - since >= this.#opts.keyRotationDays * 86_400_000;
  }

  /**
   * Next becomes current, current becomes retired, a new next is generated; retired keys whose
   * tokens have all expired are deleted.
   */
  async rotate(): Promise<KeyInfo[]> {
    await this.reload();
    const now = this.#opts.clock.now();
    const upsert: StoredKey[] = [];
    const cur = this.#currentStored();
    let next = [...this.#keys.values()].find((k) => k.state === 'next');
    if (cur)
      upsert.push({
        ...cur,
        state: 'retired',
        retiredAt: now,
        deleteAfter: this.#deleteAfter(now),
      });
    if (!next) next = await this.#generate('current');
    upsert.push({ ...next, state: 'current', activatedAt: now });
    upsert.push(await this.#generate('next'));
    const remove = [...this.#keys.values()]
      .filter((k) => k.state === 'retired' && k.deleteAfter !== null && k.deleteAfter <= now)
      .map((k) => k.kid);
    await this.#opts.store.saveKeys({ upsert, remove });
    await this.reload();
    return this.list();
  }

  /** Deletes a key at once: tokens it signed stop verifying. The ring is completed again. */
  async revoke(kid: string): Promise<boolean> {
    await this.reload();
    const k = this.#keys.get(kid);
    if (!k) return false;
    const upsert: StoredKey[] = [];
    if (k.state === 'current') {
      const next = [...this.#keys.values()].find((x) => x.state === 'next');
      if (next) upsert.push({ ...next, state: 'current', activatedAt: this.#opts.clock.now() });
    }
    await this.#opts.store.saveKeys({ upsert, remove: [kid] });
    await this.reload();
    await this.#ensureComplete();
    return true;
  }

  /** Deletes retired keys past their `deleteAfter`. */
  async purgeExpired(): Promise<number> {
    const now = this.#opts.clock.now();
    const remove = [...this.#keys.values()]
      .filter((k) => k.state === 'retired' && k.deleteAfter !== null && k.deleteAfter <= now)
      .map((k) => k.kid);
    if (remove.length > 0) {
      await this.#opts.store.saveKeys({ upsert: [], remove });
      await this.reload();
    }
    return remove.length;
  }

  #currentStored(): StoredKey | undefined {
    return [...this.#keys.values()].find((k) => k.state === 'current');
  }

  #deleteAfter(now: number): number {
    // Every token the key signed expires within the lifetime plus the clock tolerance.
    return (
      now + (this.#opts.accessTokenTtlSeconds + this.#opts.clockToleranceSeconds) * 1000 + 60_000
    );
  }

  async #ensureComplete(): Promise<void> {
    const upsert: StoredKey[] = [];
    const states = new Set([...this.#keys.values()].map((k) => k.state));
    if (!states.has('current')) upsert.push(await this.#generate('current'));
    if (!states.has('next')) upsert.push(await this.#generate('next'));
    if (upsert.length > 0) {
      await this.#opts.store.saveKeys({ upsert, remove: [] });
      await this.reload();
    }
  }

  async #generate(state: KeyState): Promise<StoredKey> {
    const alg = this.#opts.algorithm;
    // Off the event loop: an RSA key takes tens to hundreds of ms, and rotation runs while the
    // server is serving.
    const pair =
      alg === 'RS256'
        ? await generate('rsa', { modulusLength: 2048, publicExponent: 0x10001 })
        : alg === 'ES256'
          ? await generate('ec', { namedCurve: 'P-256' })
          : await generate('ed25519', {});
    const privateJwk = pair.privateKey.export({ format: 'jwk' }) as JWK;
    const pub = pair.publicKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(pub, 'sha256');
    const now = this.#opts.clock.now();
    return {
      kid,
      alg,
      state,
      privateJwk,
      publicJwk: pub,
      createdAt: now,
      activatedAt: state === 'current' ? now : null,
      retiredAt: null,
      deleteAfter: null,
    };
  }
}

const generateAsync = promisify(generateKeyPair);

function generate(
  type: 'rsa' | 'ec' | 'ed25519',
  options: { modulusLength?: number; publicExponent?: number; namedCurve?: string },
): Promise<{ publicKey: KeyObject; privateKey: KeyObject }> {
  return (
    generateAsync as (
      t: string,
      o: object,
    ) => Promise<{ publicKey: KeyObject; privateKey: KeyObject }>
  )(type, options);
}

function publicJwk(k: StoredKey): JWK {
  const out: JWK = {};
  for (const m of PUBLIC_MEMBERS) {
    const v = k.publicJwk[m];
    if (typeof v === 'string') out[m] = v;
  }
  out.kid = k.kid;
  out.alg = k.alg;
  out.use = 'sig';
  return out;
}
