import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { CallgateError } from '@callgate/protocol';
import { ConfigError, type CallgateConfig } from './config/config.js';
import { openSqliteStore } from './store/sqlite-store.js';
import type { Store } from './store/store.js';
import { systemClock, type Clock } from './util/clock.js';
import { createLogger, redactUrl, type Logger } from './log/create-logger.js';
import { Keyring } from './auth/keyring.js';
import { RevocationList } from './auth/revocation-list.js';
import { createTokenVerifier } from './auth/verify-access-token.js';
import { cacheVerifiedTokens } from './auth/verified-token-cache.js';
import { createTokenIssuer } from './auth/issue-access-token.js';
import {
  checkJwksHosts,
  createExternalIssuers,
  type ExternalIssuers,
} from './auth/external-issuers.js';
import { Router } from './http/router.js';
import { sendError } from './http/respond.js';
import { addWellKnownRoutes } from './http/routes/well-known.js';
import { addTokenRoutes } from './http/routes/tokens.js';
import { addSessionRoutes } from './http/routes/sessions.js';
import { addHealthRoutes } from './http/routes/health.js';
import { addDevRoutes } from './http/routes/dev.js';
import { addDemoRoutes } from './http/routes/demo.js';
import { addBrowserSessionRoutes } from './http/routes/browser-sessions.js';
import { addDevSessionRoute } from './http/routes/dev-session.js';
import type { Services } from './services.js';

/** The store setting where a running server records its issuer for the CLI. */
export const ISSUER_SETTING = 'issuer';

export interface CallgateOptions {
  config: CallgateConfig;
  /** Defaults to the SQLite store in `config.dataDir`. */
  store?: Store;
  clock?: Clock;
  logger?: Logger;
}

/** Installs extra routes and the upgrade handler; the signaling and TURN layers plug in here. */
export type Plugin = (ctx: {
  router: Router;
  server: Server;
  services: Services;
}) => PluginHandle | void | Promise<PluginHandle | void>;
export interface PluginHandle {
  /** Called on SIGTERM-style shutdown before the HTTP server closes. */
  drain?(): Promise<void>;
  close?(): Promise<void>;
}

export interface Callgate {
  readonly services: Services;
  readonly server: Server;
  readonly router: Router;
  /** Starts listening; resolves with the bound port and base URL. */
  listen(): Promise<{ port: number; url: string }>;
  /** Graceful: stop accepting, let plugins drain (going_away, 1001), close the store. */
  shutdown(): Promise<void>;
  /** Immediate close (tests). */
  close(): Promise<void>;
}

const STORE_POLL_MS = 1000;
const MAINTENANCE_MS = 60_000;

/**
 * Builds a Callgate server: store, keyring, token service and the HTTP API. Nothing listens
 * until `listen()`.
 *
 * @example
 * ```ts
 * const app = await createCallgate({ config: loadConfig() });
 * const { url } = await app.listen();
 * ```
 */
export async function createCallgate(
  options: CallgateOptions,
  plugins: Plugin[] = [],
): Promise<Callgate> {
  const { config } = options;
  const clock = options.clock ?? systemClock;
  const log = options.logger ?? createLogger({ level: config.log.level });
  // Before the store opens: a refused JWKS host is a configuration error (nothing to close).
  const externalIssuers = await openExternalIssuers(config, clock, log);
  const store = options.store ?? openSqliteStore(config.dataDir);
  const keyring = await Keyring.open({
    store,
    clock,
    algorithm: config.auth.algorithm,
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
    clockToleranceSeconds: config.auth.clockToleranceSeconds,
    keyRotationDays: config.auth.keyRotationDays,
  });
  const revocations = new RevocationList(store, clock);
  await revocations.reload();

  const publicUrl = config.server.publicUrl ?? `http://localhost:${config.server.port}`;
  // With port 0 and no publicUrl, both are known only once listening (see listen()).
  const issuer = () => services.issuer;
  const services: Services = {
    config,
    store,
    clock,
    log,
    keyring,
    revocations,
    issuer: config.auth.issuer ?? publicUrl,
    publicUrl,
    // A token seen again (connect, then the TURN request; reconnects) skips the signature
    // check; revocation, expiry and the key's presence are still checked (verified-token-cache.ts).
    verifyToken: cacheVerifiedTokens(
      createTokenVerifier({
        keyring,
        revocations,
        clock,
        issuer,
        audience: config.auth.audience,
        allowedAlgorithms: config.auth.allowedAlgorithms,
        accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
        clockToleranceSeconds: config.auth.clockToleranceSeconds,
        maxTokenBytes: config.auth.maxTokenBytes,
        externalIssuers,
        tenantExists: async (name) => (await store.getTenant(name)) !== null,
      }),
      {
        keyring,
        revocations,
        clock,
        issuer,
        accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
      },
    ),
    issueToken: createTokenIssuer({ keyring, clock, issuer, audience: config.auth.audience }),
    connections: [],
    reloaders: [],
    draining: false,
  };

  const router = new Router();
  addHealthRoutes(router, services);
  addWellKnownRoutes(router, services);
  addTokenRoutes(router, services);
  addSessionRoutes(router, services);
  const browserSessions = addBrowserSessionRoutes(router, services);
  if (config.dev) {
    addDevRoutes(router, services);
    addDevSessionRoute(router, services, browserSessions);
    addDemoRoutes(router);
  }

  const server = createHttpServer({
    headersTimeout: config.server.headersTimeoutMs,
    requestTimeout: config.server.requestTimeoutMs,
    // How often Node looks for connections past those timeouts (default 30 s): without this a
    // slowloris upgrade outlives `headersTimeoutMs` by up to 30 s (catalogue D57).
    connectionsCheckingInterval: Math.min(1000, config.server.headersTimeoutMs / 2),
    maxHeaderSize: 16 * 1024,
  });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    void handleRequest(services, router, req, res);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    if (!socket.writable) return socket.destroy();
    const status =
      err.code === 'HPE_HEADER_OVERFLOW'
        ? 431
        : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? 408
          : 400;
    socket.end(
      `HTTP/1.1 ${status} ${status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request'}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`,
    );
  });

  const handles: PluginHandle[] = [];
  for (const plugin of plugins) {
    const h = await plugin({ router, server, services });
    if (h) handles.push(h);
  }

  // Pick up changes made by other processes on the same store (CLI rotate/revoke, revocations).
  let lastVersion = await store.changeVersion();
  const poll = setInterval(() => {
    void (async () => {
      const v = await store.changeVersion();
      if (v === lastVersion) return;
      lastVersion = v;
      await keyring.reload();
      await revocations.reload();
      for (const reload of services.reloaders) await reload();
    })().catch((err: unknown) => log.error({ err }, 'store reload failed'));
  }, STORE_POLL_MS);
  poll.unref();
  const maintenance = setInterval(() => {
    void (async () => {
      if (keyring.rotationDue()) {
        await keyring.rotate();
        log.info(
          { event: 'keys_rotated', current: keyring.signingKey().kid },
          'signing keys rotated',
        );
      }
      await keyring.purgeExpired();
      await revocations.purge();
      await store.purgeSessionFamilies(clock.now());
    })().catch((err: unknown) => log.error({ err }, 'maintenance failed'));
  }, MAINTENANCE_MS);
  maintenance.unref();

  let closed = false;
  const closeAll = async (graceful: boolean): Promise<void> => {
    if (closed) return;
    closed = true;
    services.draining = true;
    clearInterval(poll);
    clearInterval(maintenance);
    const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
    if (graceful) for (const h of handles) await h.drain?.();
    for (const h of handles) await h.close?.();
    server.closeAllConnections();
    await stopped;
    await store.close();
  };

  return {
    services,
    server,
    router,
    async listen() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(config.server.port, config.server.host, () => {
          server.off('error', reject);
          resolve();
        });
      });
      const port = (server.address() as AddressInfo).port;
      const host =
        config.server.host === '0.0.0.0' || config.server.host === '::'
          ? 'localhost'
          : config.server.host;
      const url = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
      if (config.server.port === 0 && config.server.publicUrl === undefined) {
        // Port 0: the URL is known only now. The issuer follows unless configured.
        (services as { publicUrl: string }).publicUrl = url;
        if (config.auth.issuer === undefined) (services as { issuer: string }).issuer = url;
      }
      // CLI commands on the same data directory (token mint, verify) use the issuer the server uses.
      await store.setSetting(ISSUER_SETTING, services.issuer);
      log.info(
        { event: 'listening', port, issuer: services.issuer },
        `Callgate listening on ${url}`,
      );
      return { port, url };
    },
    shutdown: () => closeAll(true),
    close: () => closeAll(false),
  };
}

/**
 * The trusted external issuers (docs/external-issuers.md): their JWKS hosts are resolved and
 * checked before anything listens (catalogue C40), then each key set is fetched once in the
 * background so the first token does not wait; an unreachable issuer is logged, not fatal.
 */
async function openExternalIssuers(
  config: CallgateConfig,
  clock: Clock,
  log: Logger,
): Promise<ExternalIssuers> {
  const trusted = config.auth.trustedIssuers;
  if (trusted.length === 0) return new Map();
  const issues = await checkJwksHosts(trusted, { dev: config.dev });
  if (issues.length > 0) throw new ConfigError(issues);
  const issuers = createExternalIssuers(trusted, {
    clock,
    dev: config.dev,
    onFetch: (issuer, e) =>
      e.ok
        ? log.info(
            { event: 'jwks_fetched', issuer, keys: e.keys, rejected: e.rejected },
            'external issuer keys fetched',
          )
        : log.warn(
            { event: 'jwks_fetch_failed', issuer, reason: e.reason },
            'external issuer keys unavailable',
          ),
  });
  for (const i of issuers.values()) void i.keys.warmUp();
  return issuers;
}

async function handleRequest(
  services: Services,
  router: Router,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const started = performance.now();
  const remoteAddress = clientAddress(req, services.config.server.trustProxy);
  res.on('finish', () => {
    const l = res.locals ?? {};
    const line = {
      event: 'http',
      method: req.method,
      path: redactUrl(req.url),
      status: res.statusCode,
      ms: Math.round((performance.now() - started) * 10) / 10,
      remote: remoteAddress,
      tenant: l.tenant,
      sub: l.sub,
      sid: l.sid,
      code: l.errorCode,
      detail: l.detail,
    };
    if (res.statusCode === 401 || res.statusCode === 403) services.log.warn(line, 'auth failure');
    else if (res.statusCode >= 500) services.log.error(line, 'request failed');
    else services.log.info(line, 'request');
  });
  try {
    if (services.draining && !req.url?.startsWith('/healthz')) throw new CallgateError('draining');
    const url = new URL(req.url ?? '/', 'http://localhost');
    await router.dispatch(req, res, url, remoteAddress);
  } catch (err) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (err instanceof CallgateError) {
      if ('detail' in err && typeof err.detail === 'string')
        res.locals = { ...res.locals, detail: err.detail };
      const retry = (err as { retryAfterMs?: number }).retryAfterMs;
      sendError(res, err, retry ? { 'retry-after': Math.max(1, Math.ceil(retry / 1000)) } : {});
    } else {
      services.log.error(
        { err: { message: (err as Error).message, name: (err as Error).name } },
        'unhandled error',
      );
      sendError(res, 'internal_error');
    }
  }
}

/** The socket address, or the first `X-Forwarded-For` hop only when `server.trustProxy` is on. */
export function clientAddress(
  req: Pick<IncomingMessage, 'headers' | 'socket'>,
  trustProxy: boolean,
): string {
  if (trustProxy) {
    const xff = req.headers['x-forwarded-for'];
    const first = (Array.isArray(xff) ? xff[0] : xff)?.split(',')[0]?.trim();
    if (first) return first;
  }
  return req.socket.remoteAddress ?? 'unknown';
}
