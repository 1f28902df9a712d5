import type { SigningAlgorithm } from './schema.js';
import type { TrustedIssuerConfig } from './trusted-issuers.js';

/** The validated, frozen configuration. Library code receives this; only the loader reads env. */
export interface CallgateConfig {
  readonly dataDir: string;
  readonly dev: boolean;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly publicUrl: string | undefined;
    readonly trustProxy: boolean;
    readonly maxBodyBytes: number;
    readonly headersTimeoutMs: number;
    readonly requestTimeoutMs: number;
    readonly shutdownDrainMs: number;
  };
  readonly log: { readonly level: string };
  readonly auth: {
    readonly issuer: string | undefined;
    readonly audience: string;
    readonly algorithm: SigningAlgorithm;
    readonly allowedAlgorithms: readonly SigningAlgorithm[];
    readonly accessTokenTtlSeconds: number;
    readonly minTokenTtlSeconds: number;
    readonly clockToleranceSeconds: number;
    readonly keyRotationDays: number;
    readonly maxTokenBytes: number;
    readonly sessionTtlSeconds: number;
    readonly sessionIdleSeconds: number;
    readonly sessionAllowedOrigins: readonly string[];
    readonly mintRatePerSecond: number;
    /** External OpenID providers (docs/external-issuers.md). */
    readonly trustedIssuers: readonly TrustedIssuerConfig[];
  };
  readonly signal: {
    readonly allowQueryToken: boolean;
    readonly allowedOrigins: readonly string[];
    readonly maxMessageBytes: number;
    readonly resumeGraceMs: number;
    readonly resumeBufferMessages: number;
    readonly resumeBufferBytes: number;
    readonly pingIntervalMs: number;
    readonly pongTimeoutMs: number;
    readonly messagesPerSecond: number;
    readonly messageBurst: number;
    readonly rateLimitStrikes: number;
    readonly maxRoomsPerConnection: number;
    readonly maxPeersPerRoom: number;
    readonly maxConnectionsPerUser: number;
    readonly replaceDuplicateConnections: boolean;
    readonly maxBufferedBytes: number;
    readonly maxInvalidMessages: number;
    readonly handshakesPerSecondPerIp: number;
    readonly maxConnectionsPerIp: number;
    readonly maxEventLoopLagMs: number;
    readonly tokenExpiringLeadSeconds: number;
  };
  readonly turn: {
    /** Resolved secret values, newest (signing) first. Empty: the store's generated secret is used. */
    readonly secrets: readonly string[];
    readonly ttlSeconds: number;
    readonly urls: readonly string[];
    readonly realm: string | undefined;
    readonly requestsPerMinutePerUser: number;
  };
}

/** One configuration problem, with the dotted path of the key at fault. */
export interface ConfigIssue {
  path: string;
  message: string;
  source?: string;
}

/** Thrown by the loader with every problem found, before anything listens. */
export class ConfigError extends Error {
  readonly issues: readonly ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super(
      'Invalid configuration:\n' +
        issues
          .map((i) => `  - ${i.path}: ${i.message}${i.source ? ` (from ${i.source})` : ''}`)
          .join('\n'),
    );
    this.name = 'ConfigError';
    this.issues = issues;
  }
}
