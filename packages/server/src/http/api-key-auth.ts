import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallgateError } from '@callgate/protocol';
import { authenticateApiKey, bearerToken } from '../auth/api-keys.js';
import type { ApiKeyRecord } from '../store/store.js';
import type { Services } from '../services.js';

/**
 * Authenticates `Authorization: Bearer cgk_...`. Every failure (no header, malformed, unknown,
 * revoked, wrong secret, another tenant's key) is the same 401 body, so a caller cannot tell
 * which (catalogue: identical 401s, as Metered does).
 */
export async function requireApiKey(
  services: Services,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<ApiKeyRecord> {
  const record = await authenticateApiKey(services.store, bearerToken(req.headers.authorization));
  if (record === null) {
    res.locals = { ...res.locals, detail: 'api key rejected' };
    throw new CallgateError('unauthorized');
  }
  res.locals = { ...res.locals, tenant: record.tenant };
  return record;
}
