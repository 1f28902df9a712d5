import { parse, UsageError } from '../args.js';
import { loadCliConfig } from '../context.js';
import type { Command, CliIo } from '../io.js';
import { createCallgate } from '../../app.js';
import { defaultPlugins } from '../../plugins.js';
import { generateApiKey } from '../../auth/api-keys.js';
import { DEV_TENANT } from '../../http/routes/dev.js';
import type { Store } from '../../store/store.js';

export const SERVE_USAGE =
  'callgate serve [--config FILE] [--dev] [--port N] [--host ADDR] [--data-dir DIR]';

/** `callgate serve`: runs until SIGTERM/SIGINT, then drains (going_away, 1001) and exits 0. */
export const serveCommand: Command = async (argv, io) => {
  const { values, positionals } = parse(argv, {
    dev: { type: 'boolean' },
    port: { type: 'string' },
    host: { type: 'string' },
  });
  if (positionals.length > 0) throw new UsageError(SERVE_USAGE);
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
    throw new UsageError('--port must be an integer from 0 to 65535');
  const config = loadCliConfig(values, {
    dev: values.dev,
    'server.port': port,
    'server.host': values.host,
  });
  const app = await createCallgate({ config }, defaultPlugins());
  if (config.dev) await bootstrapDev(app.services.store, io);
  const { url } = await app.listen();
  if (config.dev) io.err(`Callgate (dev) on ${url} — demo: ${url}/demo`);

  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      io.err(`${signal}: draining connections...`);
      process.off('SIGTERM', onTerm);
      process.off('SIGINT', onInt);
      void app.shutdown().then(resolve);
    };
    const onTerm = () => stop('SIGTERM');
    const onInt = () => stop('SIGINT');
    process.on('SIGTERM', onTerm);
    process.on('SIGINT', onInt);
  });
  return 0;
};

/**
 * `--dev`: a `default` tenant and, when it has no active API key, a new one printed once. The
 * demo does not need it (it uses the loopback-only dev token route); a backend under
 * development does.
 */
async function bootstrapDev(store: Store, io: CliIo): Promise<void> {
  if ((await store.getTenant(DEV_TENANT)) === null)
    await store.createTenant(DEV_TENANT, Date.now());
  const active = (await store.listApiKeys(DEV_TENANT)).filter((k) => k.revokedAt === null);
  if (active.length > 0) {
    io.err(
      `dev: tenant "${DEV_TENANT}" has ${active.length} API key(s); create another with: callgate apikey create --tenant ${DEV_TENANT}`,
    );
    return;
  }
  const key = generateApiKey(DEV_TENANT, Date.now(), 'dev bootstrap');
  await store.createApiKey(key.record);
  io.err(`dev: created tenant "${DEV_TENANT}" and an API key (shown only this once):`);
  io.err(`  ${key.plaintext}`);
}
