import type { IncomingHttpHeaders, IncomingMessage, Server } from 'node:http';
import type { Socket } from 'node:net';
import { isHttpToken } from '@callgate/protocol';

/**
 * What the upgrade handler reads from a request: an `IncomingMessage` from Node's HTTP server,
 * or a {@link FastUpgradeRequest} read straight from the socket.
 */
export type UpgradeRequest = Pick<
  IncomingMessage,
  'method' | 'url' | 'rawHeaders' | 'headers' | 'socket'
>;

/**
 * An upgrade request read by {@link parseUpgradeHead}. `headers` is built on first use, with
 * Node's rule for the headers the upgrade handler reads (`origin`, `x-forwarded-for`):
 * repeated lines joined with ", ", in an object without a prototype.
 */
export class FastUpgradeRequest implements UpgradeRequest {
  readonly method = 'GET';
  #headers: IncomingHttpHeaders | undefined;

  constructor(
    readonly url: string,
    readonly rawHeaders: string[],
    readonly socket: Socket,
  ) {}

  get headers(): IncomingHttpHeaders {
    if (this.#headers === undefined) {
      // No prototype, as Node's own `headers`: a header named `constructor` or `__proto__`
      // is a header like any other.
      const h = Object.create(null) as Record<string, string>;
      for (let i = 0; i < this.rawHeaders.length; i += 2) {
        const name = (this.rawHeaders[i] as string).toLowerCase();
        const value = this.rawHeaders[i + 1] as string;
        h[name] = h[name] === undefined ? value : `${h[name]}, ${value}`;
      }
      this.#headers = h;
    }
    return this.#headers;
  }
}

/** The parsed head: the request line's target, the header lines, and where the head ends. */
export interface UpgradeHead {
  url: string;
  rawHeaders: string[];
  /** Offset of the first byte after the blank line (the start of `head`). */
  end: number;
}

const CRLFCRLF = Buffer.from('\r\n\r\n');
/** Same as the HTTP server's `maxHeaderSize`: a longer head goes to Node, which answers 431. */
export const MAX_FAST_HEAD_BYTES = 16 * 1024;
/** More header lines than a WebSocket client sends: Node's parser takes such a request. */
const MAX_FAST_HEADERS = 64;
// Request targets of visible ASCII only.
const TARGET = /^[!-~]+$/;
// Control characters other than HTAB, which Node's parser refuses in a field value.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
const CONNECTION_UPGRADE = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i;

/**
 * Reads the head of a plain WebSocket upgrade request to `path` from the first bytes a client
 * sent, or answers undefined for anything else: a head not complete in `chunk`, another method,
 * path or HTTP version, a body, folded or unusual header lines, more than 64 of them, or a
 * character Node's parser would refuse. Whatever is undefined here is handed to Node's HTTP
 * server unchanged, which answers it as it always did (its limits, errors and statuses stay
 * the single source of truth); what is accepted here is exactly what Node would read for it
 * (`rawHeaders` with the same names and values, leading and trailing blanks dropped, latin1).
 */
export function parseUpgradeHead(chunk: Buffer, path: string): UpgradeHead | undefined {
  const blank = chunk.indexOf(CRLFCRLF);
  if (blank < 0 || blank + 4 > MAX_FAST_HEAD_BYTES) return undefined;
  const text = chunk.toString('latin1', 0, blank);
  let eol = text.indexOf('\r\n');
  if (eol < 0) eol = text.length;
  // "GET " target " HTTP/1.1"
  if (!text.startsWith('GET ') || !text.startsWith(' HTTP/1.1', eol - 9)) return undefined;
  const url = text.slice(4, eol - 9);
  if (
    !url.startsWith(path) ||
    (url.length > path.length && url.charCodeAt(path.length) !== 0x3f) ||
    !TARGET.test(url)
  )
    return undefined;

  const rawHeaders: string[] = [];
  let upgrade = false;
  let connectionUpgrade = false;
  for (let pos = eol + 2; pos < text.length;) {
    let next = text.indexOf('\r\n', pos);
    if (next < 0) next = text.length;
    const colon = text.indexOf(':', pos);
    if (colon <= pos || colon > next) return undefined;
    const name = text.slice(pos, colon);
    if (!isHttpToken(name)) return undefined;
    const value = trimBlanks(text, colon + 1, next);
    if (BAD_VALUE.test(value)) return undefined;
    if (rawHeaders.push(name, value) > MAX_FAST_HEADERS * 2) return undefined;
    switch (name.length) {
      case 7:
        if (name.toLowerCase() === 'upgrade') upgrade = true;
        break;
      case 10:
        if (name.toLowerCase() === 'connection' && CONNECTION_UPGRADE.test(value))
          connectionUpgrade = true;
        break;
      case 14:
      case 17: {
        const lower = name.toLowerCase();
        // A body on an upgrade request: Node's parser decides what that means.
        if (lower === 'content-length' || lower === 'transfer-encoding') return undefined;
        break;
      }
    }
    pos = next + 2;
  }
  if (!upgrade || !connectionUpgrade) return undefined;
  return { url, rawHeaders, end: blank + 4 };
}

/** `text.slice(start, end)` without leading and trailing SP and HTAB (RFC 7230 §3.2.4 OWS). */
function trimBlanks(text: string, start: number, end: number): string {
  while (start < end && isBlank(text.charCodeAt(start))) start++;
  while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
  return text.slice(start, end);
}

function isBlank(c: number): boolean {
  return c === 0x20 || c === 0x09;
}

export interface FastUpgradeOptions {
  /** The only path read here (`/v1/signal`); every other request goes to Node's parser. */
  path: string;
  /** A client that sends nothing for this long is answered 408, as Node's `headersTimeout`. */
  headersTimeoutMs: number;
  onUpgrade(req: FastUpgradeRequest, socket: Socket, head: Buffer): void;
}

/**
 * Takes the HTTP server's accepted sockets before Node's HTTP layer does, and reads a plain
 * WebSocket upgrade to `path` itself ({@link parseUpgradeHead}): no HTTP parser,
 * `IncomingMessage` or per-connection HTTP state is made for a handshake, which is most of a
 * connect's cost outside the signature check. Every other socket (the HTTP API, keep-alive,
 * anything unusual) is given to Node's own connection handler with its first bytes put back,
 * so it is served exactly as before. Returns a function that stops waiting sockets (shutdown).
 */
export function interceptUpgrades(server: Server, options: FastUpgradeOptions): () => void {
  const nodeHandlers = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  /** Accepted sockets that sent nothing yet, with when they were accepted. */
  const waiting = new Map<Socket, number>();

  const release = (socket: Socket): void => {
    waiting.delete(socket);
    socket.removeListener('data', onFirstData);
    socket.removeListener('end', onEarlyEnd);
    socket.removeListener('error', onEarlyError);
    socket.removeListener('close', onEarlyClose);
  };
  const toNode = (socket: Socket, first: Buffer): void => {
    socket.unshift(first);
    for (const handler of nodeHandlers) handler.call(server, socket);
  };

  function onFirstData(this: Socket, chunk: Buffer): void {
    release(this);
    const head = parseUpgradeHead(chunk, options.path);
    if (head === undefined) return toNode(this, chunk);
    // As Node does before its `upgrade` event: no longer flowing, not paused either, so the
    // handler's own `data` listener starts the flow again.
    (this as { readableFlowing: boolean | null }).readableFlowing = null;
    options.onUpgrade(
      new FastUpgradeRequest(head.url, head.rawHeaders, this),
      this,
      chunk.subarray(head.end),
    );
  }
  function onEarlyEnd(this: Socket): void {
    release(this);
    this.destroy();
  }
  function onEarlyError(this: Socket): void {
    release(this);
    this.destroy();
  }
  function onEarlyClose(this: Socket): void {
    release(this);
  }

  server.on('connection', (socket: Socket) => {
    waiting.set(socket, Date.now());
    socket.on('data', onFirstData);
    socket.on('end', onEarlyEnd);
    socket.on('error', onEarlyError);
    socket.on('close', onEarlyClose);
  });

  // A silent client is timed out as Node's `headersTimeout` would: `clientError` with
  // ERR_HTTP_REQUEST_TIMEOUT, which the server answers 408 (app.ts).
  const sweep = setInterval(
    () => {
      const cutoff = Date.now() - options.headersTimeoutMs;
      for (const [socket, acceptedAt] of waiting) {
        if (acceptedAt > cutoff) break; // in order of acceptance
        release(socket);
        const err = Object.assign(new Error('Request timeout'), {
          code: 'ERR_HTTP_REQUEST_TIMEOUT',
        });
        if (server.listenerCount('clientError') > 0) server.emit('clientError', err, socket);
        else socket.destroy();
      }
    },
    Math.max(10, Math.min(1000, options.headersTimeoutMs / 2)),
  );
  sweep.unref();

  return () => {
    clearInterval(sweep);
    for (const socket of [...waiting.keys()]) {
      release(socket);
      socket.destroy();
    }
  };
}
