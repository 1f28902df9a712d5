/**
 * Shared settings and generators for the property-based fuzzers (test/security/fuzz-*.test.ts).
 *
 * - `FUZZ_RUNS` (default 10 000) cases per target, `FUZZ_SEED` (default fixed) so a CI failure
 *   replays exactly: fast-check prints the seed and path of a counterexample.
 */
import fc from 'fast-check';
import assert from 'node:assert/strict';
import { CloseCode, ErrorCodes, parseServerMessage, type ServerMessage } from '@callgate/protocol';
import type { TestServer } from './test-server.js';

export const FUZZ_RUNS = Number(process.env.FUZZ_RUNS ?? 10_000);
export const FUZZ_SEED = Number(process.env.FUZZ_SEED ?? 0x5ca11);

/** fast-check parameters for one target. */
export function fuzzParams(runs = FUZZ_RUNS): fc.Parameters<unknown> {
  return { numRuns: runs, seed: FUZZ_SEED, endOnFailure: true };
}

/** Every close code docs/protocol.md documents (RFC 6455 ones included: 1002 for bad framing). */
export const DOCUMENTED_CLOSE_CODES = new Set<number>([
  ...Object.values(CloseCode),
  1002, // protocol error at the framing layer (ws), e.g. RSV bits, bad opcode, unmasked frame
]);

export const KNOWN_ERROR_CODES = new Set(Object.keys(ErrorCodes));

/** Limits raised so the fuzzers exercise parsing and dispatch, not the rate limiters. */
export const FUZZ_CONFIG = {
  'signal.handshakesPerSecondPerIp': 1_000_000,
  'signal.maxConnectionsPerIp': 1_000_000,
  'signal.maxConnectionsPerUser': 10_000,
  'signal.messagesPerSecond': 1_000_000,
  'signal.messageBurst': 1_000_000,
  'signal.maxInvalidMessages': 1000,
  'signal.resumeGraceMs': 0,
  'signal.maxEventLoopLagMs': 0,
  'log.level': 'info',
};

/** Every server text must be a valid server message with known codes and no leaked internals. */
export function checkServerText(text: string): ServerMessage {
  assert.doesNotMatch(text, LEAK, 'no internals in a server frame');
  const parsed = parseServerMessage(text);
  assert.ok(parsed.ok, `a valid server message: ${text.slice(0, 200)}`);
  if (parsed.message.type === 'error') assert.ok(KNOWN_ERROR_CODES.has(parsed.message.code));
  return parsed.message;
}

/** No error-level log line (an internal error) since `from`. */
export function noInternalErrors(server: TestServer, from: number): void {
  const bad = server.logs
    .slice(from)
    .filter(
      (l) => /"level":(50|60)/.test(l) || l.includes('handler_error') || l.includes('unhandled'),
    );
  assert.deepEqual(bad.slice(0, 3), [], 'no error-level log lines');
}

/** Text that looks like a leaked stack trace or internal detail. */
export const LEAK =
  /\n\s+at |node:internal|\.ts:\d+|\.js:\d+|TypeError|ReferenceError|SyntaxError|Cannot read prop/;

const TYPES = [
  'join',
  'leave',
  'send',
  'publish',
  'refresh',
  'ping',
  'kick',
  '__proto__',
  'constructor',
  '',
];
const KEYS = [
  'type',
  'id',
  'room',
  'to',
  'data',
  'token',
  'from',
  'tenant',
  '__proto__',
  'constructor',
  'role',
];

/** Values of the kinds a field may hold, plus the ones it must not. */
const fieldValue = fc.oneof(
  fc.string({ maxLength: 80 }),
  fc.constantFrom('lobby', 'r', 'a'.repeat(129), 'AAAAAAAAAAAAAAAAAAAAAA', '../x', 'x y', ''),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.jsonValue({ maxDepth: 3 }),
);

/** A JSON object shaped like a client message: known and unknown types, fields and values. */
export const clientMessageLike = fc
  .record(
    {
      type: fc.oneof(fc.constantFrom(...TYPES), fc.string({ maxLength: 20 }), fieldValue),
      id: fc.oneof(fc.string({ minLength: 0, maxLength: 70 }), fieldValue),
      room: fieldValue,
      to: fieldValue,
      data: fieldValue,
      token: fieldValue,
    },
    { requiredKeys: [] },
  )
  .chain((base) =>
    fc
      .dictionary(fc.constantFrom(...KEYS, 'x', 'isHost'), fieldValue, { maxKeys: 3 })
      .map((extra) => ({ ...extra, ...base })),
  );

/** Text frames: message-like JSON, arbitrary JSON, arbitrary (also lone-surrogate) strings. */
export const frameText = fc.oneof(
  { weight: 6, arbitrary: clientMessageLike.map((m) => JSON.stringify(m)) },
  { weight: 2, arbitrary: fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)) },
  { weight: 2, arbitrary: fc.string({ unit: 'binary', maxLength: 200 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '',
      '{',
      '{"type":"join","room":"lobby"',
      '{"type":"ping","id":"x"}{"type":"ping"}',
      '{"__proto__":{"type":"ping"}}',
      '{"type":"ping","type":"join"}',
      '[{"type":"ping"}]',
      '1e999',
      '"ping"',
      'null',
    ),
  },
);

/**
 * Runs `lanes` independent fast-check runs in parallel, seeds FUZZ_SEED, FUZZ_SEED+1, ..., that
 * together make `runs` cases: each lane is reproducible alone, and loopback round trips overlap.
 */
export async function fuzzLanes<T>(
  arb: fc.Arbitrary<T>,
  makeLane: (lane: number) => Promise<{ run(value: T): Promise<void>; done(): Promise<void> }>,
  lanes = 4,
  runs = FUZZ_RUNS,
): Promise<void> {
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const l = await makeLane(lane);
      try {
        await fc.assert(
          fc.asyncProperty(arb, (v) => l.run(v)),
          { numRuns: Math.ceil(runs / lanes), seed: FUZZ_SEED + lane, endOnFailure: true },
        );
      } finally {
        await l.done();
      }
    }),
  );
}
