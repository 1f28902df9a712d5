import { CallgateClient } from './callgate-client.js';
import type { ClientOptions } from './client-options.js';

/**
 * Creates a {@link CallgateClient}; nothing happens on the network until `connect()`.
 * Misuse (a missing `getToken`, a bad `url`, no WebSocket implementation) throws a
 * `TypeError`/`RangeError` naming the option.
 *
 * @example
 * ```ts
 * import { createClient } from '@callgate/client';
 *
 * const client = createClient({
 *   url: 'wss://callgate.example.com',
 *   getToken: async () => (await fetch('/api/callgate-token', { method: 'POST' })).json(),
 * });
 * await client.connect();
 * ```
 */
export function createClient(options: ClientOptions): CallgateClient {
  return new CallgateClient(options);
}
