import { isTenantName } from '@callgate/protocol';
import { parse, UsageError } from '../args.js';
import { openCliContext } from '../context.js';
import type { Command } from '../io.js';
import { StoreConflictError } from '../../store/store.js';

export const TENANT_USAGE =
  'callgate tenant create|list|delete NAME [--config FILE] [--data-dir DIR]';

/** `callgate tenant create|list|delete NAME`. */
export const tenantCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, {});
  const [action, name] = positionals;
  if (action === 'list') {
    if (positionals.length !== 1) throw new UsageError(TENANT_USAGE);
  } else if (action === 'create' || action === 'delete') {
    if (positionals.length !== 2 || name === undefined) throw new UsageError(TENANT_USAGE);
    if (!isTenantName(name))
      throw new UsageError(
        'tenant names are 1..63 characters of a-z, 0-9, _ and -, starting with a letter or digit',
      );
  } else throw new UsageError(TENANT_USAGE);

  const ctx = await openCliContext(values);
  try {
    if (action === 'list') {
      for (const t of await ctx.store.listTenants())
        io.out(`${t.name}\t${new Date(t.createdAt).toISOString()}`);
      return 0;
    }
    if (action === 'create') {
      try {
        await ctx.store.createTenant(name!, Date.now());
      } catch (err) {
        if (err instanceof StoreConflictError) {
          io.err(`tenant ${name} already exists`);
          return 1;
        }
        throw err;
      }
      io.err(`created tenant ${name}`);
      return 0;
    }
    if (!(await ctx.store.deleteTenant(name!))) {
      io.err(`no tenant named ${name}`);
      return 1;
    }
    // Tokens already minted for the tenant die now, not at their exp.
    const now = Date.now();
    const keep = Math.max(
      ctx.config.auth.sessionTtlSeconds,
      ctx.config.auth.accessTokenTtlSeconds + 60,
    );
    await ctx.store.addRevocation({
      tenant: name!,
      kind: 'tenant',
      value: name!,
      revokedAt: now,
      expiresAt: now + keep * 1000,
    });
    io.err(`deleted tenant ${name}, its API keys, and revoked its tokens`);
    return 0;
  } finally {
    await ctx.close();
  }
};
