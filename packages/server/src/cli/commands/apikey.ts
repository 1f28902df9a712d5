import { isTenantName } from '@callgate/protocol';
import { parse, UsageError } from '../args.js';
import { openCliContext } from '../context.js';
import type { Command } from '../io.js';
import { generateApiKey } from '../../auth/api-keys.js';

export const APIKEY_USAGE =
  'callgate apikey create|list --tenant NAME [--label TEXT] | callgate apikey revoke ID --tenant NAME';

/** `callgate apikey create|list|revoke --tenant NAME`. `create` prints the key once, on stdout. */
export const apikeyCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, {
    tenant: { type: 'string' },
    label: { type: 'string' },
  });
  const [action, id] = positionals;
  const tenant = values.tenant;
  if (tenant === undefined || !isTenantName(tenant))
    throw new UsageError(`--tenant is required\n${APIKEY_USAGE}`);
  if (
    !((action === 'create' || action === 'list') && positionals.length === 1) &&
    !(action === 'revoke' && id !== undefined && positionals.length === 2)
  )
    throw new UsageError(APIKEY_USAGE);

  const ctx = await openCliContext(values);
  try {
    if ((await ctx.store.getTenant(tenant)) === null) {
      io.err(`no tenant named ${tenant} (create it with: callgate tenant create ${tenant})`);
      return 1;
    }
    if (action === 'create') {
      const key = generateApiKey(tenant, Date.now(), values.label ?? null);
      await ctx.store.createApiKey(key.record);
      io.out(key.plaintext);
      io.err(`created API key ${key.record.id} for tenant ${tenant}; it is shown only this once`);
      return 0;
    }
    if (action === 'list') {
      for (const k of await ctx.store.listApiKeys(tenant))
        io.out(
          [
            k.id,
            k.revokedAt === null ? 'active' : `revoked ${new Date(k.revokedAt).toISOString()}`,
            new Date(k.createdAt).toISOString(),
            k.label ?? '',
          ].join('\t'),
        );
      return 0;
    }
    if (!(await ctx.store.revokeApiKey(tenant, id!, Date.now()))) {
      io.err(`no active API key ${id} in tenant ${tenant}`);
      return 1;
    }
    io.err(`revoked API key ${id}`);
    return 0;
  } finally {
    await ctx.close();
  }
};
