import { isOpaqueId, isRoomName, utf8Length } from '@callgate/protocol';
import { CallgateClientError } from './client-error.js';

/** Bytes the queue's `"id":"<n>",` adds to a frame, with room to spare. */
const ID_OVERHEAD_BYTES = 24;

/**
 * Refuses a room name the server would refuse (`invalid_room`), before anything is sent.
 * The name is never echoed: it may be user input.
 *
 * @example
 * ```ts
 * checkRoom('lobby'); // ok
 * checkRoom('no spaces'); // throws CallgateClientError invalid_room
 * ```
 */
export function checkRoom(room: string): void {
  if (!isRoomName(room)) {
    throw new CallgateClientError(
      'invalid_room',
      'Room names are 1..128 characters of [A-Za-z0-9._:-]',
      { field: 'room' },
    );
  }
}

/**
 * Refuses what is not a peer id (`invalid_peer_id`).
 *
 * @example
 * ```ts
 * checkPeerId(client.peerId!); // ok
 * ```
 */
export function checkPeerId(peerId: string): void {
  if (!isOpaqueId(peerId)) {
    throw new CallgateClientError('invalid_peer_id', 'Not a valid peer id', { field: 'to' });
  }
}

/**
 * `data` must be a JSON value (a `TypeError` otherwise: misuse) and the whole frame must fit
 * in `maxBytes` (`payload_too_large`): a larger frame would make the server close the
 * connection with 1009, which the client treats as a bug and does not reconnect from.
 *
 * @example
 * ```ts
 * checkData({ type: 'publish', room: 'lobby', data: { muted: true } }, welcome.limits.maxMessageBytes);
 * ```
 */
export function checkData(body: { type: string; data: unknown }, maxBytes: number): void {
  if (body.data === undefined) throw new TypeError('"data" must be a JSON value (null is allowed)');
  let text: string;
  try {
    text = JSON.stringify(body);
  } catch (cause) {
    throw new TypeError('"data" must be JSON-serializable', { cause });
  }
  if (utf8Length(text) + ID_OVERHEAD_BYTES > maxBytes) {
    throw new CallgateClientError(
      'payload_too_large',
      `The message is larger than ${maxBytes} bytes`,
      { field: 'data' },
    );
  }
}
