/**
 * The server side of the soak (run-soak.ts): a real Callgate in its own process on 127.0.0.1,
 * so its RSS and event-loop delay are its own, not the load generator's. Speaks to the parent
 * over IPC: sends `{ ready, port, apiKey }`, answers `report` with its metrics, exits on `stop`.
 *
 * argv[2]: JSON of dotted config overrides.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../../src/config/load-config.js';
import { createCallgate } from '../../src/app.js';
import { defaultPlugins } from '../../src/plugins.js';
import { generateApiKey } from '../../src/auth/api-keys.js';
import { createLogger } from '../../src/log/create-logger.js';

const overrides = JSON.parse(process.argv[2] ?? '{}') as Record<string, unknown>;
const dataDir = mkdtempSync(join(tmpdir(), 'callgate-soak-'));
const config = loadConfig({
  env: {},
  cwd: dataDir,
  overrides: { dataDir, 'server.host': '127.0.0.1', 'server.port': 0, ...overrides },
});
const delay = monitorEventLoopDelay({ resolution: 10 });
const app = await createCallgate(
  { config, logger: createLogger({ level: 'warn' }) },
  defaultPlugins(),
);
const tenant = 'soak';
await app.services.store.createTenant(tenant, Date.now());
const key = generateApiKey(tenant, Date.now(), 'soak');
await app.services.store.createApiKey(key.record);
const { port } = await app.listen();

function report() {
  return {
    rssBytes: process.memoryUsage().rss,
    heapUsedBytes: process.memoryUsage().heapUsed,
    eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
    eventLoopDelayMaxMs: delay.max / 1e6,
    eventLoopDelayMeanMs: delay.mean / 1e6,
  };
}

process.on('message', (m: { type: string }) => {
  if (m.type === 'report') {
    // A full collection first (the child runs with --expose-gc), so heapUsed is what is live.
    (globalThis as { gc?: () => void }).gc?.();
    process.send!({ type: 'report', ...report() });
  } else if (m.type === 'reset') {
    delay.reset();
    process.send!({ type: 'reset' });
  } else if (m.type === 'start') {
    delay.enable();
    process.send!({ type: 'started' });
  } else if (m.type === 'stop')
    void app.close().then(() => {
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    });
});
// The parent is gone (killed, crashed): never outlive it.
process.on('disconnect', () => {
  rmSync(dataDir, { recursive: true, force: true });
  process.exit(0);
});
process.send!({ type: 'ready', port, apiKey: key.plaintext, ...report() });
