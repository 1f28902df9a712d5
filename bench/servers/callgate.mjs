// Callgate as the benchmark runs it: the real server (createCallgate with the default plugins,
// SQLite store, pino at `info` to stdout, which the harness sends to /dev/null), started from
// source through tsx. Only the limits a load generator on one machine would trip are raised:
// per-connection message rate (the relay scenarios send several hundred messages per second
// per connection), handshakes per IP (thousands of connects per second from a few loopback
// addresses), mints per API key and TURN requests per user. Every check still runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../packages/server/src/config/load-config.js';
import { createCallgate } from '../../packages/server/src/app.js';
import { defaultPlugins } from '../../packages/server/src/plugins.js';
import { generateApiKey } from '../../packages/server/src/auth/api-keys.js';
import { serveHarness } from './common.mjs';

const port = Number(process.env.PORT ?? 0);
const dataDir = mkdtempSync(join(tmpdir(), 'callgate-bench-'));
const config = loadConfig({
  env: {},
  cwd: dataDir,
  overrides: {
    dataDir,
    'server.host': '127.0.0.1',
    'server.port': port,
    'log.level': process.env.LOG_LEVEL ?? 'info',
    'signal.messagesPerSecond': 1_000_000,
    'signal.messageBurst': 1_000_000,
    'signal.handshakesPerSecondPerIp': 1_000_000,
    'auth.mintRatePerSecond': 1_000_000,
    'turn.requestsPerMinutePerUser': 1_000_000,
  },
});
const app = await createCallgate({ config }, defaultPlugins());
const store = app.services.store;
await store.createTenant('bench', Date.now());
const key = generateApiKey('bench', Date.now(), 'bench');
await store.createApiKey(key.record);
const { port: bound } = await app.listen();
serveHarness({ port: bound, apiKey: key.plaintext }, async () => {
  await app.close();
  rmSync(dataDir, { recursive: true, force: true });
});
