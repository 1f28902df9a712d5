/**
 * A dev-mode Callgate server for the browser tests: `/demo`, `/dev/token` and the built SDK, on
 * 127.0.0.1 port 0, with tokens short-lived enough that a refresh happens during a test.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from '../../../packages/server/src/cli/main.js';
import type { CliIo } from '../../../packages/server/src/cli/io.js';
import {
  startTestServer,
  type TestServer,
} from '../../../packages/server/test/support/test-server.js';
import { startCoturn, type CoturnHandle } from '../../../packages/server/test/support/coturn.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

let building: Promise<void> | undefined;

/**
 * Builds the SDK and the protocol package (`tsc -b packages/client`, incremental: about a
 * second when nothing changed). The page loads them from `dist/`, so a fresh clone works and a
 * changed SDK source is what the browser runs.
 */
export function buildSdk(): Promise<void> {
  building ??= new Promise<void>((resolve, reject) => {
    const tsc = join(ROOT, 'node_modules/typescript/bin/tsc');
    const child = spawn(process.execPath, [tsc, '-b', 'packages/client'], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (output += c.toString('utf8')));
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0
        ? resolve()
        : reject(
            new Error(`tsc -b packages/client failed (exit ${code}):\n${output.slice(-4000)}`),
          ),
    );
  });
  return building;
}

/** Config of every demo server: dev mode, the `default` tenant, 30 s tokens, 5 s allowed. */
const DEMO_CONFIG = {
  dev: true,
  'auth.accessTokenTtlSeconds': 30,
  'auth.minTokenTtlSeconds': 5,
  // A page that vanishes without a close frame leaves its room after 3 s, not 10.
  'signal.resumeGraceMs': 3000,
};

/**
 * Starts a dev-mode server (tenant `default`, which `/dev/token` mints for).
 *
 * @example
 * const server = await startDemoServer();
 * after(() => server.close());
 * await page.goto(`${server.url}/demo/`);
 */
export async function startDemoServer(
  options: { config?: Record<string, unknown>; dataDir?: string } = {},
): Promise<TestServer> {
  await buildSdk();
  return startTestServer({
    tenant: 'default',
    ...(options.dataDir !== undefined ? { dataDir: options.dataDir } : {}),
    config: { ...DEMO_CONFIG, ...options.config },
  });
}

/** A demo server whose `turn.urls` is a real coturn running `callgate coturn-config`'s output. */
export interface RelayedDemo {
  server: TestServer;
  coturn: CoturnHandle;
  turnUrl: string;
  close(): Promise<void>;
}

/**
 * The product's own path to a relay: `callgate coturn-config` for a fresh data directory
 * (which creates the TURN secret), coturn started on that config (plus the harness's loopback
 * lines), then the server on the same data directory with `turn.urls` pointing at coturn.
 */
export async function startRelayedDemo(): Promise<RelayedDemo> {
  const dataDir = await mkdtemp(join(tmpdir(), 'callgate-e2e-'));
  const cleanups: Array<() => Promise<void>> = [
    () => rm(dataDir, { recursive: true, force: true }),
  ];
  const close = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => {});
  };
  try {
    const stdout: string[] = [];
    const stderr: string[] = [];
    const io: CliIo = {
      out: (line) => void stdout.push(line),
      err: (line) => void stderr.push(line),
      readStdin: () => Promise.resolve(''),
    };
    const code = await runCli(['coturn-config', '--data-dir', dataDir], io);
    if (code !== 0) throw new Error(`callgate coturn-config exited ${code}: ${stderr.join('\n')}`);
    const coturn = await startCoturn({ configText: stdout.join('\n') });
    cleanups.push(() => coturn.stop());
    const turnUrl = `turn:127.0.0.1:${coturn.port}?transport=udp`;
    const server = await startDemoServer({ dataDir, config: { 'turn.urls': [turnUrl] } });
    cleanups.push(() => server.close());
    return { server, coturn, turnUrl, close };
  } catch (error) {
    await close();
    throw error;
  }
}
