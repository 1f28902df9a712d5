import {
  grantRoom,
  CallgateError,
  MAX_METADATA_BYTES,
  MAX_ROOMS_PER_TOKEN,
  isOpaqueId,
  isPermission,
  isPlainObject,
  isRoomName,
  isTokenKind,
  isUserId,
  type Permission,
  type RoomGrants,
  type TokenKind,
} from '@callgate/protocol';

export interface MintRequest {
  sub: string;
  rooms: RoomGrants;
  ttlSeconds: number;
  metadata?: Record<string, unknown>;
  kind: TokenKind;
  sessionId?: string;
}

export interface MintPolicy {
  accessTokenTtlSeconds: number;
  minTokenTtlSeconds: number;
}

/**
 * Validates a mint request body (`POST /v1/tokens`, `callgate token mint`). Throws a
 * CallgateError whose code names the field (`invalid_sub`, `invalid_room`, ...) and whose
 * `field` is the exact path.
 */
export function parseMintRequest(body: unknown, policy: MintPolicy): MintRequest {
  if (!isPlainObject(body))
    throw new CallgateError('bad_request', 'The body must be a JSON object');
  const { sub, rooms, ttlSeconds, metadata, kind, sessionId } = body;
  if (!isUserId(sub)) throw new CallgateError('invalid_sub', undefined, { field: 'sub' });
  const grants = parseRooms(rooms);
  let ttl = policy.accessTokenTtlSeconds;
  if (ttlSeconds !== undefined) {
    if (
      typeof ttlSeconds !== 'number' ||
      !Number.isInteger(ttlSeconds) ||
      ttlSeconds < policy.minTokenTtlSeconds ||
      ttlSeconds > policy.accessTokenTtlSeconds
    )
      throw new CallgateError(
        'invalid_ttl',
        `"ttlSeconds" must be an integer from ${policy.minTokenTtlSeconds} to ${policy.accessTokenTtlSeconds}`,
        { field: 'ttlSeconds' },
      );
    ttl = ttlSeconds;
  }
  const out: MintRequest = { sub, rooms: grants, ttlSeconds: ttl, kind: 'user' };
  if (metadata !== undefined) {
    if (
      !isPlainObject(metadata) ||
      Buffer.byteLength(JSON.stringify(metadata), 'utf8') > MAX_METADATA_BYTES
    )
      throw new CallgateError('invalid_metadata', undefined, { field: 'metadata' });
    out.metadata = metadata;
  }
  if (kind !== undefined) {
    if (!isTokenKind(kind)) throw new CallgateError('invalid_kind', undefined, { field: 'kind' });
    out.kind = kind;
  }
  if (sessionId !== undefined) {
    if (!isOpaqueId(sessionId))
      throw new CallgateError('invalid_session_id', undefined, { field: 'sessionId' });
    out.sessionId = sessionId;
  }
  return out;
}

function parseRooms(rooms: unknown): RoomGrants {
  if (!isPlainObject(rooms))
    throw new CallgateError('invalid_rooms', undefined, { field: 'rooms' });
  const entries = Object.entries(rooms);
  if (entries.length > MAX_ROOMS_PER_TOKEN)
    throw new CallgateError('invalid_rooms', `At most ${MAX_ROOMS_PER_TOKEN} rooms per token`, {
      field: 'rooms',
    });
  const out: RoomGrants = {};
  for (const [room, perms] of entries) {
    if (!isRoomName(room)) throw new CallgateError('invalid_room', undefined, { field: 'rooms' });
    if (!Array.isArray(perms) || perms.length === 0)
      throw new CallgateError(
        'invalid_permission',
        'Each room needs a non-empty list of permissions',
        {
          field: `rooms.${room}`,
        },
      );
    perms.forEach((p, i) => {
      if (!isPermission(p))
        throw new CallgateError('invalid_permission', undefined, { field: `rooms.${room}[${i}]` });
    });
    grantRoom(out, room, [...new Set(perms as Permission[])]);
  }
  return out;
}
