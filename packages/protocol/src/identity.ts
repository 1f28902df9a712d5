/**
 * Identity and scope primitives shared by the server and the SDK (design.md "Identity model").
 */
import { own } from './parse-support.js';

/** The permissions a token can grant in a room. Nothing else is ever granted. */
export const PERMISSIONS = ['join', 'publish', 'send', 'presence'] as const;
export type Permission = (typeof PERMISSIONS)[number];

/** Token kinds. */
export const TOKEN_KINDS = ['user', 'agent', 'service'] as const;
export type TokenKind = (typeof TOKEN_KINDS)[number];

/**
 * `{ "<room>": ["join", "publish", ...] }`: exact room names, no wildcards. Room names may be
 * spelled like `Object.prototype` members (`constructor`, `toString`, `__proto__`), so grants
 * are read with {@link roomGrant} and written with {@link grantRoom}, never by indexing.
 */
export type RoomGrants = Record<string, Permission[]>;

/** The permissions `rooms` grants in `room`: own entries only, never an inherited member. */
export function roomGrant(rooms: RoomGrants, room: string): Permission[] | undefined {
  return own(rooms, room);
}

/**
 * Grants `permissions` in `room` as an own, enumerable entry (an assignment to `__proto__`
 * would set the object's prototype instead, and the grant would vanish from its JSON).
 */
export function grantRoom(rooms: RoomGrants, room: string, permissions: Permission[]): void {
  Object.defineProperty(rooms, room, {
    value: permissions,
    enumerable: true,
    writable: true,
    configurable: true,
  });
}

export const MAX_METADATA_BYTES = 4096;
export const MAX_ROOMS_PER_TOKEN = 100;

const ROOM_RE = /^[A-Za-z0-9._:-]{1,128}$/;
// Printable ASCII without space: 0x21..0x7e.
const SUB_RE = /^[\x21-\x7e]{1,128}$/;
// Server-assigned ids: base64url, 22 chars = 128 bits (catalogue E65).
const OPAQUE_ID_RE = /^[A-Za-z0-9_-]{16,64}$/;
const TENANT_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** A room name: 1..128 characters of `[A-Za-z0-9._:-]`. */
export function isRoomName(value: unknown): value is string {
  return typeof value === 'string' && ROOM_RE.test(value);
}

/** A user id (`sub`): 1..128 printable ASCII characters, no whitespace. */
export function isUserId(value: unknown): value is string {
  return typeof value === 'string' && SUB_RE.test(value);
}

/** A server-assigned opaque id (peer id, session id, token id): base64url, 16..64 chars. */
export function isOpaqueId(value: unknown): value is string {
  return typeof value === 'string' && OPAQUE_ID_RE.test(value);
}

// RFC 7230 §3.2.6 tchar.
const HTTP_TOKEN_RE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * An RFC 7230 §3.2.6 `token` (one or more tchar): what a WebSocket subprotocol entry
 * (RFC 6455 §4.1) and an HTTP header name may hold. Access tokens (base64url and `.`) and
 * resume tokens fit, so they can travel as `bearer.<token>` and `resume.<token>`.
 */
export function isHttpToken(value: string): boolean {
  return HTTP_TOKEN_RE.test(value);
}

/** A tenant name: lower-case letters, digits, `_` and `-`, 1..63 chars, starting alphanumeric. */
export function isTenantName(value: unknown): value is string {
  return typeof value === 'string' && TENANT_RE.test(value);
}

export function isPermission(value: unknown): value is Permission {
  return typeof value === 'string' && (PERMISSIONS as readonly string[]).includes(value);
}

export function isTokenKind(value: unknown): value is TokenKind {
  return typeof value === 'string' && (TOKEN_KINDS as readonly string[]).includes(value);
}

/** A plain JSON object (not null, not an array). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** UTF-8 byte length of a string, without allocating a buffer (works in browsers). */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}
