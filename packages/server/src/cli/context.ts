import { loadConfig } from '../config/load-config.js';
import type { CallgateConfig } from '../config/config.js';
import { openSqliteStore } from '../store/sqlite-store.js';
import type { Store } from '../store/store.js';
import { Keyring } from '../auth/keyring.js';
import { RevocationList } from '../auth/revocation-list.js';
import { systemClock } from '../util/clock.js';
import { ISSUER_SETTING } from '../app.js';

export interface CliContext {
  config: CallgateConfig;
  store: Store;
  keyring(): Promise<Keyring>;
  revocations(): Promise<RevocationList>;
  issuer: string;
  close(): Promise<void>;
}

/** Config from `--config`/`--data-dir` (plus extra overrides), and the same store a server uses. */
export function loadCliConfig(
  values: Record<string, unknown>,
  overrides: Record<string, unknown> = {},
): CallgateConfig {
  return loadConfig({
    file: values.config as string | undefined,
    overrides: { dataDir: values['data-dir'], ...overrides },
  });
}

export async function openCliContext(values: Record<string, unknown>): Promise<CliContext> {
  const config = loadCliConfig(values);
  const store = openSqliteStore(config.dataDir);
  const clock = systemClock;
  // The issuer a server on this data directory recorded, unless configured explicitly.
  const recorded = await store.getSetting(ISSUER_SETTING);
  let ring: Keyring | undefined;
  return {
    config,
    store,
    issuer:
      config.auth.issuer ??
      recorded ??
      config.server.publicUrl ??
      `http://localhost:${config.server.port}`,
    async keyring() {
      ring ??= await Keyring.open({
        store,
        clock,
        algorithm: config.auth.algorithm,
        accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
        clockToleranceSeconds: config.auth.clockToleranceSeconds,
        keyRotationDays: config.auth.keyRotationDays,
      });
      return ring;
    },
    async revocations() {
      const r = new RevocationList(store, clock);
      await r.reload();
      return r;
    },
    close: () => store.close(),
  };
}
