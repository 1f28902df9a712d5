import { CallgateError } from '@callgate/protocol';
import type { Services } from '../services.js';

/**
 * Refuses with 503 `not_ready` when the store cannot take a write. Minting checks this first:
 * a token the server could not revoke (the revocation would not persist) must not be issued;
 * revocation checks it so it never answers "revoked" without having recorded it.
 */
export async function requireWritableStore(services: Services): Promise<void> {
  try {
    await services.store.check();
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code ?? 'write failed';
    services.log.error({ event: 'store_not_writable', reason }, 'store not writable');
    throw new CallgateError('not_ready', `The store is not writable (${reason})`, { cause: err });
  }
}
