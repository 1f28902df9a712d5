import type { AckMessage, ClientMessage, ErrorMessage, PongMessage } from '@callgate/protocol';
import { CallgateClientError } from './client-error.js';
import type { Clock } from './clock.js';

/** A client message before the queue gives it an `id`. */
export type RequestBody = WithoutId<ClientMessage>;

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

/** The answer that settles a request successfully. */
export type Answer = AckMessage | PongMessage;

/** How one request behaves around reconnects. */
export interface RequestOptions {
  /**
   * Safe to send again when the connection dropped after it was sent and before its answer
   * arrived (idempotent: `join`, `leave`, `ping`). Otherwise it fails with `closed`.
   */
  resend: boolean;
  /** Wait for a connection when there is none (default); `false` fails at once with `not_connected`. */
  wait?: boolean;
  /** Send before anything already waiting (the rejoin after a failed resume). */
  first?: boolean;
}

/** A request's answer, with whether the request had to be sent more than once. */
export interface Settled {
  answer: Answer;
  resent: boolean;
}

interface Entry {
  id: string;
  message: ClientMessage;
  options: RequestOptions;
  sent: boolean;
  sends: number;
  cancelTimer: () => void;
  resolve(value: Settled): void;
  reject(error: CallgateClientError): void;
}

/**
 * Requests that wait for their `ack`/`error`/`pong`, matched by `id`. While there is no
 * connection they are held (bounded by the timeout, which runs from the call) and sent in
 * order once there is one; this is how requests made while reconnecting wait rather than fail.
 *
 * @example
 * ```ts
 * const q = new RequestQueue(clock, 10_000);
 * q.online((m) => socket.send(m));
 * const { answer } = await q.request({ type: 'join', room: 'lobby' }, { resend: true });
 * ```
 */
export class RequestQueue {
  readonly #clock: Clock;
  readonly #timeoutMs: number;
  #entries: Entry[] = [];
  #send: ((message: ClientMessage) => void) | null = null;
  #nextId = 1;

  constructor(clock: Clock, timeoutMs: number) {
    this.#clock = clock;
    this.#timeoutMs = timeoutMs;
  }

  /** Number of requests not yet answered. */
  get size(): number {
    return this.#entries.length;
  }

  /** Queues (or sends) a request; resolves with its answer, rejects with a coded error. */
  request(body: RequestBody, options: RequestOptions): Promise<Settled> {
    if (options.wait === false && this.#send === null) {
      return Promise.reject(
        new CallgateClientError('not_connected', 'The client is not connected'),
      );
    }
    const id = String(this.#nextId++);
    return new Promise<Settled>((resolve, reject) => {
      const entry: Entry = {
        id,
        message: { ...body, id } as ClientMessage,
        options,
        sent: false,
        sends: 0,
        cancelTimer: () => {},
        resolve,
        reject,
      };
      entry.cancelTimer = this.#clock.setTimer(() => {
        this.#remove(entry);
        reject(
          new CallgateClientError(
            'timeout',
            `No answer to "${body.type}" within ${this.#timeoutMs} ms`,
          ),
        );
      }, this.#timeoutMs);
      if (options.first) {
        const firstUnsent = this.#entries.findIndex((e) => !e.sent && !e.options.first);
        if (firstUnsent === -1) this.#entries.push(entry);
        else this.#entries.splice(firstUnsent, 0, entry);
      } else this.#entries.push(entry);
      this.#flush();
    });
  }

  /** Settles the request an answer is for; false when it is for none (late or unknown). */
  answer(message: AckMessage | PongMessage | ErrorMessage): boolean {
    if (message.id === undefined) return false;
    const entry = this.#entries.find((e) => e.id === message.id && e.sent);
    if (!entry) return false;
    this.#remove(entry);
    entry.cancelTimer();
    if (message.type === 'error') {
      entry.reject(
        new CallgateClientError(message.code, message.message, {
          ...(message.field !== undefined ? { field: message.field } : {}),
        }),
      );
    } else entry.resolve({ answer: message, resent: entry.sends > 1 });
    return true;
  }

  /** A connection is ready (after `welcome`): send everything waiting, in order. */
  online(send: (message: ClientMessage) => void): void {
    this.#send = send;
    this.#flush();
  }

  /**
   * The connection is gone: requests sent on it fail with `closed`, unless they may be sent
   * again; requests that may not wait fail with `closed` too.
   */
  offline(info: { code: number; reason: string }): void {
    this.#send = null;
    for (const entry of [...this.#entries]) {
      if (!entry.sent) continue;
      if (entry.options.resend && entry.options.wait !== false) entry.sent = false;
      else
        this.#fail(entry, closedError(`"${entry.message.type}" was interrupted by a close`, info));
    }
  }

  /** Fails every request (the client stopped). */
  failAll(error: CallgateClientError): void {
    this.#send = null;
    for (const entry of [...this.#entries]) this.#fail(entry, error);
  }

  #flush(): void {
    for (const entry of [...this.#entries]) {
      if (this.#send === null) return;
      if (entry.sent) continue;
      // A socket that is closing drops the frame; its close event then re-queues or fails
      // the entry through offline().
      entry.sent = true;
      entry.sends++;
      this.#send(entry.message);
    }
  }

  #fail(entry: Entry, error: CallgateClientError): void {
    this.#remove(entry);
    entry.cancelTimer();
    entry.reject(error);
  }

  #remove(entry: Entry): void {
    const i = this.#entries.indexOf(entry);
    if (i !== -1) this.#entries.splice(i, 1);
  }
}

/** The `closed` error of a request interrupted by a close. */
export function closedError(
  message: string,
  info: { code: number; reason: string },
): CallgateClientError {
  return new CallgateClientError('closed', message, {
    closeCode: info.code,
    closeReason: info.reason,
  });
}
