import WebSocket from 'ws';
import type { ServerMessage } from '@callgate/protocol';

export interface TestClientOptions {
  /** Extra subprotocols (e.g. `resume.<token>`); the token goes as `bearer.<token>`. */
  protocols?: string[];
  /** Put the token in `?token=` instead of the subprotocol list. */
  query?: boolean;
  headers?: Record<string, string>;
  /** Skip `callgate.v1` in the subprotocol list. */
  noProtocol?: boolean;
}

/** A real `ws` client that records every message and the close. */
export class TestClient {
  readonly ws: WebSocket;
  readonly messages: ServerMessage[] = [];
  readonly opened: Promise<void>;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** Set when the HTTP handshake was refused (status code). */
  refusedStatus: number | undefined;
  #waiters: Array<() => void> = [];

  constructor(baseUrl: string, token: string | undefined, options: TestClientOptions = {}) {
    const protocols = options.noProtocol ? [] : ['callgate.v1'];
    if (token !== undefined && !options.query) protocols.push(`bearer.${token}`);
    protocols.push(...(options.protocols ?? []));
    const url = `${baseUrl}/v1/signal${options.query && token !== undefined ? `?token=${encodeURIComponent(token)}` : ''}`;
    this.ws = new WebSocket(url, protocols, { headers: options.headers ?? {} });
    this.ws.on('message', (data) => {
      this.messages.push(JSON.parse(data.toString()) as ServerMessage);
      for (const w of this.#waiters.splice(0)) w();
    });
    this.ws.on('unexpected-response', (_req, res) => {
      this.refusedStatus = res.statusCode;
      res.resume();
      this.ws.emit('close', 1006, Buffer.from(''));
    });
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', () => resolve());
      this.ws.once('close', () => reject(new Error('closed before open')));
    });
    this.opened.catch(() => {});
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => {
        resolve({ code, reason: reason.toString() });
        for (const w of this.#waiters.splice(0)) w();
      });
    });
    this.ws.on('error', () => {});
  }

  send(message: unknown): void {
    this.ws.send(typeof message === 'string' ? message : JSON.stringify(message));
  }

  /** Waits for the first message matching `pred` (searching from index `from`), or throws. */
  async next<T extends ServerMessage['type']>(
    type: T,
    pred: (m: Extract<ServerMessage, { type: T }>) => boolean = () => true,
    timeoutMs = 3000,
  ): Promise<Extract<ServerMessage, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      for (; seen < this.messages.length; seen++) {
        const m = this.messages[seen]!;
        if (m.type === type && pred(m as Extract<ServerMessage, { type: T }>)) {
          this.messages.splice(seen, 1);
          return m as Extract<ServerMessage, { type: T }>;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED)
        throw new Error(
          `no ${type} message within ${timeoutMs} ms; got ${JSON.stringify(this.messages.map((m) => m.type))}`,
        );
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Sends a request with an id and waits for its ack or error. */
  async request(message: Record<string, unknown>, timeoutMs = 3000): Promise<ServerMessage> {
    const id = `r${Math.random().toString(36).slice(2, 10)}`;
    this.send({ ...message, id });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.messages.findIndex(
        (m) =>
          (m.type === 'ack' || m.type === 'error' || m.type === 'pong') &&
          (m as { id?: string }).id === id,
      );
      if (i !== -1) return this.messages.splice(i, 1)[0]!;
      if (Date.now() > deadline) throw new Error(`no answer to ${String(message.type)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  close(): void {
    this.ws.close();
  }

  /** Cuts the TCP connection without a close frame (a network blip). */
  cut(): void {
    (this.ws as unknown as { _socket: { destroy(): void } })._socket.destroy();
  }
}

/** Connects and waits for `welcome`. */
export async function connectClient(
  baseUrl: string,
  token: string,
  options: TestClientOptions = {},
) {
  const c = new TestClient(baseUrl, token, options);
  await c.opened;
  const welcome = await c.next('welcome');
  return { client: c, welcome };
}
