/**
 * A STUN Binding request over UDP (RFC 8489 §3, §6): the cheapest "is the relay answering?"
 * probe, and what tells a client its server-reflexive address.
 */
import { getXorAddress } from './stun/attributes.js';
import type { TransportAddress } from './stun/attributes.js';
import { StunAttr, StunClass, StunMethod } from './stun/constants.js';
import { newTransactionId } from './stun/stun-message.js';
import { StunUdpTransport } from './stun-udp-transport.js';
import { TurnClientError } from './turn-client-error.js';

/** Options of {@link stunBinding}. */
export interface StunBindingOptions {
  host: string;
  port: number;
  /** Default 2000 ms. */
  timeoutMs?: number;
}

/**
 * Sends one Binding request (retransmitted per RFC 8489 §6.2.1) and resolves with the
 * XOR-MAPPED-ADDRESS of the success response. Rejects with {@link TurnClientError}
 * (`ERR_TURN_TIMEOUT`, or `ERR_TURN_REJECTED` for an error response). Always closes its socket.
 *
 * @example
 * const reflexive = await stunBinding({ host: 'turn.example.com', port: 3478 });
 */
export async function stunBinding(options: StunBindingOptions): Promise<TransportAddress> {
  const { host, port, timeoutMs = 2000 } = options;
  const transport = await StunUdpTransport.open(host, port, timeoutMs);
  try {
    const response = await transport.request(
      {
        method: StunMethod.Binding,
        cls: StunClass.Request,
        transactionId: newTransactionId(),
        attributes: [],
      },
      { fingerprint: true },
      timeoutMs,
    );
    if (response.cls !== StunClass.SuccessResponse) {
      throw new TurnClientError('ERR_TURN_REJECTED', 'the Binding request was refused');
    }
    const mapped = getXorAddress(response, StunAttr.XorMappedAddress);
    if (!mapped) {
      throw new TurnClientError(
        'ERR_TURN_PROTOCOL',
        'the Binding response lacks XOR-MAPPED-ADDRESS',
      );
    }
    return mapped;
  } finally {
    await transport.close();
  }
}
