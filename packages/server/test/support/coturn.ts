/**
 * Test harness: a real coturn (`turnserver`, Debian package `coturn`, 4.6.1 on bookworm) on
 * 127.0.0.1 with a throwaway config, and a UDP echo peer for relay round trips.
 *
 * - Never uses port 3478 and never runs coturn as a system service.
 * - Installs the package when it is missing and the tests run as root (`apt-get install`);
 *   otherwise fails with the exact command to run. It never skips silently.
 * - Every process it starts is stopped by PID (SIGTERM, then SIGKILL after 2 s), and as a last
 *   resort killed when the test process exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stunBinding } from '../../src/turn/stun-binding.js';
import { aptInstall, findOnPath, isExecutable } from './debian-package.js';

/** The command a developer runs when the harness cannot install coturn by itself. */
export const COTURN_INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y coturn';

/** A running coturn started by {@link startCoturn}. */
export interface CoturnHandle {
  /** UDP and TCP listening port on 127.0.0.1. */
  readonly port: number;
  readonly pid: number;
  /** coturn's log (`verbose`, `simple-log`); removed by `stop()`. */
  readonly logFile: string;
  /** `turnserver --version`, e.g. "4.6.1". */
  readonly version: string;
  /** The log so far, with the config's secrets redacted. */
  readLog(): string;
  /** SIGTERM, SIGKILL after 2 s, then the temp files go. Idempotent. */
  stop(): Promise<void>;
}

/** Options of {@link startCoturn}. */
export interface StartCoturnOptions {
  /** The config under test, e.g. `renderCoturnConfig(...)`; test-only lines are appended. */
  configText: string;
  /** How long to wait for coturn to answer a STUN Binding request; default 15 s. */
  readyTimeoutMs?: number;
}

const live = new Map<number, ChildProcess>();
process.once('exit', () => {
  // Last resort when a test forgot stop(): never leave a relay behind.
  for (const pid of live.keys()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/**
 * Starts `turnserver -c <temp config>` with `configText` plus test-only lines (loopback
 * listener and relay, a random high port, `allow-loopback-peers` with `allowed-peer-ip=127.0.0.1`
 * because the production baseline denies 127/8, no TLS/DTLS, a small relay port range, a
 * verbose log in a temp dir). Resolves once coturn answers a STUN Binding request.
 *
 * @example
 * const coturn = await startCoturn({ configText: renderCoturnConfig({ secrets, realm }) });
 * after(() => coturn.stop());
 */
export async function startCoturn(options: StartCoturnOptions): Promise<CoturnHandle> {
  const binary = await ensureCoturnInstalled();
  const version = turnserverVersion(binary);
  let lastError: unknown;
  // A port picked as free can be taken before coturn binds it; try a few times.
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      return await startOnce(binary, version, options);
    } catch (err) {
      lastError = err;
    }
  }
  throw lastError;
}

async function startOnce(
  binary: string,
  version: string,
  { configText, readyTimeoutMs = 15_000 }: StartCoturnOptions,
): Promise<CoturnHandle> {
  const dir = await mkdtemp(join(tmpdir(), 'callgate-coturn-'));
  const port = await freePortPair();
  const minPort = 61_000 + Math.floor(Math.random() * 3_900);
  const logFile = join(dir, 'turnserver.log');
  const configFile = join(dir, 'turnserver.conf');
  const testLines = [
    '',
    '# Test-only lines (test/support/coturn.ts): never in production.',
    'listening-ip=127.0.0.1',
    'relay-ip=127.0.0.1',
    `listening-port=${port}`,
    `alt-listening-port=${port + 1}`,
    'allow-loopback-peers',
    // The baseline denies 127/8; allowed-peer-ip wins over denied-peer-ip in coturn.
    'allowed-peer-ip=127.0.0.1',
    'no-cli',
    'no-tls',
    'no-dtls',
    `min-port=${minPort}`,
    `max-port=${minPort + 63}`,
    `log-file=${logFile}`,
    'simple-log',
    'verbose',
    'no-stdout-log',
    `pidfile=${join(dir, 'turnserver.pid')}`,
    `userdb=${join(dir, 'turndb')}`,
  ];
  await writeFile(configFile, `${configText.trimEnd()}\n${testLines.join('\n')}\n`, {
    mode: 0o600,
  });
  const secrets = [...configText.matchAll(/^\s*static-auth-secret[\s=]+(\S+)/gm)].map(
    (m) => m[1] ?? '',
  );
  const redact = (text: string) =>
    secrets.reduce((t, s) => (s ? t.split(s).join('[redacted]') : t), text);
  const readLog = () => {
    try {
      return redact(readFileSync(logFile, 'utf8'));
    } catch {
      return '';
    }
  };

  const child = spawn(binary, ['-c', configFile], {
    detached: true, // its own process group: a Ctrl-C of the runner does not race our stop()
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-4000);
  });
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      if (child.pid !== undefined) live.delete(child.pid);
      resolve();
    });
  });
  const spawnError = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', (err) => resolve(err));
  });
  if (spawnError || child.pid === undefined) {
    await rm(dir, { recursive: true, force: true });
    throw new Error(`cannot start ${binary}`, { cause: spawnError });
  }
  const pid = child.pid;
  live.set(pid, child);

  const signal = (name: NodeJS.Signals) => {
    try {
      process.kill(pid, name);
    } catch {
      // exited meanwhile (ESRCH)
    }
  };
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (exited === null) {
      signal('SIGTERM');
      const gone = await Promise.race([
        exitPromise.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000)),
      ]);
      if (!gone) {
        signal('SIGKILL');
        await exitPromise;
      }
    }
    child.stderr?.destroy();
    await rm(dir, { recursive: true, force: true });
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited !== null) {
      const log = readLog().split('\n').slice(-30).join('\n');
      await stop();
      throw new Error(
        `turnserver exited during startup (${JSON.stringify(exited)}).\n--- stderr ---\n${redact(stderr)}\n--- log ---\n${log}`,
      );
    }
    try {
      await stunBinding({ host: '127.0.0.1', port, timeoutMs: 250 });
      break;
    } catch {
      if (Date.now() > deadline) {
        const log = readLog().split('\n').slice(-30).join('\n');
        await stop();
        throw new Error(
          `turnserver did not answer STUN on 127.0.0.1:${port} within ${readyTimeoutMs} ms.\n--- log ---\n${log}`,
        );
      }
    }
  }
  return { port, pid, logFile, version, readLog, stop };
}

/** A UDP echo server on 127.0.0.1: every datagram goes back to its sender. */
export interface UdpEchoPeer {
  readonly address: '127.0.0.1';
  readonly port: number;
  /** How many datagrams it echoed. */
  readonly received: () => number;
  stop(): Promise<void>;
}

/**
 * Starts a UDP echo peer on 127.0.0.1, on `port` or an ephemeral port (the default).
 *
 * @example
 * const echo = await startUdpEchoPeer();
 * after(() => echo.stop());
 */
export async function startUdpEchoPeer(port = 0): Promise<UdpEchoPeer> {
  const socket: Socket = createSocket('udp4');
  let count = 0;
  socket.on('message', (data, from) => {
    count++;
    socket.send(data, from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', (err) => {
      socket.close();
      reject(err);
    });
    socket.bind(port, '127.0.0.1', () => {
      socket.removeAllListeners('error');
      resolve();
    });
  });
  let closed = false;
  return {
    address: '127.0.0.1',
    port: socket.address().port,
    received: () => count,
    stop: () =>
      closed
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            closed = true;
            socket.close(() => resolve());
          }),
  };
}

let installing: Promise<string> | undefined;

/**
 * The path of `turnserver`, installing Debian's `coturn` when missing and running as root.
 * Throws with {@link COTURN_INSTALL_COMMAND} when it cannot.
 */
export function ensureCoturnInstalled(): Promise<string> {
  installing ??= (async () => {
    const found = findTurnserver();
    if (found) return found;
    await aptInstall({
      name: 'coturn',
      installCommand: COTURN_INSTALL_COMMAND,
      installArgs: ['--no-install-recommends'],
      timeoutMs: 600_000,
    });
    stopSystemTurnserver();
    const installed = findTurnserver();
    if (!installed) {
      throw new Error(`coturn installed but turnserver not found. Run: ${COTURN_INSTALL_COMMAND}`);
    }
    return installed;
  })();
  return installing;
}

function findTurnserver(): string | undefined {
  if (isExecutable('/usr/bin/turnserver')) return '/usr/bin/turnserver';
  return findOnPath('turnserver');
}

function turnserverVersion(binary: string): string {
  const result = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000 });
  return `${result.stdout ?? ''}`.trim().split('\n').pop() ?? 'unknown';
}

/**
 * Debian's package may start a system-wide turnserver on 3478 (not in containers whose
 * policy-rc.d forbids it). If the install left one running, stop it: first through its init
 * script, then by the PID in its pidfile. Nothing else is touched.
 */
function stopSystemTurnserver(): void {
  const pidFiles = [
    '/run/turnserver/turnserver.pid',
    '/var/run/turnserver/turnserver.pid',
    '/run/turnserver.pid',
    '/var/run/turnserver.pid',
  ];
  for (const file of pidFiles) {
    if (!existsSync(file)) continue;
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1 || !isTurnserver(pid)) continue;
    spawnSync('service', ['coturn', 'stop'], { stdio: 'ignore', timeout: 30_000 });
    if (isTurnserver(pid)) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone meanwhile
      }
    }
  }
}

function isTurnserver(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'turnserver';
  } catch {
    return false;
  }
}

/** A port P with P and P+1 free on 127.0.0.1 for both UDP and TCP (coturn binds both). */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const udp = createSocket('udp4');
    const port = await new Promise<number>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(0, '127.0.0.1', () => resolve(udp.address().port));
    });
    const ok =
      port !== 3478 &&
      port < 65535 &&
      (await canBindUdp(port + 1)) &&
      (await canListenTcp(port)) &&
      (await canListenTcp(port + 1));
    await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (ok) return port;
  }
  throw new Error('no free port pair on 127.0.0.1');
}

function canBindUdp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

function canListenTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}
