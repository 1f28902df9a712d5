/**
 * The part of the WebSocket API (WHATWG HTML "The WebSocket interface") the SDK uses, so the
 * browser's `WebSocket` and `ws`'s `WebSocket` in Node both fit without adapters.
 *
 * The handler parameters are typed `never` on purpose: any implementation's event types are
 * accepted, and the SDK reads only `data` of a message event and `code`/`reason` of a close
 * event, which every implementation has.
 *
 * @example
 * ```ts
 * import { WebSocket } from 'ws';
 * const client = createClient({ url, getToken, WebSocket });
 * ```
 */
export interface WebSocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: never) => void) | null;
  onmessage: ((event: never) => void) | null;
  onclose: ((event: never) => void) | null;
  onerror: ((event: never) => void) | null;
}

/**
 * A WebSocket constructor: `globalThis.WebSocket` in browsers (and Node 22+), `ws`'s
 * `WebSocket` in Node 20.
 *
 * @example
 * ```ts
 * const Ctor: WebSocketConstructor = globalThis.WebSocket;
 * ```
 */
export type WebSocketConstructor = new (url: string, protocols: string[]) => WebSocketLike;

/** What the SDK reads from a message event. */
export interface MessageEventLike {
  data: unknown;
}

/** What the SDK reads from a close event (RFC 6455 §7.1.5, §7.1.6). */
export interface CloseEventLike {
  code: number;
  reason: string;
}

/** `WebSocket.OPEN` (the constant is not read from the constructor: some fakes lack it). */
export const WS_OPEN = 1;
