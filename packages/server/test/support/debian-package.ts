/**
 * Installing a Debian package a test needs (coturn, chromium): done by the test itself when it
 * runs as root on Debian, otherwise a failure that names the exact command to run. Never a
 * silent skip.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

export function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

export function findOnPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, name))) return join(dir, name);
  }
  return undefined;
}

/** Runs a command to completion (bounded), keeping the last 20 kB of its output. */
export function runCommand(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  timeoutMs: number,
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk: Buffer) => {
      output = (output + chunk.toString('utf8')).slice(-20_000);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGTERM'), timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve({ code: -1, output: String(err) });
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

export interface AptInstallOptions {
  /** The Debian package, e.g. `coturn`. */
  name: string;
  /** What a developer runs by hand, quoted in every failure. */
  installCommand: string;
  /** Extra `apt-get install` arguments, e.g. `--no-install-recommends`. */
  installArgs?: string[];
  timeoutMs?: number;
}

/**
 * `apt-get update` then `apt-get install -y <name>`, as root on Linux only; throws with the
 * exact command to run when it cannot or when apt-get fails.
 */
export async function aptInstall(options: AptInstallOptions): Promise<void> {
  if (process.platform !== 'linux' || process.getuid?.() !== 0 || !findOnPath('apt-get'))
    throw new Error(`${options.name} is not installed. Run: ${options.installCommand}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const lock = ['-o', 'DPkg::Lock::Timeout=120'];
  for (const args of [
    ['update', ...lock],
    ['install', '-y', ...(options.installArgs ?? []), ...lock, options.name],
  ]) {
    const result = await runCommand('apt-get', args, env, options.timeoutMs ?? 900_000);
    if (result.code !== 0)
      throw new Error(
        `\`apt-get ${args.join(' ')}\` failed (exit ${result.code}). Run: ${options.installCommand}\n${result.output.slice(-2000)}`,
      );
  }
}
