import { parse, UsageError } from '../args.js';
import { openCliContext } from '../context.js';
import type { Command } from '../io.js';

export const KEYS_USAGE = 'callgate keys list | callgate keys rotate | callgate keys revoke KID';

const iso = (t: number | null) => (t === null ? '-' : new Date(t).toISOString());

/** `callgate keys list|rotate|revoke KID`. Never prints private material. */
export const keysCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, {});
  const [action, kid] = positionals;
  if (
    !((action === 'list' || action === 'rotate') && positionals.length === 1) &&
    !(action === 'revoke' && kid !== undefined && positionals.length === 2)
  )
    throw new UsageError(KEYS_USAGE);
  const ctx = await openCliContext(values);
  try {
    const ring = await ctx.keyring();
    if (action === 'rotate') {
      await ring.rotate();
      io.err(`rotated: current key is now ${ring.signingKey().kid}`);
    } else if (action === 'revoke') {
      if (!(await ring.revoke(kid!))) {
        io.err(`no key with kid ${kid}`);
        return 1;
      }
      io.err(`revoked key ${kid}: tokens it signed no longer verify`);
      return 0;
    }
    io.out(['kid', 'alg', 'state', 'created', 'activated', 'retired', 'delete-after'].join('\t'));
    for (const k of ring.list())
      io.out(
        [
          k.kid,
          k.alg,
          k.state,
          iso(k.createdAt),
          iso(k.activatedAt),
          iso(k.retiredAt),
          iso(k.deleteAfter),
        ].join('\t'),
      );
    return 0;
  } finally {
    await ctx.close();
  }
};
