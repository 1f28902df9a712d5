import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { loadConfig } from '../../src/config/load-config.js';
import type { CallgateConfig } from '../../src/config/config.js';
import { createCallgate, type Callgate, type Plugin } from '../../src/app.js';
import { defaultPlugins } from '../../src/plugins.js';
import { generateApiKey } from '../../src/auth/api-keys.js';
import { LOG_REDACTION } from '../../src/log/create-logger.js';
import type { Store } from '../../src/store/store.js';
import type { Clock } from '../../src/util/clock.js';

/** Every log line written by every test server in this process (for the no-secrets test). */
export const capturedLogs: string[] = [];

export interface TestServer {
  app: Callgate;
  url: string;
  wsUrl: string;
  port: number;
  config: CallgateConfig;
  tenant: string;
  /** A plaintext API key for `tenant`. */
  apiKey: string;
  dataDir: string;
  logs: string[];
  /** Mint a token through the real HTTP API. */
  mint(
    body: Record<string, unknown>,
    apiKey?: string,
  ): Promise<{ token: string; expiresAt: number; sessionId: string }>;
  close(): Promise<void>;
}

export interface TestServerOptions {
  /** Dotted config overrides. */
  config?: Record<string, unknown>;
  store?: Store;
  clock?: Clock;
  /** Reuse a data directory (restart tests); a temporary one is created otherwise. */
  dataDir?: string;
  /** Keep the data directory on close. */
  keepDataDir?: boolean;
  plugins?: Plugin[];
  tenant?: string;
}

/**
 * A real Callgate server on 127.0.0.1 port 0 with a fresh SQLite data directory, a tenant and
 * an API key; its log lines are captured in memory.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'callgate-test-'));
  const config = loadConfig({
    env: {},
    cwd: dataDir,
    overrides: {
      dataDir,
      'server.host': '127.0.0.1',
      'server.port': 0,
      'log.level': 'debug',
      // Load shedding reacts to the whole test process's event loop (key generation in a test,
      // a busy CI machine); only the tests about it turn it on.
      'signal.maxEventLoopLagMs': 0,
      ...options.config,
    },
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const line = chunk.toString('utf8');
      logs.push(line);
      capturedLogs.push(line);
      cb();
    },
  });
  const logger = pino({ level: 'debug', ...LOG_REDACTION }, sink);
  const app = await createCallgate(
    {
      config,
      logger,
      ...(options.store ? { store: options.store } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
    },
    options.plugins ?? defaultPlugins(),
  );
  const store = app.services.store;
  const tenant = options.tenant ?? 'acme';
  if ((await store.getTenant(tenant)) === null) await store.createTenant(tenant, Date.now());
  const key = generateApiKey(tenant, Date.now(), 'test');
  await store.createApiKey(key.record);
  const { port, url } = await app.listen();
  const base = `http://127.0.0.1:${port}`;
  void url;
  return {
    app,
    url: base,
    wsUrl: `ws://127.0.0.1:${port}`,
    port,
    config,
    tenant,
    apiKey: key.plaintext,
    dataDir,
    logs,
    async mint(body, apiKey = key.plaintext) {
      const res = await fetch(`${base}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.status !== 201) throw new Error(`mint failed: ${res.status} ${await res.text()}`);
      return (await res.json()) as { token: string; expiresAt: number; sessionId: string };
    },
    async close() {
      await app.close();
      if (!options.keepDataDir && options.dataDir === undefined)
        rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A clock tests can move: starts at `start` ms and only moves when told. */
export function manualClock(
  start = Date.now(),
): Clock & { advance(ms: number): void; set(ms: number): void } {
  let t = start;
  return {
    now: () => t,
    advance(ms) {
      t += ms;
    },
    set(ms) {
      t = ms;
    },
  };
}
