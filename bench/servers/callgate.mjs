// Callgate as the benchmark runs it: the real server (createCallgate with the default plugins,
// SQLite store, pino at `info` to stdout, which the harness sends to /dev/null), started from
// source through tsx or compiled. Only the limits a load generator on one machine would trip are raised:
// per-connection message rate (the relay scenarios send several hundred messages per second
// per connection), handshakes per IP (thousands of connects per second from a few loopback
// addresses), mints per API key and TURN requests per user. Every check still runs. Its issuer
// is fixed, and in a benchmark run its data directory is the run's (BENCH_DATA_DIR), so a token
// minted by one process serves the next.
// BENCH_OVERRIDES (JSON, e.g. '{"signal.pingIntervalMs":600000}') overrides configuration keys
// for a diagnostic A/B run; results made with it are not the benchmark's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { serveHarness } from './common.mjs';

// CALLGATE_BUILD=dist runs the compiled server (what `npm start` runs; the harness builds it
// first); otherwise the TypeScript sources through tsx (node --import tsx). CALLGATE_SERVER_DIR
// names another build's compiled server (`callgate-base` in an A/B run: BENCH_BASE's
// packages/server/dist), run by this script.
const base = process.env.CALLGATE_SERVER_DIR
  ? pathToFileURL(join(process.env.CALLGATE_SERVER_DIR, '/')).href
  : process.env.CALLGATE_BUILD === 'dist'
    ? '../../packages/server/dist/'
    : '../../packages/server/src/';
const { loadConfig } = await import(`${base}config/load-config.js`);
const { createCallgate } = await import(`${base}app.js`);
const { defaultPlugins } = await import(`${base}plugins.js`);
const { generateApiKey } = await import(`${base}auth/api-keys.js`);

const port = Number(process.env.PORT ?? 0);
// BENCH_DATA_DIR: the run's data directory, reopened by every start (the harness removes it
// when it exits); otherwise a fresh one, removed at exit.
const shared = process.env.BENCH_DATA_DIR;
const dataDir = shared ?? mkdtempSync(join(tmpdir(), 'callgate-bench-'));
const config = loadConfig({
  env: {},
  cwd: dataDir,
  overrides: {
    dataDir,
    'server.host': '127.0.0.1',
    'server.port': port,
    // A fixed issuer, as a deployment behind its public address has: the default is the
    // listening address, whose port is new at every start, and a restarted server (see
    // BENCH_DATA_DIR) would refuse the tokens it minted before.
    'auth.issuer': 'http://callgate.bench.test',
    // Tokens of 15 minutes instead of 5, so that the tokens minted at a run's start serve its
    // last rounds (a run takes about six minutes) instead of being minted again on the server's
    // core between rounds. Nothing measured depends on the lifetime: every connect verifies its
    // token in full and sets the same expiry timers.
    'auth.accessTokenTtlSeconds': 900,
    'log.level': process.env.LOG_LEVEL ?? 'info',
    'signal.messagesPerSecond': 1_000_000,
    'signal.messageBurst': 1_000_000,
    'signal.handshakesPerSecondPerIp': 1_000_000,
    'auth.mintRatePerSecond': 1_000_000,
    'turn.requestsPerMinutePerUser': 1_000_000,
    ...(process.env.BENCH_OVERRIDES ? JSON.parse(process.env.BENCH_OVERRIDES) : {}),
  },
});
const app = await createCallgate({ config }, defaultPlugins());
const store = app.services.store;
if (!(await store.getTenant('bench'))) await store.createTenant('bench', Date.now());
const key = generateApiKey('bench', Date.now(), 'bench');
await store.createApiKey(key.record);
const { port: bound } = await app.listen();
// dataDir: the harness checks that the run's directory is the one open (see BENCH_DATA_DIR).
serveHarness({ port: bound, apiKey: key.plaintext, dataDir: shared ?? null }, async () => {
  await app.close();
  if (!shared) rmSync(dataDir, { recursive: true, force: true });
});
