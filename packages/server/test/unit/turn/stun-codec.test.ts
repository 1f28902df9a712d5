import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  StunAttr,
  StunClass,
  StunDecodeError,
  StunMethod,
  TRANSPORT_UDP,
  classOf,
  crc32,
  decodeStunMessage,
  decodeXorAddress,
  encodeStunMessage,
  errorCodeAttribute,
  getAttribute,
  getErrorCode,
  getTextAttribute,
  getUint32,
  getXorAddress,
  isStunMessage,
  longTermKey,
  messageType,
  methodOf,
  newTransactionId,
  requestedTransportAttribute,
  shortTermKey,
  textAttribute,
  uint32Attribute,
  verifyMessageIntegrity,
  xorAddressAttribute,
} from '../../../src/turn/stun/index.js';
import type { StunMessage } from '../../../src/turn/stun/index.js';

// RFC 5769 §2 sample messages, transcribed four bytes per line as the RFC prints them; the
// transcription was cross-checked against coturn 4.6.1's src/apps/rfc5769/rfc5769check.c, and the
// tests below prove it: MESSAGE-INTEGRITY and FINGERPRINT only verify on the exact bytes.
const hex = (lines: string[]): Buffer => Buffer.from(lines.join('').replace(/\s+/g, ''), 'hex');

/** §2.1 Sample Request (short-term credentials, password "VOkJxbRl1RmTxUk/WvJxBt"). */
const SAMPLE_REQUEST = hex([
  '00010058 2112a442 b7e7a701 bc34d686 fa87dfae', // header: Binding request, length 88
  '80220010 5354554e 20746573 7420636c 69656e74', // SOFTWARE "STUN test client"
  '00240004 6e0001ff', // PRIORITY
  '80290008 932ff9b1 51263b36', // ICE-CONTROLLED
  '00060009 6576746a 3a683676 59202020', // USERNAME "evtj:h6vY", padded with spaces
  '00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2', // MESSAGE-INTEGRITY
  '80280004 e57a3bcf', // FINGERPRINT
]);

/** §2.2 Sample IPv4 Response: XOR-MAPPED-ADDRESS 192.0.2.1:32853. */
const SAMPLE_IPV4_RESPONSE = hex([
  '0101003c 2112a442 b7e7a701 bc34d686 fa87dfae', // header: Binding success, length 60
  '8022000b 74657374 20766563 746f7220', // SOFTWARE "test vector", padded with a space
  '00200008 0001a147 e112a643', // XOR-MAPPED-ADDRESS
  '00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7', // MESSAGE-INTEGRITY
  '80280004 c07d4c96', // FINGERPRINT
]);

/** §2.3 Sample IPv6 Response: XOR-MAPPED-ADDRESS [2001:db8:1234:5678:11:2233:4455:6677]:32853. */
const SAMPLE_IPV6_RESPONSE = hex([
  '01010048 2112a442 b7e7a701 bc34d686 fa87dfae', // header: Binding success, length 72
  '8022000b 74657374 20766563 746f7220', // SOFTWARE "test vector"
  '00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9', // XOR-MAPPED-ADDRESS
  '00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41', // MESSAGE-INTEGRITY
  '80280004 c8fb0b4c', // FINGERPRINT
]);

/** §2.4 Sample Request with Long-Term Authentication (no FINGERPRINT). */
const SAMPLE_LONG_TERM_REQUEST = hex([
  '00010060 2112a442 78ad3433 c6ad72c0 29da412e', // header: Binding request, length 96
  '00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000', // USERNAME "マトリックス"
  '0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341', // NONCE
  '0014000b 6578616d 706c652e 6f726700', // REALM "example.org"
  '00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666', // MESSAGE-INTEGRITY
]);

const SHORT_TERM_PASSWORD = 'VOkJxbRl1RmTxUk/WvJxBt';

/** Rebuilds a decoded sample without its MESSAGE-INTEGRITY and FINGERPRINT. */
function withoutSecurity(message: StunMessage): StunMessage {
  return {
    ...message,
    attributes: message.attributes.filter(
      (a) => a.type !== StunAttr.MessageIntegrity && a.type !== StunAttr.Fingerprint,
    ),
  };
}

test('RFC 5769 §2.1 sample request: fields, short-term integrity, fingerprint', () => {
  assert.ok(isStunMessage(SAMPLE_REQUEST));
  const message = decodeStunMessage(SAMPLE_REQUEST);
  assert.equal(message.method, StunMethod.Binding);
  assert.equal(message.cls, StunClass.Request);
  assert.equal(Buffer.from(message.transactionId).toString('hex'), 'b7e7a701bc34d686fa87dfae');
  assert.equal(getTextAttribute(message, StunAttr.Software), 'STUN test client');
  assert.equal(getTextAttribute(message, StunAttr.Username), 'evtj:h6vY');
  assert.equal(verifyMessageIntegrity(SAMPLE_REQUEST, shortTermKey(SHORT_TERM_PASSWORD)), true);
  assert.equal(
    verifyMessageIntegrity(SAMPLE_REQUEST, shortTermKey('VOkJxbRl1RmTxUk/WvJxBT')),
    false,
  );
  // Rebuilding from the decoded attributes (padding with spaces, as the sample does) gives the
  // same bytes, so our MESSAGE-INTEGRITY and FINGERPRINT computation match the RFC's.
  const rebuilt = encodeStunMessage(withoutSecurity(message), {
    integrityKey: shortTermKey(SHORT_TERM_PASSWORD),
    fingerprint: true,
    padding: 0x20,
  });
  assert.equal(rebuilt.toString('hex'), SAMPLE_REQUEST.toString('hex'));
});

test('RFC 5769 §2.2 sample IPv4 response', () => {
  const message = decodeStunMessage(SAMPLE_IPV4_RESPONSE);
  assert.equal(message.method, StunMethod.Binding);
  assert.equal(message.cls, StunClass.SuccessResponse);
  assert.equal(getTextAttribute(message, StunAttr.Software), 'test vector');
  assert.deepEqual(getXorAddress(message, StunAttr.XorMappedAddress), {
    family: 'IPv4',
    address: '192.0.2.1',
    port: 32853,
  });
  assert.equal(
    verifyMessageIntegrity(SAMPLE_IPV4_RESPONSE, shortTermKey(SHORT_TERM_PASSWORD)),
    true,
  );
  const rebuilt = encodeStunMessage(withoutSecurity(message), {
    integrityKey: shortTermKey(SHORT_TERM_PASSWORD),
    fingerprint: true,
    padding: 0x20,
  });
  assert.equal(rebuilt.toString('hex'), SAMPLE_IPV4_RESPONSE.toString('hex'));
  // And the address encoder produces the sample's attribute bytes.
  const attribute = xorAddressAttribute(
    StunAttr.XorMappedAddress,
    { family: 'IPv4', address: '192.0.2.1', port: 32853 },
    message.transactionId,
  );
  assert.deepEqual(attribute.value, getAttribute(message, StunAttr.XorMappedAddress));
});

test('RFC 5769 §2.3 sample IPv6 response', () => {
  const message = decodeStunMessage(SAMPLE_IPV6_RESPONSE);
  assert.deepEqual(getXorAddress(message, StunAttr.XorMappedAddress), {
    family: 'IPv6',
    address: '2001:db8:1234:5678:11:2233:4455:6677',
    port: 32853,
  });
  assert.equal(
    verifyMessageIntegrity(SAMPLE_IPV6_RESPONSE, shortTermKey(SHORT_TERM_PASSWORD)),
    true,
  );
  const rebuilt = encodeStunMessage(withoutSecurity(message), {
    integrityKey: shortTermKey(SHORT_TERM_PASSWORD),
    fingerprint: true,
    padding: 0x20,
  });
  assert.equal(rebuilt.toString('hex'), SAMPLE_IPV6_RESPONSE.toString('hex'));
  const attribute = xorAddressAttribute(
    StunAttr.XorMappedAddress,
    { family: 'IPv6', address: '2001:db8:1234:5678:11:2233:4455:6677', port: 32853 },
    message.transactionId,
  );
  assert.deepEqual(attribute.value, getAttribute(message, StunAttr.XorMappedAddress));
});

test('RFC 5769 §2.4 sample request with long-term authentication', () => {
  const message = decodeStunMessage(SAMPLE_LONG_TERM_REQUEST);
  const username = getTextAttribute(message, StunAttr.Username);
  const realm = getTextAttribute(message, StunAttr.Realm);
  assert.equal(username, 'マトリックス');
  assert.equal(realm, 'example.org');
  assert.equal(getTextAttribute(message, StunAttr.Nonce), 'f//499k954d6OL34oL9FSTvy64sA');
  assert.equal(getAttribute(message, StunAttr.Fingerprint), undefined);
  const key = longTermKey('マトリックス', 'example.org', 'TheMatrIX');
  assert.deepEqual(
    Buffer.from(key),
    createHash('md5').update('マトリックス:example.org:TheMatrIX').digest(),
  );
  assert.equal(verifyMessageIntegrity(SAMPLE_LONG_TERM_REQUEST, key), true);
  assert.equal(
    verifyMessageIntegrity(
      SAMPLE_LONG_TERM_REQUEST,
      longTermKey('マトリックス', 'example.org', 'thematrix'),
    ),
    false,
  );
  const rebuilt = encodeStunMessage(withoutSecurity(message), { integrityKey: key });
  assert.equal(rebuilt.toString('hex'), SAMPLE_LONG_TERM_REQUEST.toString('hex'));
});

test('a flipped bit anywhere breaks MESSAGE-INTEGRITY or FINGERPRINT', () => {
  for (const sample of [SAMPLE_REQUEST, SAMPLE_IPV4_RESPONSE, SAMPLE_IPV6_RESPONSE]) {
    for (let i = 20; i < sample.length - 8; i++) {
      const copy = Buffer.from(sample);
      copy[i] = (copy[i] as number) ^ 0x01;
      // Mostly ERR_STUN_FINGERPRINT; a flipped length bit may surface as ERR_STUN_ATTRIBUTE.
      assert.throws(() => decodeStunMessage(copy), StunDecodeError, `byte ${i}`);
    }
  }
  for (let i = 20; i < SAMPLE_LONG_TERM_REQUEST.length - 24; i++) {
    const copy = Buffer.from(SAMPLE_LONG_TERM_REQUEST);
    copy[i] = (copy[i] as number) ^ 0x01;
    const key = longTermKey('マトリックス', 'example.org', 'TheMatrIX');
    assert.equal(verifyMessageIntegrity(copy, key), false, `byte ${i}`);
  }
});

test('CRC-32 check value', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
});

test('message types interleave method and class bits (RFC 8489 §5)', () => {
  assert.equal(messageType(StunMethod.Binding, StunClass.Request), 0x0001);
  assert.equal(messageType(StunMethod.Binding, StunClass.SuccessResponse), 0x0101);
  assert.equal(messageType(StunMethod.Binding, StunClass.ErrorResponse), 0x0111);
  assert.equal(messageType(StunMethod.Allocate, StunClass.Request), 0x0003);
  assert.equal(messageType(StunMethod.Allocate, StunClass.ErrorResponse), 0x0113);
  assert.equal(messageType(StunMethod.Send, StunClass.Indication), 0x0016);
  assert.equal(messageType(StunMethod.Data, StunClass.Indication), 0x0017);
  for (let method = 0; method <= 0xfff; method += 0x55) {
    for (const cls of Object.values(StunClass)) {
      const type = messageType(method, cls);
      assert.equal(methodOf(type), method);
      assert.equal(classOf(type), cls);
    }
  }
});

test('TURN attributes round-trip', () => {
  const transactionId = newTransactionId();
  assert.equal(transactionId.length, 12);
  const peers = [
    { family: 'IPv4', address: '127.0.0.1', port: 1 },
    { family: 'IPv4', address: '203.0.113.9', port: 65535 },
    { family: 'IPv6', address: '::1', port: 3478 },
    { family: 'IPv6', address: 'fe80::1:0:0:2', port: 0 },
    { family: 'IPv6', address: '2001:db8::', port: 5349 },
  ] as const;
  const bytes = encodeStunMessage(
    {
      method: StunMethod.Allocate,
      cls: StunClass.ErrorResponse,
      transactionId,
      attributes: [
        errorCodeAttribute(438, 'Stale Nonce'),
        textAttribute(StunAttr.Realm, 'callgate.test'),
        textAttribute(StunAttr.Nonce, 'abc'),
        uint32Attribute(StunAttr.Lifetime, 600),
        requestedTransportAttribute(TRANSPORT_UDP),
        { type: StunAttr.Data, value: Uint8Array.of(1, 2, 3, 4, 5) },
        ...peers.map((p) => xorAddressAttribute(StunAttr.XorPeerAddress, p, transactionId)),
      ],
    },
    { fingerprint: true },
  );
  assert.equal(bytes.length % 4, 0);
  const message = decodeStunMessage(bytes);
  assert.equal(message.method, StunMethod.Allocate);
  assert.equal(message.cls, StunClass.ErrorResponse);
  assert.deepEqual(getErrorCode(message), { code: 438, reason: 'Stale Nonce' });
  assert.equal(getTextAttribute(message, StunAttr.Realm), 'callgate.test');
  assert.equal(getUint32(message, StunAttr.Lifetime), 600);
  assert.deepEqual(getAttribute(message, StunAttr.RequestedTransport), Uint8Array.of(17, 0, 0, 0));
  assert.deepEqual(getAttribute(message, StunAttr.Data), Uint8Array.of(1, 2, 3, 4, 5));
  const decodedPeers = message.attributes
    .filter((a) => a.type === StunAttr.XorPeerAddress)
    .map((a) => decodeXorAddress(a.value, transactionId));
  assert.deepEqual(decodedPeers, peers);
});

test('attributes after MESSAGE-INTEGRITY are ignored, except FINGERPRINT (RFC 8489 §14.5)', () => {
  const transactionId = newTransactionId();
  const signed = encodeStunMessage(
    { method: StunMethod.Binding, cls: StunClass.Request, transactionId, attributes: [] },
    { integrityKey: shortTermKey('pw') },
  );
  // Append a SOFTWARE attribute after MESSAGE-INTEGRITY by hand.
  const extra = Buffer.from('8022000478797a7a', 'hex');
  const tampered = Buffer.concat([signed, extra]);
  tampered.writeUInt16BE(tampered.length - 20, 2);
  const message = decodeStunMessage(tampered);
  assert.equal(getTextAttribute(message, StunAttr.Software), undefined);
  assert.equal(verifyMessageIntegrity(tampered, shortTermKey('pw')), true);
});

test('malformed input is refused with a code', () => {
  const code = (c: string) => (err: unknown) => err instanceof StunDecodeError && err.code === c;
  assert.throws(() => decodeStunMessage(new Uint8Array(19)), code('ERR_STUN_NOT_STUN'));
  const rtp = Buffer.from(SAMPLE_REQUEST);
  rtp[0] = 0x80; // RTP version 2 (RFC 7983 demultiplexing)
  assert.equal(isStunMessage(rtp), false);
  assert.throws(() => decodeStunMessage(rtp), code('ERR_STUN_NOT_STUN'));
  const noCookie = Buffer.from(SAMPLE_REQUEST);
  noCookie[4] = 0;
  assert.throws(() => decodeStunMessage(noCookie), code('ERR_STUN_NOT_STUN'));
  assert.throws(() => decodeStunMessage(SAMPLE_REQUEST.subarray(0, 104)), code('ERR_STUN_LENGTH'));
  const overrun = Buffer.from(SAMPLE_IPV4_RESPONSE.subarray(0, 32));
  overrun.writeUInt16BE(12, 2);
  overrun.writeUInt16BE(0x00ff, 22); // SOFTWARE claims 255 bytes
  assert.throws(() => decodeStunMessage(overrun), code('ERR_STUN_ATTRIBUTE'));
  const notLast = Buffer.concat([
    SAMPLE_REQUEST,
    Buffer.from('8022000078797a7a', 'hex').subarray(0, 4),
  ]);
  notLast.writeUInt16BE(notLast.length - 20, 2);
  assert.throws(() => decodeStunMessage(notLast), code('ERR_STUN_FINGERPRINT'));
  assert.equal(verifyMessageIntegrity(new Uint8Array(10), shortTermKey('x')), false);
});

test('encoder misuse throws TypeError/RangeError', () => {
  const base = { method: StunMethod.Binding, cls: StunClass.Request, attributes: [] };
  assert.throws(() => encodeStunMessage({ ...base, transactionId: new Uint8Array(11) }), TypeError);
  assert.throws(
    () =>
      encodeStunMessage({
        ...base,
        transactionId: newTransactionId(),
        attributes: [{ type: StunAttr.MessageIntegrity, value: new Uint8Array(20) }],
      }),
    TypeError,
  );
  assert.throws(
    () =>
      xorAddressAttribute(
        StunAttr.XorPeerAddress,
        { family: 'IPv4', address: 'localhost', port: 1 },
        newTransactionId(),
      ),
    TypeError,
  );
  assert.throws(() => errorCodeAttribute(200, 'OK'), RangeError);
});
