/**
 * A minimal TURN client over UDP (RFC 5766 / RFC 8656 with RFC 8489 long-term credentials):
 * enough to prove that a relay accepts a credential, and to relay datagrams to a peer. Used by
 * the tests and by `callgate turn check`.
 */
import { isIP } from 'node:net';
import {
  getErrorCode,
  getTextAttribute,
  getUint32,
  getXorAddress,
  requestedTransportAttribute,
  textAttribute,
  uint32Attribute,
  xorAddressAttribute,
} from './stun/attributes.js';
import type { TransportAddress } from './stun/attributes.js';
import { StunAttr, StunClass, StunMethod, TRANSPORT_UDP } from './stun/constants.js';
import { longTermKey } from './stun/integrity.js';
import { getAttribute, newTransactionId } from './stun/stun-message.js';
import type { StunAttribute, StunMessage } from './stun/stun-message.js';
import { StunUdpTransport } from './stun-udp-transport.js';
import { TurnClientError } from './turn-client-error.js';

export type { TransportAddress } from './stun/attributes.js';

/** Options of {@link allocate}. */
export interface AllocateOptions {
  /** The relay's address: an IP literal or a host name. */
  host: string;
  /** The relay's UDP port (3478 by convention). */
  port: number;
  /** TURN username, e.g. from `mintTurnCredentials()`. */
  username: string;
  /** TURN password (the REST credential). */
  password: string;
  /** Budget for the whole allocation exchange, and for each later request; default 5000 ms. */
  timeoutMs?: number;
}

/** The relay refused the allocation (e.g. 401 Unauthorized, 486 Allocation Quota Reached). */
export interface AllocateFailure {
  readonly ok: false;
  /** The STUN error code (RFC 8489 §14.8, RFC 5766 §15). */
  readonly errorCode: number;
  /** The relay's reason phrase. */
  readonly reason: string;
}

/** A datagram a peer sent to the relayed address (a DATA indication, RFC 5766 §10.4). */
export interface RelayedDatagram {
  readonly peer: TransportAddress;
  readonly data: Uint8Array;
}

/** A live allocation. Call `close()` when done: it releases the allocation and the socket. */
export interface TurnAllocation {
  readonly ok: true;
  /** The address the relay allocated for us (XOR-RELAYED-ADDRESS). */
  readonly relayedAddress: TransportAddress;
  /** Our address as the relay saw it (XOR-MAPPED-ADDRESS). */
  readonly mappedAddress: TransportAddress;
  /** Seconds until the allocation expires unless refreshed (LIFETIME). */
  readonly lifetime: number;
  /** Installs a permission for the peer's IP (RFC 5766 §9); rejects with TurnClientError. */
  createPermission(peer: TransportAddress | string): Promise<void>;
  /** Relays `data` to `peer` in a SEND indication (RFC 5766 §10.1); needs a permission. */
  send(peer: TransportAddress, data: Uint8Array): void;
  /** The next datagram relayed from a peer; rejects with ERR_TURN_TIMEOUT. */
  receive(timeoutMs?: number): Promise<RelayedDatagram>;
  /** Refreshes the allocation (RFC 5766 §7); resolves with the lifetime granted. */
  refresh(lifetimeSeconds?: number): Promise<number>;
  /** Releases the allocation (REFRESH with LIFETIME 0) and closes the socket. Idempotent. */
  close(): Promise<void>;
}

/** What {@link allocate} resolves with. */
export type AllocateResult = TurnAllocation | AllocateFailure;

/**
 * Allocates a UDP relay: an unauthenticated ALLOCATE to learn REALM and NONCE from the 401
 * (RFC 8489 §9.2.3), then the ALLOCATE signed with the long-term key; a 438 Stale Nonce is
 * retried once with the new nonce (§9.2.5), and a 437 Allocation Mismatch from a new socket
 * (up to three sockets in all). Resolves `{ ok: false, errorCode }` when the relay
 * refuses, and rejects with {@link TurnClientError} on timeouts or unusable answers. The socket
 * is closed on every path except a success, whose `close()` closes it.
 *
 * @example
 * const result = await allocate({ host: '127.0.0.1', port: 3478, username, password: credential });
 * if (!result.ok) throw new Error(`TURN refused: ${result.errorCode}`);
 * await result.createPermission(peer);
 * result.send(peer, new TextEncoder().encode('ping'));
 * const { data } = await result.receive();
 * await result.close();
 */
export async function allocate(options: AllocateOptions): Promise<AllocateResult> {
  const { host, port, username, password, timeoutMs = 5000 } = options;
  if (typeof host !== 'string' || host.length === 0) {
    throw new TypeError('"host" option must be a non-empty string');
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new RangeError('"port" option must be an integer from 1 to 65535');
  }
  if (typeof username !== 'string' || username.length === 0 || username.length > 512) {
    throw new TypeError('"username" option must be a string of 1..512 characters');
  }
  if (typeof password !== 'string') throw new TypeError('"password" option must be a string');
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
    throw new RangeError('"timeoutMs" option must be a positive number');
  }
  const deadline = Date.now() + timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const result = await allocateFrom(host, port, username, password, deadline, timeoutMs);
    // 437 Allocation Mismatch to a new socket: the relay still holds an allocation for this
    // 5-tuple (coturn drops a released one on its next one-second tick, and the OS may give its
    // port to the next socket meanwhile). The client may try again from another transport
    // address (RFC 5766 §6.4, RFC 8656 §7.4), which a new socket is.
    if (
      result.ok ||
      result.errorCode !== 437 ||
      attempt >= MAX_MISMATCH_ATTEMPTS ||
      Date.now() >= deadline
    )
      return result;
  }
}

/** Sockets tried in turn while the relay answers 437 Allocation Mismatch. */
const MAX_MISMATCH_ATTEMPTS = 3;

async function allocateFrom(
  host: string,
  port: number,
  username: string,
  password: string,
  deadline: number,
  /** Each later operation's timeout on the allocation (the caller's `timeoutMs`). */
  timeoutMs: number,
): Promise<AllocateResult> {
  const remaining = () => Math.max(1, deadline - Date.now());
  const transport = await StunUdpTransport.open(host, port, remaining());
  try {
    const allocateAttributes = [requestedTransportAttribute(TRANSPORT_UDP)];
    const challenge = await transport.request(
      request(StunMethod.Allocate, allocateAttributes),
      { fingerprint: true },
      remaining(),
    );
    if (challenge.cls === StunClass.SuccessResponse) {
      throw new TurnClientError('ERR_TURN_PROTOCOL', 'the relay allocated without authentication');
    }
    const challengeError = errorOf(challenge);
    if (challengeError.code !== 401) {
      await transport.close();
      return { ok: false, errorCode: challengeError.code, reason: challengeError.reason };
    }
    const session = new AuthSession(transport, username, password, challenge);
    const response = await session.request(
      StunMethod.Allocate,
      () => allocateAttributes,
      remaining(),
    );
    if (response.cls === StunClass.ErrorResponse) {
      const { code, reason } = errorOf(response);
      await transport.close();
      return { ok: false, errorCode: code, reason };
    }
    const relayedAddress = getXorAddress(response, StunAttr.XorRelayedAddress);
    const mappedAddress = getXorAddress(response, StunAttr.XorMappedAddress);
    const lifetime = getUint32(response, StunAttr.Lifetime);
    if (!relayedAddress || !mappedAddress || lifetime === undefined) {
      throw new TurnClientError(
        'ERR_TURN_PROTOCOL',
        'the ALLOCATE success lacks XOR-RELAYED-ADDRESS, XOR-MAPPED-ADDRESS or LIFETIME',
      );
    }
    return new Allocation(session, relayedAddress, mappedAddress, lifetime, timeoutMs);
  } catch (err) {
    await transport.close();
    throw err;
  }
}

/** The long-term credential state of one client transport: key, realm and current nonce. */
class AuthSession {
  readonly transport: StunUdpTransport;
  readonly #username: string;
  readonly #password: string;
  #realm: string;
  #nonce: string;
  #key: Uint8Array;

  constructor(
    transport: StunUdpTransport,
    username: string,
    password: string,
    challenge: StunMessage,
  ) {
    this.transport = transport;
    this.#username = username;
    this.#password = password;
    const realm = getTextAttribute(challenge, StunAttr.Realm);
    const nonce = getTextAttribute(challenge, StunAttr.Nonce);
    if (realm === undefined || nonce === undefined) {
      throw new TurnClientError('ERR_TURN_PROTOCOL', 'the 401 challenge lacks REALM or NONCE');
    }
    this.#realm = realm;
    this.#nonce = nonce;
    this.#key = longTermKey(username, realm, password);
  }

  /**
   * A signed request: USERNAME, REALM, NONCE, the attributes, MESSAGE-INTEGRITY, FINGERPRINT
   * (RFC 8489 §9.2.4). `attributes` gets each attempt's transaction id, which XOR-PEER-ADDRESS
   * depends on. On 438 Stale Nonce it retries once with the nonce of the 438 (§9.2.5).
   * Resolves with the final success or error response.
   */
  async request(
    method: number,
    attributes: (transactionId: Uint8Array) => StunAttribute[],
    timeoutMs: number,
  ): Promise<StunMessage> {
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      const transactionId = newTransactionId();
      const response = await this.transport.request(
        {
          method,
          cls: StunClass.Request,
          transactionId,
          attributes: [
            textAttribute(StunAttr.Username, this.#username),
            textAttribute(StunAttr.Realm, this.#realm),
            textAttribute(StunAttr.Nonce, this.#nonce),
            ...attributes(transactionId),
          ],
        },
        { integrityKey: this.#key, fingerprint: true },
        Math.max(1, deadline - Date.now()),
      );
      if (response.cls !== StunClass.ErrorResponse || attempt > 0) return response;
      if (errorOf(response).code !== 438) return response;
      const nonce = getTextAttribute(response, StunAttr.Nonce);
      if (nonce === undefined) return response;
      this.#nonce = nonce;
      const realm = getTextAttribute(response, StunAttr.Realm);
      if (realm !== undefined && realm !== this.#realm) {
        this.#realm = realm;
        this.#key = longTermKey(this.#username, realm, this.#password);
      }
    }
  }
}

class Allocation implements TurnAllocation {
  readonly ok = true as const;
  readonly relayedAddress: TransportAddress;
  readonly mappedAddress: TransportAddress;
  readonly lifetime: number;
  readonly #session: AuthSession;
  readonly #timeoutMs: number;
  readonly #queue: RelayedDatagram[] = [];
  readonly #waiters = new Set<(datagram: RelayedDatagram) => void>();
  #closed = false;

  constructor(
    session: AuthSession,
    relayedAddress: TransportAddress,
    mappedAddress: TransportAddress,
    lifetime: number,
    timeoutMs: number,
  ) {
    this.#session = session;
    this.relayedAddress = relayedAddress;
    this.mappedAddress = mappedAddress;
    this.lifetime = lifetime;
    this.#timeoutMs = timeoutMs;
    session.transport.onIndication((message) => this.#onIndication(message));
  }

  async createPermission(peer: TransportAddress | string): Promise<void> {
    const address = typeof peer === 'string' ? peer : peer.address;
    const family = isIP(address);
    if (family === 0) throw new TypeError('"peer" must be an IP address');
    await this.#signed(StunMethod.CreatePermission, (transactionId) => [
      // RFC 5766 §9: permissions are per IP address; the port is ignored.
      xorAddressAttribute(
        StunAttr.XorPeerAddress,
        { family: family === 4 ? 'IPv4' : 'IPv6', address, port: 0 },
        transactionId,
      ),
    ]);
  }
  send(peer: TransportAddress, data: Uint8Array): void {
    this.#assertOpen();
    const message = request(StunMethod.Send, [], StunClass.Indication);
    this.#session.transport.indicate({
      ...message,
      attributes: [
        xorAddressAttribute(StunAttr.XorPeerAddress, peer, message.transactionId),
        { type: StunAttr.Data, value: data },
      ],
    });
  }

  receive(timeoutMs = this.#timeoutMs): Promise<RelayedDatagram> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    if (this.#closed) return Promise.reject(closed());
    return new Promise((resolve, reject) => {
      const waiter = (datagram: RelayedDatagram) => {
        clearTimeout(timer);
        resolve(datagram);
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new TurnClientError('ERR_TURN_TIMEOUT', `no relayed data within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.add(waiter);
    });
  }

  async refresh(lifetimeSeconds = 600): Promise<number> {
    const response = await this.#signed(StunMethod.Refresh, () => [
      uint32Attribute(StunAttr.Lifetime, lifetimeSeconds),
    ]);
    return getUint32(response, StunAttr.Lifetime) ?? lifetimeSeconds;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      // RFC 5766 §7: a REFRESH with LIFETIME 0 deletes the allocation at once, instead of
      // leaving it to time out on the relay. Best effort, with a short bound.
      await this.#signed(
        StunMethod.Refresh,
        () => [uint32Attribute(StunAttr.Lifetime, 0)],
        Math.min(this.#timeoutMs, 1000),
      );
    } catch {
      // The allocation times out on the relay anyway.
    } finally {
      this.#closed = true;
      await this.#session.transport.close();
    }
  }

  async #signed(
    method: number,
    attributes: (transactionId: Uint8Array) => StunAttribute[],
    timeoutMs = this.#timeoutMs,
  ): Promise<StunMessage> {
    this.#assertOpen();
    const response = await this.#session.request(method, attributes, timeoutMs);
    if (response.cls === StunClass.ErrorResponse) {
      const { code, reason } = errorOf(response);
      throw new TurnClientError('ERR_TURN_REJECTED', `the relay answered ${code} ${reason}`, code);
    }
    return response;
  }

  #onIndication(message: StunMessage): void {
    if (message.method !== StunMethod.Data) return;
    const peer = getXorAddress(message, StunAttr.XorPeerAddress);
    const data = getAttribute(message, StunAttr.Data);
    if (!peer || !data) return;
    const datagram = { peer, data };
    const [waiter] = this.#waiters;
    if (waiter) {
      this.#waiters.delete(waiter);
      waiter(datagram);
    } else if (this.#queue.length < 1024) {
      this.#queue.push(datagram);
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw closed();
  }
}

function request(
  method: number,
  attributes: StunAttribute[],
  cls: StunClass = StunClass.Request,
): StunMessage {
  return { method, cls, transactionId: newTransactionId(), attributes };
}

function errorOf(response: StunMessage): { code: number; reason: string } {
  const error = getErrorCode(response);
  if (!error) throw new TurnClientError('ERR_TURN_PROTOCOL', 'an error response lacks ERROR-CODE');
  return error;
}

function closed(): TurnClientError {
  return new TurnClientError('ERR_TURN_CLOSED', 'the allocation is closed');
}
