import type { TrustedIssuerConfig } from '../config/trusted-issuers.js';
import type { ConfigIssue } from '../config/config.js';
import type { Clock } from '../util/clock.js';
import {
  classifyAddress,
  isAllowedAddress,
  systemLookupAll,
  type LookupAll,
} from '../util/address-policy.js';
import type { FetchJwksOptions } from './fetch-jwks.js';
import { RemoteKeySet, type KeySetFetchEvent } from './remote-key-set.js';

/** A trusted issuer ready for verification: its config, its own key set and algorithms. */
export interface ExternalIssuer {
  readonly config: TrustedIssuerConfig;
  readonly keys: RemoteKeySet;
  readonly algorithms: ReadonlySet<string>;
}

/** Trusted issuers by their exact `iss`. */
export type ExternalIssuers = ReadonlyMap<string, ExternalIssuer>;

export interface ExternalIssuerOptions {
  clock: Clock;
  /** `dev` allows loopback JWKS hosts for every issuer. */
  dev: boolean;
  /** Told about every JWKS fetch (the server logs it). */
  onFetch?: (issuer: string, event: KeySetFetchEvent) => void;
  /** Tests inject a fetcher or a resolver. */
  fetch?: (uri: string, options: FetchJwksOptions) => Promise<unknown>;
}

/**
 * Builds the registry the verifier dispatches on: one {@link RemoteKeySet} per issuer, so keys
 * are always selected by issuer and `kid` together (catalogue C43). Nothing is fetched here.
 *
 * @example
 * ```ts
 * const issuers = createExternalIssuers(config.auth.trustedIssuers, { clock, dev: config.dev });
 * ```
 */
export function createExternalIssuers(
  configs: readonly TrustedIssuerConfig[],
  options: ExternalIssuerOptions,
): ExternalIssuers {
  const map = new Map<string, ExternalIssuer>();
  for (const config of configs) {
    const keys = new RemoteKeySet({
      jwksUri: config.jwksUri,
      clock: options.clock,
      timeoutMs: config.jwksTimeoutMs,
      cooldownMs: config.jwksCooldownMs,
      cacheMaxAgeMs: config.jwksCacheMaxAgeSeconds * 1000,
      maxBytes: config.jwksMaxBytes,
      allowLoopback: options.dev || config.allowInsecureLoopback,
      ...(options.fetch ? { fetch: options.fetch } : {}),
      ...(options.onFetch
        ? { onFetch: (e: KeySetFetchEvent) => options.onFetch!(config.issuer, e) }
        : {}),
    });
    map.set(config.issuer, { config, keys, algorithms: new Set(config.algorithms) });
  }
  return map;
}

/**
 * The startup half of the JWKS URL policy (catalogue C40): a host name that resolves to a
 * loopback (unless allowed), private, link-local or reserved address is a configuration error,
 * reported before anything listens. A name that does not resolve at all is not: the provider's
 * DNS may be down while Callgate starts, and every connection is checked again at connect time.
 *
 * @example
 * ```ts
 * const issues = await checkJwksHosts(config.auth.trustedIssuers, { dev: config.dev });
 * if (issues.length > 0) throw new ConfigError(issues);
 * ```
 */
export async function checkJwksHosts(
  configs: readonly TrustedIssuerConfig[],
  options: { dev: boolean; lookupAll?: LookupAll },
): Promise<ConfigIssue[]> {
  const lookupAll = options.lookupAll ?? systemLookupAll;
  const issues: ConfigIssue[] = [];
  await Promise.all(
    configs.map(async (c, i) => {
      const host = new URL(c.jwksUri).hostname;
      if (classifyAddress(host) !== undefined) return; // literal addresses: checked by the loader
      let addresses: Array<{ address: string }>;
      try {
        addresses = await lookupAll(host);
      } catch {
        return;
      }
      const allowLoopback = options.dev || c.allowInsecureLoopback;
      const bad = addresses.find((a) => !isAllowedAddress(a.address, allowLoopback));
      if (bad !== undefined)
        issues.push({
          path: `auth.trustedIssuers[${i}].jwksUri`,
          message: `host ${host} resolves to ${bad.address}, which is not a public address`,
        });
    }),
  );
  return issues;
}
