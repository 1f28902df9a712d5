import {
  parseServerMessage,
  type ClientMessage,
  type ParseError,
  type ServerMessage,
} from '@callgate/protocol';
import type { Clock } from './clock.js';
import {
  WS_OPEN,
  type CloseEventLike,
  type MessageEventLike,
  type WebSocketConstructor,
  type WebSocketLike,
} from './websocket-like.js';

/** What one connection attempt reports to the client. */
export interface SignalSocketHandlers {
  /** A valid server message. */
  message(message: ServerMessage): void;
  /** A frame that is not a valid server message (unknown types are dropped silently). */
  invalid(error: ParseError): void;
  /** The socket closed; called exactly once. */
  closed(code: number, reason: string): void;
}

export interface SignalSocketOptions {
  WebSocket: WebSocketConstructor;
  url: string;
  protocols: string[];
  clock: Clock;
  /** Abandon the attempt when no `welcome` arrived within this time. */
  handshakeTimeoutMs: number;
  handlers: SignalSocketHandlers;
}

/**
 * RFC 6455 §7.1.5: 1006 is never sent on the wire; it is what an endpoint reports when the
 * connection ended without a close frame. The SDK uses it for connections it abandons itself.
 */
export const ABNORMAL_CLOSE = 1006;

/**
 * One WebSocket connection attempt to `/v1/signal`: parses frames with `parseServerMessage`,
 * times out the handshake (until `welcome`), and reports exactly one close. It knows nothing
 * about tokens, rooms or reconnecting.
 *
 * @example
 * ```ts
 * const s = new SignalSocket({ WebSocket, url, protocols, clock, handshakeTimeoutMs: 10_000, handlers });
 * s.send({ type: 'ping', id: '1' });
 * s.close(1000, 'client_closed');
 * ```
 */
export class SignalSocket {
  readonly #ws: WebSocketLike;
  readonly #handlers: SignalSocketHandlers;
  #cancelHandshakeTimer: (() => void) | null;
  #closed = false;
  #resolveClosed: () => void = () => {};

  /** Settles when the socket has closed (or was abandoned). */
  readonly whenClosed: Promise<void> = new Promise((resolve) => {
    this.#resolveClosed = resolve;
  });

  /** Throws what the WebSocket constructor throws (a `SyntaxError` for a bad URL or subprotocol). */
  constructor(options: SignalSocketOptions) {
    this.#handlers = options.handlers;
    this.#ws = new options.WebSocket(options.url, options.protocols);
    this.#ws.onmessage = (event: MessageEventLike) => this.#onMessage(event);
    this.#ws.onclose = (event: CloseEventLike) => this.#finish(event.code, event.reason);
    // The close event that follows carries the code; an error event alone says nothing more.
    this.#ws.onerror = () => {};
    this.#cancelHandshakeTimer = options.clock.setTimer(() => {
      this.#cancelHandshakeTimer = null;
      this.abandon('handshake_timeout');
    }, options.handshakeTimeoutMs);
  }

  /** True while the socket can carry frames. */
  get open(): boolean {
    return !this.#closed && this.#ws.readyState === WS_OPEN;
  }

  /** Sends one client message; dropped when the socket is not open (its close follows). */
  send(message: ClientMessage): void {
    if (this.open) this.#ws.send(JSON.stringify(message));
  }

  /** Closes with a close frame; the close is reported when the socket has closed. */
  close(code: number, reason: string): void {
    this.#stopHandshakeTimer();
    try {
      this.#ws.close(code, reason);
    } catch {
      this.abandon(reason);
    }
  }

  /**
   * Gives up on the socket now (a handshake that hangs, a dead path): closes it without
   * waiting and reports a 1006 close with `reason` at once.
   */
  abandon(reason: string): void {
    if (this.#closed) return;
    try {
      // 4000-4999 are the application's (RFC 6455 §7.4.2); a browser accepts only 1000 or these.
      this.#ws.close(4000, reason);
    } catch {
      // Already closing.
    }
    this.#finish(ABNORMAL_CLOSE, reason);
  }

  #onMessage(event: MessageEventLike): void {
    if (this.#closed) return;
    if (typeof event.data !== 'string') {
      this.#handlers.invalid({ code: 'bad_request', message: 'A binary frame from the server' });
      return;
    }
    const parsed = parseServerMessage(event.data);
    if (!parsed.ok) {
      // Newer servers may append message types (docs/protocol.md): ignore, do not complain.
      if (parsed.error.code !== 'unknown_type') this.#handlers.invalid(parsed.error);
      return;
    }
    if (parsed.message.type === 'welcome') this.#stopHandshakeTimer();
    this.#handlers.message(parsed.message);
  }

  #finish(code: number, reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopHandshakeTimer();
    this.#ws.onmessage = null;
    this.#ws.onclose = null;
    this.#resolveClosed();
    this.#handlers.closed(code, reason);
  }

  #stopHandshakeTimer(): void {
    this.#cancelHandshakeTimer?.();
    this.#cancelHandshakeTimer = null;
  }
}
