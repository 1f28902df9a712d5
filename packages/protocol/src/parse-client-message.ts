import { isOpaqueId, isPlainObject, isRoomName } from './identity.js';
import { MAX_MESSAGE_ID_LENGTH, MAX_REFRESH_TOKEN_LENGTH, isMessageId } from './messages.js';
import type { ClientMessage, ParseResult } from './messages.js';
import { Invalid, decodeFrame, failure, own } from './parse-support.js';

/**
 * Validates one client frame (design.md "Frames"; docs/protocol.md "Client messages").
 *
 * `input` is the raw text of a WebSocket frame (parsed here; bad JSON is `bad_request`) or an
 * already-parsed value. The result is a fresh object that holds only the fields of its type:
 * unknown fields are dropped, so a client-supplied `from`, `tenant` or `__proto__` never
 * reaches the server's logic (mass assignment, catalogue E63/E64/E67). `data` is kept by
 * reference; from text input it is plain JSON, from an already-parsed value only its top level
 * is checked.
 *
 * Never throws. Error codes: `bad_request` (not JSON, not an object, a field missing or of the
 * wrong JSON type, a bad `id`), `unknown_type`, `invalid_room` (a string that is not a room
 * name), `invalid_peer_id` (a `to` that is not a peer id). A valid `id` is echoed in the error
 * even when the rest of the message is bad.
 *
 * @example
 * ```ts
 * const r = parseClientMessage('{"type":"join","id":"1","room":"lobby"}');
 * if (r.ok) r.message; // { type: 'join', id: '1', room: 'lobby' }
 * else ws.send(JSON.stringify({ type: 'error', ...r.error }));
 * ```
 */
export function parseClientMessage(input: unknown): ParseResult<ClientMessage> {
  const decoded = decodeFrame(input);
  if (!decoded.ok) return decoded;
  const value = decoded.value;
  let id: string | undefined;
  try {
    if (!isPlainObject(value)) return failure('bad_request', 'A message must be a JSON object');
    const rawId = own(value, 'id');
    if (rawId !== undefined) {
      if (!isMessageId(rawId)) {
        return failure(
          'bad_request',
          `"id" must be a string of 1..${MAX_MESSAGE_ID_LENGTH} characters`,
          'id',
        );
      }
      id = rawId;
    }
    return { ok: true, message: build(value, id) };
  } catch (err) {
    if (err instanceof Invalid) return failure(err.code, err.message, err.field, id);
    // A throwing getter or proxy in an already-parsed value: refuse it rather than throw.
    return failure('bad_request', 'The message could not be read', undefined, id);
  }
}

function build(obj: Record<string, unknown>, id: string | undefined): ClientMessage {
  const type = own(obj, 'type');
  if (type === undefined) throw new Invalid('bad_request', '"type" is required', 'type');
  if (typeof type !== 'string') throw new Invalid('bad_request', '"type" must be a string', 'type');
  // A switch, not a lookup table: `type` may be "constructor" or "__proto__". Each branch
  // builds its object in one step (this runs for every frame).
  switch (type) {
    case 'join':
    case 'leave':
      return id === undefined ? { type, room: room(obj) } : { type, id, room: room(obj) };
    case 'send': {
      const to = peerId(obj, 'to');
      const d = data(obj);
      return id === undefined ? { type, to, data: d } : { type, id, to, data: d };
    }
    case 'publish': {
      const r = room(obj);
      const d = data(obj);
      return id === undefined ? { type, room: r, data: d } : { type, id, room: r, data: d };
    }
    case 'refresh':
      return id === undefined ? { type, token: token(obj) } : { type, id, token: token(obj) };
    case 'ping':
      return id === undefined ? { type } : { type, id };
    default:
      throw new Invalid('unknown_type', '"type" is not a known client message type', 'type');
  }
}

function room(obj: Record<string, unknown>): string {
  const v = string(obj, 'room');
  if (!isRoomName(v)) {
    throw new Invalid(
      'invalid_room',
      '"room" must be 1..128 characters of [A-Za-z0-9._:-]',
      'room',
    );
  }
  return v;
}

function peerId(obj: Record<string, unknown>, key: string): string {
  const v = string(obj, key);
  if (!isOpaqueId(v)) throw new Invalid('invalid_peer_id', `"${key}" must be a peer id`, key);
  return v;
}

function token(obj: Record<string, unknown>): string {
  const v = own(obj, 'token');
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_REFRESH_TOKEN_LENGTH) {
    // Never quote the value: it may be a token.
    throw new Invalid(
      'bad_request',
      `"token" must be a non-empty string of at most ${MAX_REFRESH_TOKEN_LENGTH} characters`,
      'token',
    );
  }
  return v;
}

function data(obj: Record<string, unknown>): unknown {
  const v = own(obj, 'data');
  if (v === undefined) throw new Invalid('bad_request', '"data" is required', 'data');
  // JSON.parse can only produce JSON; these guard already-parsed input.
  if (
    typeof v === 'function' ||
    typeof v === 'symbol' ||
    typeof v === 'bigint' ||
    (typeof v === 'number' && !Number.isFinite(v))
  ) {
    throw new Invalid('bad_request', '"data" must be a JSON value', 'data');
  }
  return v;
}

function string(obj: Record<string, unknown>, key: string): string {
  const v = own(obj, key);
  if (v === undefined) throw new Invalid('bad_request', `"${key}" is required`, key);
  if (typeof v !== 'string') throw new Invalid('bad_request', `"${key}" must be a string`, key);
  return v;
}
