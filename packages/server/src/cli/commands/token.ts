import {
  CallgateError,
  grantRoom,
  isTenantName,
  PERMISSIONS,
  type Permission,
  type RoomGrants,
} from '@callgate/protocol';
import { parse, UsageError } from '../args.js';
import { openCliContext } from '../context.js';
import type { Command } from '../io.js';
import { parseMintRequest } from '../../auth/mint-request.js';
import { createTokenIssuer } from '../../auth/issue-access-token.js';
import { systemClock } from '../../util/clock.js';

export const TOKEN_USAGE =
  'callgate token mint --tenant NAME --sub USER --room ROOM[=perm,perm] [--room ...] [--ttl SECONDS] [--session SID] [--metadata JSON] [--kind user|agent|service]';

/** `callgate token mint ...`: prints the token alone on stdout (for `TOKEN=$(callgate token mint ...)`). */
export const tokenCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, {
    tenant: { type: 'string' },
    sub: { type: 'string' },
    room: { type: 'string', multiple: true },
    ttl: { type: 'string' },
    session: { type: 'string' },
    metadata: { type: 'string' },
    kind: { type: 'string' },
  });
  if (positionals[0] !== 'mint' || positionals.length !== 1) throw new UsageError(TOKEN_USAGE);
  if (values.tenant === undefined || !isTenantName(values.tenant))
    throw new UsageError(`--tenant is required\n${TOKEN_USAGE}`);
  if (values.sub === undefined) throw new UsageError(`--sub is required\n${TOKEN_USAGE}`);
  const rooms: RoomGrants = {};
  for (const spec of values.room ?? []) {
    const [room, perms] = spec.split('=', 2) as [string, string | undefined];
    // Checked with the rest of the request by parseMintRequest below.
    const list = perms === undefined ? [...PERMISSIONS] : perms.split(',').filter(Boolean);
    grantRoom(rooms, room, list as Permission[]);
  }
  let metadata: unknown;
  if (values.metadata !== undefined) {
    try {
      metadata = JSON.parse(values.metadata);
    } catch {
      throw new UsageError('--metadata must be a JSON object');
    }
  }
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);

  const ctx = await openCliContext(values);
  try {
    if ((await ctx.store.getTenant(values.tenant)) === null) {
      io.err(`no tenant named ${values.tenant}`);
      return 1;
    }
    let mint;
    try {
      mint = parseMintRequest(
        {
          sub: values.sub,
          rooms,
          ttlSeconds: ttl,
          metadata,
          kind: values.kind,
          sessionId: values.session,
        },
        ctx.config.auth,
      );
    } catch (err) {
      if (err instanceof CallgateError)
        throw new UsageError(`${err.code}: ${err.message}${err.field ? ` (${err.field})` : ''}`);
      throw err;
    }
    const revocations = await ctx.revocations();
    if (mint.sessionId !== undefined && revocations.isRevoked(values.tenant, mint.sessionId)) {
      io.err(`session ${mint.sessionId} is revoked`);
      return 1;
    }
    const issue = createTokenIssuer({
      keyring: await ctx.keyring(),
      clock: systemClock,
      issuer: ctx.issuer,
      audience: ctx.config.auth.audience,
    });
    const issued = await issue({ tenant: values.tenant, ...mint });
    io.out(issued.token);
    io.err(`session ${issued.sessionId}, expires ${new Date(issued.expiresAt).toISOString()}`);
    return 0;
  } finally {
    await ctx.close();
  }
};
