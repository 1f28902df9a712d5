#!/usr/bin/env node
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../config/config.js';
import { UsageError } from './args.js';
import { processIo, type Command, type CliIo } from './io.js';
import { serveCommand } from './commands/serve.js';
import { tenantCommand } from './commands/tenant.js';
import { apikeyCommand } from './commands/apikey.js';
import { keysCommand } from './commands/keys.js';
import { tokenCommand } from './commands/token.js';
import { verifyCommand } from './commands/verify.js';
import { turnCommand, coturnConfigCommand } from './commands/turn.js';

export const COMMANDS: Record<string, Command> = {
  serve: serveCommand,
  tenant: tenantCommand,
  apikey: apikeyCommand,
  token: tokenCommand,
  keys: keysCommand,
  verify: verifyCommand,
  turn: turnCommand,
  'coturn-config': coturnConfigCommand,
};

export const USAGE = `Usage: callgate <command> [options]

  serve [--config FILE] [--dev] [--port N] [--data-dir DIR]
  tenant create|list|delete NAME
  apikey create|list|revoke --tenant NAME
  token mint --tenant NAME --sub USER --room ROOM[=perm,perm] [--ttl SECONDS]
  keys list|rotate|revoke KID
  verify [TOKEN | -]
  turn creds --user ID
  turn secret list|add|remove ID
  coturn-config [--listening-port N]

Every command takes --config FILE and --data-dir DIR.
Exit codes: 0 success, 1 failure, 2 usage error.`;

/** Runs the CLI; returns the exit code (0 success, 1 failure, 2 usage). */
export async function runCli(argv: string[], io: CliIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(USAGE);
    return name === undefined ? 2 : 0;
  }
  const command = COMMANDS[name];
  if (command === undefined) {
    io.err(`unknown command: ${name}\n\n${USAGE}`);
    return 2;
  }
  try {
    return await command(rest, io);
  } catch (err) {
    if (err instanceof UsageError) {
      io.err(`usage: ${err.message}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(err.message);
      return 1;
    }
    io.err(`error: ${(err as Error).message}`);
    return 1;
  }
}

function isMain(): boolean {
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}

if (isMain()) {
  runCli(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(`fatal: ${(err as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
