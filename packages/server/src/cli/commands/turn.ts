import { readFileSync } from 'node:fs';
import { parse, UsageError } from '../args.js';
import { openCliContext, type CliContext } from '../context.js';
import type { Command } from '../io.js';
import { TurnService } from '../../turn/turn-service.js';
import { renderCoturnConfig } from '../../turn/coturn-config.js';
import {
  generateTurnSecret,
  readStoredSecrets,
  secretId,
  writeStoredSecrets,
  ensureStoredSecret,
} from '../../turn/turn-secrets.js';
import { TURN_SECRET_MIN_BYTES } from '../../turn/mint-turn-credentials.js';
import { systemClock } from '../../util/clock.js';

export const TURN_USAGE = `callgate turn creds --user ID
callgate turn secret list
callgate turn secret add [--secret-file FILE] [--primary]   (generates one when no file is given)
callgate turn secret promote ID
callgate turn secret remove ID`;

function publicUrlOf(ctx: CliContext): string {
  return ctx.config.server.publicUrl ?? `http://localhost:${ctx.config.server.port}`;
}

async function openTurn(ctx: CliContext): Promise<TurnService> {
  return TurnService.open({
    config: ctx.config.turn,
    store: ctx.store,
    clock: systemClock,
    publicUrl: () => publicUrlOf(ctx),
  });
}

/** `callgate turn creds|secret ...`. */
export const turnCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, {
    user: { type: 'string' },
    'secret-file': { type: 'string' },
    primary: { type: 'boolean' },
  });
  const [sub, action, id] = positionals;
  if (sub === 'creds') {
    if (positionals.length !== 1 || values.user === undefined) throw new UsageError(TURN_USAGE);
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(values.user))
      throw new UsageError(
        '--user must be an opaque id of [A-Za-z0-9_-] (no ":" and no personal data)',
      );
    const ctx = await openCliContext(values);
    try {
      io.out(JSON.stringify((await openTurn(ctx)).credentialsFor(values.user), null, 2));
      return 0;
    } finally {
      await ctx.close();
    }
  }
  if (
    sub !== 'secret' ||
    (!((action === 'list' || action === 'add') && positionals.length === 2) &&
      !(
        (action === 'remove' || action === 'promote') &&
        id !== undefined &&
        positionals.length === 3
      ))
  )
    throw new UsageError(TURN_USAGE);

  const ctx = await openCliContext(values);
  try {
    if (action === 'list') {
      const turn = await TurnService.open({
        config: ctx.config.turn,
        store: ctx.store,
        clock: systemClock,
        publicUrl: () => publicUrlOf(ctx),
        generate: false,
      });
      for (const s of turn.list())
        io.out(
          [
            s.id,
            s.primary ? 'primary' : 'accepted',
            s.source,
            s.createdAt === null ? '-' : new Date(s.createdAt).toISOString(),
          ].join('\t'),
        );
      return 0;
    }
    if (ctx.config.turn.secrets.length > 0) {
      io.err(
        "turn.secrets is set in the configuration; rotate secrets there (the store's secrets are not used)",
      );
      return 1;
    }
    const stored = await readStoredSecrets(ctx.store);
    if (action === 'add') {
      let secret = generateTurnSecret();
      if (values['secret-file'] !== undefined) {
        secret = readFileSync(values['secret-file'], 'utf8').trim();
        if (
          Buffer.byteLength(secret) < TURN_SECRET_MIN_BYTES ||
          !/^[\x21-\x7e]+$/.test(secret) ||
          /["'\\#=]/.test(secret[0]!)
        ) {
          io.err(
            `the secret must be at least ${TURN_SECRET_MIN_BYTES} bytes of printable ASCII without whitespace`,
          );
          return 1;
        }
      }
      if (stored.some((s) => s.secret === secret)) {
        io.err('that secret is already present');
        return 1;
      }
      // A new secret is a standby by default: the relay must know it before Callgate signs with
      // it (add to relay → promote → wait one TTL → remove the old one).
      const entry = { secret, createdAt: Date.now() };
      const primary = values.primary === true || stored.length === 0;
      await writeStoredSecrets(ctx.store, primary ? [entry, ...stored] : [...stored, entry]);
      io.err(
        primary
          ? `added TURN secret ${secretId(secret)} as primary (it signs new credentials now)`
          : `added TURN secret ${secretId(secret)} as standby: regenerate the relay's config (callgate coturn-config), reload the relay, then run: callgate turn secret promote ${secretId(secret)}`,
      );
      return 0;
    }
    if (action === 'promote') {
      const target = stored.find((s) => secretId(s.secret) === id);
      if (!target) {
        io.err(`no TURN secret with id ${id}`);
        return 1;
      }
      await writeStoredSecrets(ctx.store, [target, ...stored.filter((s) => s !== target)]);
      io.err(
        `TURN secret ${id} is now primary; remove the previous one after one TTL (turn.ttlSeconds)`,
      );
      return 0;
    }
    const rest = stored.filter((s) => secretId(s.secret) !== id);
    if (rest.length === stored.length) {
      io.err(`no TURN secret with id ${id}`);
      return 1;
    }
    if (rest.length === 0) {
      io.err('refusing to remove the last TURN secret; add a new one first');
      return 1;
    }
    await writeStoredSecrets(ctx.store, rest);
    io.err(
      `removed TURN secret ${id}; credentials it signed are no longer valid once the relay drops it too`,
    );
    return 0;
  } finally {
    await ctx.close();
  }
};

export const COTURN_USAGE = 'callgate coturn-config [--listening-port N]';

/** `callgate coturn-config`: the coturn lines matching this server's TURN settings (contains secrets). */
export const coturnConfigCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, { 'listening-port': { type: 'string' } });
  if (positionals.length > 0) throw new UsageError(COTURN_USAGE);
  const port = values['listening-port'] === undefined ? 3478 : Number(values['listening-port']);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new UsageError('--listening-port must be 1..65535');
  const ctx = await openCliContext(values);
  try {
    if (ctx.config.turn.secrets.length === 0) await ensureStoredSecret(ctx.store, Date.now());
    const turn = await openTurn(ctx);
    io.out(
      renderCoturnConfig({ secrets: turn.secrets(), realm: turn.realm(), listeningPort: port }),
    );
    return 0;
  } finally {
    await ctx.close();
  }
};
