import { CallgateError, isPlainObject } from '@callgate/protocol';
import type { SessionFamily } from '../store/store.js';
import { parseMintRequest, type MintPolicy } from './mint-request.js';
import type { RequestedScope } from './session-manager.js';

/**
 * Reads what a refresh body asks for. A refresh may narrow the session (a subset of its rooms
 * and permissions, a shorter lifetime) but never change who it is for: a `sub`, `kind`,
 * `metadata`, `tenant` or `sessionId` other than the session's is 400 `invalid_scope` (RFC 6749
 * §6, security catalogue F71), as is a room or permission the session does not grant (checked
 * when the token is issued). Other fields are ignored.
 */
export function parseRefreshScope(
  body: Record<string, unknown>,
  family: SessionFamily,
  policy: MintPolicy,
): RequestedScope {
  const { grants } = family;
  const same: Array<[string, unknown]> = [
    ['sub', grants.sub],
    ['kind', grants.kind],
    ['tenant', family.tenant],
    ['sessionId', family.sessionId],
  ];
  for (const [field, value] of same)
    if (body[field] !== undefined && body[field] !== value)
      throw new CallgateError('invalid_scope', `A refresh may not change "${field}"`, { field });
  if (
    body.metadata !== undefined &&
    (!isPlainObject(body.metadata) ||
      JSON.stringify(body.metadata) !== JSON.stringify(grants.metadata ?? null))
  )
    throw new CallgateError('invalid_scope', 'A refresh may not change "metadata"', {
      field: 'metadata',
    });
  const scope: RequestedScope = {};
  if (body.rooms !== undefined)
    scope.rooms = parseMintRequest({ sub: grants.sub, rooms: body.rooms }, policy).rooms;
  if (body.ttlSeconds !== undefined) {
    const ttl = body.ttlSeconds;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < policy.minTokenTtlSeconds)
      throw new CallgateError(
        'invalid_ttl',
        `"ttlSeconds" must be an integer of at least ${policy.minTokenTtlSeconds}`,
        { field: 'ttlSeconds' },
      );
    scope.ttlSeconds = ttl;
  }
  return scope;
}
