import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson } from '../respond.js';

/** `GET /healthz` (the process answers) and `GET /readyz` (store writable, keyring loaded, not draining). */
export function addHealthRoutes(router: Router, services: Services): void {
  router.add('GET', '/healthz', ({ res }) =>
    sendJson(res, 200, { status: 'ok' }, { 'cache-control': 'no-store' }),
  );
  router.add('GET', '/readyz', async ({ res }) => {
    const problems: string[] = [];
    if (services.draining) problems.push('draining');
    try {
      await services.store.check();
    } catch (err) {
      problems.push(
        `store not writable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
    try {
      services.keyring.signingKey();
    } catch {
      problems.push('keyring has no signing key');
    }
    if (problems.length > 0) {
      res.locals = { ...res.locals, errorCode: 'not_ready' };
      sendJson(
        res,
        503,
        { status: 'not_ready', error: { code: 'not_ready', message: problems.join('; ') } },
        { 'cache-control': 'no-store' },
      );
    } else
      sendJson(
        res,
        200,
        { status: 'ready', store: services.store.kind },
        { 'cache-control': 'no-store' },
      );
  });
}
