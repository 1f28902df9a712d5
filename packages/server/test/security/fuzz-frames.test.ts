/**
 * Property-based fuzzing of a real server's frame handling: arbitrary text frames (message-shaped
 * JSON, any JSON, any string) and raw frames (any opcode, RSV1, unmasked, bad UTF-8, fragments)
 * over reused connections. Properties: the server never crashes or hangs, never leaks internals,
 * never logs an internal error; every text frame gets exactly one coded answer (`ack`, `pong`,
 * or `error` with a known code), none only when it is an id-less `send`/`publish` that worked,
 * and every close has a documented code.
 * FUZZ_RUNS cases (default 10 000) in 4 lanes seeded FUZZ_SEED..FUZZ_SEED+3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startTestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';
import { ALL_PERMS, RawWs, signAsServer } from '../support/attack.js';
import {
  DOCUMENTED_CLOSE_CODES,
  FUZZ_CONFIG,
  FUZZ_RUNS,
  FUZZ_SEED,
  checkServerText,
  frameText,
  fuzzLanes,
  noInternalErrors,
} from '../support/fuzz.js';

const rawFrame = fc.record({
  opcode: fc.constantFrom(0, 1, 2, 3, 7, 8, 9, 10, 11, 15),
  fin: fc.boolean(),
  rsv1: fc.boolean(),
  unmasked: fc.oneof(
    { weight: 19, arbitrary: fc.constant(false) },
    { weight: 1, arbitrary: fc.constant(true) },
  ),
  payload: fc.oneof(
    fc.uint8Array({ maxLength: 300 }),
    fc.constant(new Uint8Array([0xc0, 0xaf])),
    fc.constant(new Uint8Array([0xed, 0xa0, 0x80])), // a UTF-8 encoded surrogate
    fc.constant(new Uint8Array([0x03, 0xe8, 0xff])), // close 1000 with a bad UTF-8 reason
  ),
});

const frameCase = fc.oneof(
  { weight: 9, arbitrary: frameText.map((text) => ({ kind: 'text' as const, text })) },
  { weight: 1, arbitrary: rawFrame.map((f) => ({ kind: 'raw' as const, ...f })) },
);
type FrameCase = typeof frameCase extends fc.Arbitrary<infer T> ? T : never;

/** A `send` or `publish` without `id`: answered only when it fails. */
function isIdlessRelay(text: string): boolean {
  try {
    const m = JSON.parse(text) as unknown;
    return (
      typeof m === 'object' &&
      m !== null &&
      !Array.isArray(m) &&
      ((m as { type?: unknown }).type === 'send' || (m as { type?: unknown }).type === 'publish') &&
      !Object.hasOwn(m, 'id')
    );
  } catch {
    return false;
  }
}

test(
  `fuzz frames against live connections (${FUZZ_RUNS} cases, seed ${FUZZ_SEED})`,
  { timeout: 300_000 },
  async (t) => {
    const server = await startTestServer({ config: FUZZ_CONFIG });
    t.after(() => server.close());
    const token = signAsServer(server, { rooms: { lobby: ALL_PERMS, r: ALL_PERMS } });
    const logsFrom = server.logs.length;
    let reconnects = 0;
    const closes = new Map<number, number>();

    await fuzzLanes<FrameCase>(frameCase, async (lane) => {
      let ws = await RawWs.open(server.port, token);
      let sentinel = 0;
      return {
        done: async () => ws.destroy(),
        run: async (c) => {
          if (ws.close !== undefined || ws.socket.destroyed) {
            ws.destroy();
            ws = await RawWs.open(server.port, token);
            reconnects++;
          }
          const from = ws.texts.length;
          const id = `sentinel-${lane}-${++sentinel}`;
          if (c.kind === 'text') ws.frame(1, c.text);
          else
            ws.frame(c.opcode, Buffer.from(c.payload), {
              fin: c.fin,
              rsv1: c.rsv1,
              unmasked: c.unmasked,
            });
          ws.frame(1, JSON.stringify({ type: 'ping', id }));
          // Until the sentinel's pong, or the close.
          const done = () =>
            ws.close !== undefined ||
            ws.socket.destroyed ||
            ws.texts.slice(from).some((x) => x.includes(`"${id}"`));
          if (!done())
            await new Promise<void>((resolve, reject) => {
              const timer = setTimeout(
                () => reject(new Error('no answer within 3 s: the server hangs')),
                3000,
              );
              const finish = () => {
                if (!done()) return;
                clearTimeout(timer);
                ws.onFrame = undefined;
                resolve();
              };
              ws.onFrame = finish;
              ws.socket.once('close', finish);
            });
          const replies = ws.texts.slice(from).map(checkServerText);
          if (ws.close !== undefined || ws.socket.destroyed) {
            const code = ws.close?.code ?? 1006;
            closes.set(code, (closes.get(code) ?? 0) + 1);
            // A close the client started is echoed with the client's own code (RFC 6455 §5.5.1).
            const echoed =
              c.kind === 'raw' && c.opcode === 8 && c.payload.length >= 2
                ? (c.payload[0]! << 8) | c.payload[1]!
                : undefined;
            // A close frame without a code is answered without one (1005, RFC 6455 §7.1.5).
            const clientClosedBare = c.kind === 'raw' && c.opcode === 8 && c.payload.length === 0;
            assert.ok(
              DOCUMENTED_CLOSE_CODES.has(code) ||
                code === echoed ||
                (clientClosedBare && code === 1005) ||
                (c.kind === 'raw' && code === 1006),
              `documented close code, got ${code}`,
            );
            return;
          }
          if (c.kind === 'text') {
            const answers = replies.filter((m) => !('id' in m && m.id === id));
            // An id-less `send` or `publish` that worked is fire and forget (docs/protocol.md).
            const fireAndForget = isIdlessRelay(c.text);
            assert.ok(
              answers.length === 1 || (fireAndForget && answers.length === 0),
              `one answer to ${c.text.slice(0, 100)}: ${JSON.stringify(answers)}`,
            );
            if (answers.length === 1)
              assert.ok(['ack', 'error', 'pong'].includes(answers[0]!.type), answers[0]!.type);
            if (fireAndForget) assert.ok(answers[0]?.type !== 'ack', 'no ack without id');
          }
        },
      };
    });
    t.diagnostic(`reconnects ${reconnects}; closes ${JSON.stringify(Object.fromEntries(closes))}`);
    noInternalErrors(server, logsFrom);
    const ok = await connectClient(server.wsUrl, signAsServer(server));
    ok.client.close();
  },
);
