/**
 * Property-based fuzzing of `parseClientMessage`, in process: arbitrary text, arbitrary JSON,
 * message-shaped objects and arbitrary JS values never throw, always end in `ok` or a coded
 * error from the parse-error set, never leak internals, and an accepted message carries only
 * the fields of its type. FUZZ_RUNS cases per property (default 10 000), seed FUZZ_SEED.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { parseClientMessage, type ClientMessage } from '@callgate/protocol';
import { clientMessageLike, frameText, fuzzParams, LEAK } from '../support/fuzz.js';

const PARSE_CODES = new Set(['bad_request', 'unknown_type', 'invalid_room', 'invalid_peer_id']);
const FIELDS: Record<ClientMessage['type'], string[]> = {
  join: ['type', 'id', 'room'],
  leave: ['type', 'id', 'room'],
  send: ['type', 'id', 'to', 'data'],
  publish: ['type', 'id', 'room', 'data'],
  refresh: ['type', 'id', 'token'],
  ping: ['type', 'id'],
};

function check(input: unknown): void {
  const r = parseClientMessage(input);
  if (r.ok) {
    const allowed = FIELDS[r.message.type];
    assert.ok(allowed, `known type ${r.message.type}`);
    for (const k of Object.keys(r.message))
      assert.ok(allowed.includes(k), `field ${k} on ${r.message.type}`);
    assert.equal(Object.getPrototypeOf(r.message), Object.prototype);
  } else {
    assert.ok(PARSE_CODES.has(r.error.code), r.error.code);
    assert.equal(typeof r.error.message, 'string');
    assert.ok(r.error.message.length < 200);
    assert.doesNotMatch(r.error.message, LEAK);
    if (r.error.id !== undefined) assert.ok(r.error.id.length >= 1 && r.error.id.length <= 64);
  }
}

test('fuzz parseClientMessage: arbitrary frame text (JSON-ish, JSON, binary strings)', () => {
  fc.assert(
    fc.property(frameText, (text) => check(text)),
    fuzzParams(),
  );
});

test('fuzz parseClientMessage: message-shaped objects, as text and as parsed values', () => {
  fc.assert(
    fc.property(clientMessageLike, (m) => {
      check(JSON.stringify(m));
      check(m);
    }),
    fuzzParams(),
  );
});

test('fuzz parseClientMessage: arbitrary JS values (prototypes, symbols, getters) never throw', () => {
  const hostile = fc.oneof(
    fc.anything({
      withBigInt: true,
      withMap: true,
      withSet: true,
      withDate: true,
      withTypedArray: true,
      withSparseArray: true,
      withNullPrototype: true,
      withObjectString: true,
    }),
    fc.constant(
      Object.defineProperty({ type: 'ping' }, 'id', {
        enumerable: true,
        get() {
          throw new Error('getter');
        },
      }),
    ),
    fc.constant(
      new Proxy(
        {},
        {
          get: () => {
            throw new Error('proxy');
          },
          ownKeys: () => {
            throw new Error('proxy');
          },
        },
      ),
    ),
  );
  fc.assert(
    fc.property(hostile, (v) => check(v)),
    fuzzParams(),
  );
});
