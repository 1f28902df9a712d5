import { parse, UsageError } from '../args.js';
import { openCliContext } from '../context.js';
import type { Command } from '../io.js';
import { createTokenVerifier } from '../../auth/verify-access-token.js';
import { TokenError } from '../../auth/token-error.js';
import { createExternalIssuers } from '../../auth/external-issuers.js';
import { systemClock } from '../../util/clock.js';

export const VERIFY_USAGE =
  'callgate verify [TOKEN | -]   (- or no argument reads the token from stdin)';

/**
 * `callgate verify [TOKEN | -]`: verifies against the keyring and revocations in the store with
 * the server's policy; prints the claims, or the reason code and which check failed.
 */
export const verifyCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, {});
  if (positionals.length > 1) throw new UsageError(VERIFY_USAGE);
  const arg = positionals[0];
  const token = (arg === undefined || arg === '-' ? await io.readStdin() : arg).trim();
  const ctx = await openCliContext(values);
  try {
    const { auth } = ctx.config;
    const verify = createTokenVerifier({
      keyring: await ctx.keyring(),
      revocations: await ctx.revocations(),
      clock: systemClock,
      issuer: ctx.issuer,
      audience: auth.audience,
      allowedAlgorithms: auth.allowedAlgorithms,
      accessTokenTtlSeconds: auth.accessTokenTtlSeconds,
      clockToleranceSeconds: auth.clockToleranceSeconds,
      maxTokenBytes: auth.maxTokenBytes,
      // Tokens of trusted external issuers verify here too (their JWKS is fetched).
      externalIssuers: createExternalIssuers(auth.trustedIssuers, {
        clock: systemClock,
        dev: ctx.config.dev,
      }),
      tenantExists: async (name) => (await ctx.store.getTenant(name)) !== null,
    });
    try {
      const { claims, kid, alg } = await verify(token);
      io.out(JSON.stringify({ valid: true, kid, alg, claims }, null, 2));
      return 0;
    } catch (err) {
      if (err instanceof TokenError) {
        io.err(`invalid: ${err.code} (${err.detail})`);
        return 1;
      }
      throw err;
    }
  } finally {
    await ctx.close();
  }
};
