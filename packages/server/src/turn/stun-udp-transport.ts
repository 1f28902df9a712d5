/**
 * STUN transactions over one connected UDP socket (RFC 8489 §6.2.1): requests are
 * retransmitted with a doubling RTO until a response with the same transaction id arrives or
 * the time allowed runs out. Used by the TURN client and the STUN binding probe.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { isIP } from 'node:net';
import { StunClass } from './stun/constants.js';
import { verifyMessageIntegrity } from './stun/integrity.js';
import { decodeStunMessage, encodeStunMessage } from './stun/stun-message.js';
import type { EncodeStunOptions, StunMessage } from './stun/stun-message.js';
import { TurnClientError } from './turn-client-error.js';

/** RFC 8489 §6.2.1: the initial retransmission timeout is 500 ms... */
const INITIAL_RTO_MS = 500;
/** ...doubling each time; we stop doubling at this value. */
const MAX_RTO_MS = 4000;

interface Pending {
  readonly key: Uint8Array | undefined;
  readonly resolve: (message: StunMessage) => void;
  readonly reject: (err: Error) => void;
  integrityFailures: number;
}

/** A connected UDP socket that speaks STUN transactions to one server. */
export class StunUdpTransport {
  readonly #socket: Socket;
  readonly #pending = new Map<string, Pending>();
  readonly #indicationListeners = new Set<(message: StunMessage) => void>();
  #closed = false;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (datagram) => this.#onDatagram(datagram));
    // Connected UDP sockets report ICMP port unreachable as an error; the retransmission timer
    // turns a dead server into ERR_TURN_TIMEOUT, so errors need no handling of their own.
    socket.on('error', () => {});
  }

  /**
   * Opens a socket connected to `host:port` (an IP literal or a name `dgram` can resolve).
   * Rejects with ERR_TURN_TIMEOUT when that takes longer than `timeoutMs`.
   */
  static async open(host: string, port: number, timeoutMs: number): Promise<StunUdpTransport> {
    const socket = createSocket(isIP(host) === 6 ? 'udp6' : 'udp4');
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.once('error', reject);
          socket.connect(port, host, () => {
            socket.off('error', reject);
            resolve();
          });
        }),
        timeoutMs,
        'connecting the UDP socket timed out',
      );
    } catch (err) {
      socket.close();
      throw err instanceof TurnClientError
        ? err
        : new TurnClientError('ERR_TURN_PROTOCOL', 'cannot reach the server', undefined, {
            cause: err,
          });
    }
    return new StunUdpTransport(socket);
  }

  /** The local address the socket is bound to. */
  localAddress(): { address: string; port: number; family: string } {
    return this.#socket.address();
  }

  /**
   * Sends a request and resolves with the matching response (success or error class).
   * With `integrityKey`, a success response must carry a valid MESSAGE-INTEGRITY; one that does
   * not is discarded as RFC 8489 §9.2.5 says, and the wait goes on.
   */
  request(
    message: StunMessage,
    options: EncodeStunOptions,
    timeoutMs: number,
  ): Promise<StunMessage> {
    if (this.#closed) return Promise.reject(closedError());
    const id = Buffer.from(message.transactionId).toString('hex');
    const bytes = encodeStunMessage(message, options);
    return new Promise<StunMessage>((resolve, reject) => {
      let rto = INITIAL_RTO_MS;
      let timer: NodeJS.Timeout | undefined;
      const deadline = setTimeout(() => {
        const failures = this.#pending.get(id)?.integrityFailures ?? 0;
        finish();
        reject(
          new TurnClientError(
            'ERR_TURN_TIMEOUT',
            failures > 0
              ? `no response within ${timeoutMs} ms (${failures} failed MESSAGE-INTEGRITY)`
              : `no response within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const transmit = () => {
        this.#socket.send(bytes, () => {});
        timer = setTimeout(transmit, rto);
        rto = Math.min(rto * 2, MAX_RTO_MS);
      };
      const finish = () => {
        clearTimeout(deadline);
        clearTimeout(timer);
        this.#pending.delete(id);
      };
      this.#pending.set(id, {
        key: options.integrityKey,
        integrityFailures: 0,
        resolve: (response) => {
          finish();
          resolve(response);
        },
        reject: (err) => {
          finish();
          reject(err);
        },
      });
      transmit();
    });
  }

  /** Sends an indication (no response, no retransmission). */
  indicate(message: StunMessage, options: EncodeStunOptions = {}): void {
    if (this.#closed) throw closedError();
    this.#socket.send(encodeStunMessage(message, options));
  }

  /** Calls `listener` for every indication from the server; returns the unsubscribe function. */
  onIndication(listener: (message: StunMessage) => void): () => void {
    this.#indicationListeners.add(listener);
    return () => this.#indicationListeners.delete(listener);
  }

  /** Rejects pending requests with ERR_TURN_CLOSED and closes the socket. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const pending of [...this.#pending.values()]) pending.reject(closedError());
    this.#indicationListeners.clear();
    await new Promise<void>((resolve) => this.#socket.close(() => resolve()));
  }

  #onDatagram(datagram: Buffer): void {
    let message: StunMessage;
    try {
      message = decodeStunMessage(datagram);
    } catch {
      return; // not STUN, or a bad FINGERPRINT: drop (RFC 8489 §6.3)
    }
    if (message.cls === StunClass.Indication) {
      for (const listener of this.#indicationListeners) listener(message);
      return;
    }
    if (message.cls !== StunClass.SuccessResponse && message.cls !== StunClass.ErrorResponse) {
      return;
    }
    const pending = this.#pending.get(Buffer.from(message.transactionId).toString('hex'));
    if (!pending) return;
    if (
      message.cls === StunClass.SuccessResponse &&
      pending.key !== undefined &&
      !verifyMessageIntegrity(datagram, pending.key)
    ) {
      pending.integrityFailures += 1;
      return;
    }
    pending.resolve(message);
  }
}

function closedError(): TurnClientError {
  return new TurnClientError('ERR_TURN_CLOSED', 'the client is closed');
}

async function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new TurnClientError('ERR_TURN_TIMEOUT', message)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
