import type { CliIo } from '../../src/cli/io.js';
import { runCli } from '../../src/cli/main.js';

/** A CliIo that records what a command printed; stdin is a fixed string. */
export interface FakeIo extends CliIo {
  stdout: string[];
  stderr: string[];
}

export function fakeIo(stdin = ''): FakeIo {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (line) => void stdout.push(line),
    err: (line) => void stderr.push(line),
    readStdin: () => Promise.resolve(stdin),
  };
}

/** Runs the CLI in-process (the same code as the `callgate` binary) and returns what it printed. */
export async function cli(
  argv: string[],
  stdin = '',
): Promise<{ code: number; stdout: string; stderr: string }> {
  const io = fakeIo(stdin);
  const code = await runCli(argv, io);
  return { code, stdout: io.stdout.join('\n'), stderr: io.stderr.join('\n') };
}

/** Polls `check` until it returns true (the server reloads the store once a second). */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
