import { isErrorCode } from './errors.js';
import {
  isHttpToken,
  isOpaqueId,
  isPlainObject,
  isRoomName,
  isTenantName,
  isUserId,
} from './identity.js';
import { MAX_MESSAGE_ID_LENGTH, SERVER_SENDER, isMessageId } from './messages.js';
import type { IceServer, ParseResult, PeerInfo, ServerMessage, SignalLimits } from './messages.js';
import { Invalid, decodeFrame, failure, own } from './parse-support.js';

/** A resume token fits in the subprotocol entry `resume.<token>` (isHttpToken). */
const MAX_RESUME_TOKEN_LENGTH = 1024;
// ICE server URI schemes: RFC 7064 (stun, stuns) and RFC 7065 (turn, turns).
const ICE_URL_RE = /^(stuns?|turns?):\S+$/;

/**
 * Validates one server frame, for the SDK (docs/protocol.md "Server messages").
 *
 * `input` is the raw frame text (parsed here) or an already-parsed value. The result is a
 * fresh object with only the fields of its type; unknown fields are dropped. `data`,
 * `metadata` and `fromMetadata` are kept by reference. A `type` this version does not know
 * is `unknown_type`, which a client should ignore: newer servers may append types.
 *
 * Never throws. Error codes: `bad_request`, `unknown_type`, `invalid_room`, `invalid_peer_id`;
 * `field` names the field at fault (`limits.burst`, `joined[0].peerId`).
 *
 * @example
 * ```ts
 * ws.onmessage = (ev) => {
 *   const r = parseServerMessage(ev.data);
 *   if (!r.ok) return r.error.code === 'unknown_type' ? undefined : log.warn(r.error);
 *   if (r.message.type === 'welcome') start(r.message);
 * };
 * ```
 */
export function parseServerMessage(input: unknown): ParseResult<ServerMessage> {
  const decoded = decodeFrame(input);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  let id: string | undefined;
  try {
    if (!isPlainObject(value)) return failure('bad_request', 'A message must be a JSON object');
    // Echoed in a parse error when valid; validated only by the types that carry it.
    const rawId = own(value, 'id');
    if (isMessageId(rawId)) id = rawId;
    return { ok: true, message: build(value) };
  } catch (err) {
    if (err instanceof Invalid) return failure(err.code, err.message, err.field, id);
    return failure('bad_request', 'The message could not be read', undefined, id);
  }
}

type Obj = Record<string, unknown>;

function build(obj: Obj): ServerMessage {
  const type = own(obj, 'type');
  if (type === undefined) throw new Invalid('bad_request', '"type" is required', 'type');
  if (typeof type !== 'string') throw new Invalid('bad_request', '"type" must be a string', 'type');
  // A switch, not a lookup table: `type` may be "constructor" or "__proto__".
  switch (type) {
    case 'welcome': {
      const resumed = optional(obj, 'resumed', boolean);
      const welcomeRooms = optional(obj, 'rooms', (v, f) => list(v, f, roomName));
      return {
        type,
        peerId: peerId(own(obj, 'peerId'), 'peerId'),
        sessionId: opaque(own(obj, 'sessionId'), 'sessionId'),
        tenant: tenant(own(obj, 'tenant'), 'tenant'),
        expiresAt: time(own(obj, 'expiresAt'), 'expiresAt'),
        serverTime: time(own(obj, 'serverTime'), 'serverTime'),
        iceServers: iceServers(own(obj, 'iceServers'), 'iceServers'),
        resumeToken: resumeToken(own(obj, 'resumeToken'), 'resumeToken'),
        limits: limits(own(obj, 'limits'), 'limits'),
        ...(resumed === undefined ? {} : { resumed }),
        ...(welcomeRooms === undefined ? {} : { rooms: welcomeRooms }),
      };
    }
    case 'ack': {
      const withId = messageId(obj);
      const room = optional(obj, 'room', roomName);
      const peers = optional(obj, 'peers', (v, f) => list(v, f, peerInfo));
      const expiresAt = optional(obj, 'expiresAt', time);
      const ice = optional(obj, 'iceServers', iceServers);
      const ackRooms = optional(obj, 'rooms', (v, f) => list(v, f, roomName));
      return {
        type,
        ...withId,
        ...(room === undefined ? {} : { room }),
        ...(peers === undefined ? {} : { peers }),
        ...(expiresAt === undefined ? {} : { expiresAt }),
        ...(ice === undefined ? {} : { iceServers: ice }),
        ...(ackRooms === undefined ? {} : { rooms: ackRooms }),
      };
    }
    case 'error': {
      const code = own(obj, 'code');
      if (!isErrorCode(code)) {
        throw new Invalid('bad_request', '"code" must be a known error code', 'code');
      }
      const withId = messageId(obj);
      const field = optional(obj, 'field', string);
      return {
        type,
        ...withId,
        code,
        message: string(own(obj, 'message'), 'message'),
        ...(field === undefined ? {} : { field }),
      };
    }
    case 'presence':
      return {
        type,
        room: roomName(own(obj, 'room'), 'room'),
        joined: list(own(obj, 'joined'), 'joined', peerInfo),
        left: list(own(obj, 'left'), 'left', peerId),
      };
    case 'message': {
      const from = own(obj, 'from');
      const room = optional(obj, 'room', roomName);
      const fromMetadata = optional(obj, 'fromMetadata', object);
      const data = own(obj, 'data');
      if (data === undefined) throw new Invalid('bad_request', '"data" is required', 'data');
      return {
        type,
        from: from === SERVER_SENDER ? SERVER_SENDER : peerId(from, 'from'),
        ...(room === undefined ? {} : { room }),
        data,
        ...(fromMetadata === undefined ? {} : { fromMetadata }),
      };
    }
    case 'token_expiring':
      return { type, expiresAt: time(own(obj, 'expiresAt'), 'expiresAt') };
    case 'going_away':
      return { type, retryAfterMs: count(own(obj, 'retryAfterMs'), 'retryAfterMs') };
    case 'pong':
      return { type, ...messageId(obj) };
    default:
      throw new Invalid('unknown_type', '"type" is not a known server message type', 'type');
  }
}

// Field readers: each takes the raw value and the field's path, returns the checked value or
// throws Invalid naming the path.

/** The optional `id` of ack, error and pong, as a spreadable `{}` or `{ id }`. */
function messageId(obj: Obj): { id?: string } {
  const v = own(obj, 'id');
  if (v === undefined) return {};
  if (!isMessageId(v)) {
    throw new Invalid(
      'bad_request',
      `"id" must be a string of 1..${MAX_MESSAGE_ID_LENGTH} characters`,
      'id',
    );
  }
  return { id: v };
}

type Reader<T> = (value: unknown, field: string) => T;

function optional<T>(obj: Obj, key: string, read: Reader<T>): T | undefined {
  const v = own(obj, key);
  return v === undefined ? undefined : read(v, key);
}

function present(value: unknown, field: string): void {
  if (value === undefined) throw new Invalid('bad_request', `"${field}" is required`, field);
}

function string(value: unknown, field: string): string {
  present(value, field);
  if (typeof value !== 'string') {
    throw new Invalid('bad_request', `"${field}" must be a string`, field);
  }
  return value;
}

function boolean(value: unknown, field: string): boolean {
  if (typeof value !== 'boolean') {
    throw new Invalid('bad_request', `"${field}" must be a boolean`, field);
  }
  return value;
}

/** A non-negative safe integer (a count, a duration in ms). */
function count(value: unknown, field: string): number {
  present(value, field);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Invalid('bad_request', `"${field}" must be a non-negative integer`, field);
  }
  return value;
}

/** Milliseconds since the epoch. */
function time(value: unknown, field: string): number {
  present(value, field);
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw new Invalid(
      'bad_request',
      `"${field}" must be a time in milliseconds since the epoch`,
      field,
    );
  }
  return value;
}

function object(value: unknown, field: string): Record<string, unknown> {
  present(value, field);
  if (!isPlainObject(value)) {
    throw new Invalid('bad_request', `"${field}" must be a JSON object`, field);
  }
  return value;
}

function list<T>(value: unknown, field: string, item: Reader<T>): T[] {
  present(value, field);
  if (!Array.isArray(value)) throw new Invalid('bad_request', `"${field}" must be an array`, field);
  const out: T[] = [];
  for (let i = 0; i < value.length; i++) out.push(item(value[i] as unknown, `${field}[${i}]`));
  return out;
}

function roomName(value: unknown, field: string): string {
  const v = string(value, field);
  if (!isRoomName(v)) {
    throw new Invalid(
      'invalid_room',
      `"${field}" must be 1..128 characters of [A-Za-z0-9._:-]`,
      field,
    );
  }
  return v;
}

function peerId(value: unknown, field: string): string {
  const v = string(value, field);
  if (!isOpaqueId(v)) throw new Invalid('invalid_peer_id', `"${field}" must be a peer id`, field);
  return v;
}

function opaque(value: unknown, field: string): string {
  const v = string(value, field);
  if (!isOpaqueId(v)) throw new Invalid('bad_request', `"${field}" must be an opaque id`, field);
  return v;
}

function tenant(value: unknown, field: string): string {
  const v = string(value, field);
  if (!isTenantName(v)) throw new Invalid('bad_request', `"${field}" must be a tenant name`, field);
  return v;
}

function resumeToken(value: unknown, field: string): string {
  const v = string(value, field);
  if (v.length > MAX_RESUME_TOKEN_LENGTH || !isHttpToken(v)) {
    throw new Invalid(
      'bad_request',
      `"${field}" must be 1..1024 subprotocol token characters`,
      field,
    );
  }
  return v;
}

function peerInfo(value: unknown, field: string): PeerInfo {
  const obj = object(value, field);
  const userId = string(own(obj, 'userId'), `${field}.userId`);
  if (!isUserId(userId)) {
    throw new Invalid('bad_request', `"${field}.userId" must be a user id`, `${field}.userId`);
  }
  return {
    peerId: peerId(own(obj, 'peerId'), `${field}.peerId`),
    userId,
    metadata: object(own(obj, 'metadata'), `${field}.metadata`),
  };
}

function iceServers(value: unknown, field: string): IceServer[] {
  return list(value, field, iceServer);
}

function iceServer(value: unknown, field: string): IceServer {
  const obj = object(value, field);
  const rawUrls = own(obj, 'urls');
  const urls = Array.isArray(rawUrls)
    ? list(rawUrls, `${field}.urls`, iceUrl)
    : iceUrl(rawUrls, `${field}.urls`);
  if (Array.isArray(urls) && urls.length === 0) {
    throw new Invalid('bad_request', `"${field}.urls" must not be empty`, `${field}.urls`);
  }
  const username = optional(obj, 'username', (v) => string(v, `${field}.username`));
  const credential = optional(obj, 'credential', (v) => string(v, `${field}.credential`));
  return {
    urls,
    ...(username === undefined ? {} : { username }),
    ...(credential === undefined ? {} : { credential }),
  };
}

function iceUrl(value: unknown, field: string): string {
  const v = string(value, field);
  if (!ICE_URL_RE.test(v)) {
    throw new Invalid(
      'bad_request',
      `"${field}" must be a stun:, stuns:, turn: or turns: URI`,
      field,
    );
  }
  return v;
}

function limits(value: unknown, field: string): SignalLimits {
  const obj = object(value, field);
  const n = (key: keyof SignalLimits): number => count(own(obj, key), `${field}.${key}`);
  return {
    maxMessageBytes: n('maxMessageBytes'),
    maxRoomsPerConnection: n('maxRoomsPerConnection'),
    maxPeersPerRoom: n('maxPeersPerRoom'),
    messagesPerSecond: n('messagesPerSecond'),
    burst: n('burst'),
    resumeGraceMs: n('resumeGraceMs'),
  };
}
