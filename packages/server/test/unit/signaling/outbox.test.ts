import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setImmediate as immediate, setTimeout as sleep } from 'node:timers/promises';
import {
  BATCH_ABOVE,
  EAGER_BELOW,
  Outbox,
  encodeTextFrame,
  type OutboxTarget,
} from '../../../src/signaling/outbox.js';

// The outbox decides when queued frames reach a socket: at the end of the read that made them
// while the event loop has headroom, at the end of the turn (or after maxDelayMs) under load.
// Writes are recorded instead of going to a socket; the load is a value the test sets.

interface Target extends OutboxTarget {
  name: string;
}

function target(name: string): Target {
  return { name, out: null };
}

function setup(opts: { load?: number; maxDelayMs?: number } = {}) {
  const writes: Array<{ to: string; data: Buffer }> = [];
  const state = { load: opts.load ?? 0 };
  const outbox = new Outbox<Target>((t, data) => writes.push({ to: t.name, data }), {
    maxDelayMs: opts.maxDelayMs ?? 0.2,
    utilization: () => state.load,
  });
  outbox.sample();
  return { outbox, writes, state };
}

/** The text payloads of a buffer holding one or more unmasked server frames. */
function texts(buf: Buffer): string[] {
  const out: string[] = [];
  let off = 0;
  while (off < buf.length) {
    assert.equal(buf[off], 0x81, 'FIN + text opcode');
    let len = (buf[off + 1] as number) & 0x7f;
    let hdr = 2;
    if (len === 126) {
      len = buf.readUInt16BE(off + 2);
      hdr = 4;
    } else if (len === 127) {
      assert.equal(buf.readUInt32BE(off + 2), 0);
      len = buf.readUInt32BE(off + 6);
      hdr = 10;
    }
    out.push(buf.toString('utf8', off + hdr, off + hdr + len));
    off += hdr + len;
  }
  assert.equal(off, buf.length, 'no trailing bytes');
  return out;
}

test('encodeTextFrame uses the shortest length form (RFC 6455 §5.2)', () => {
  for (const [n, hdr] of [
    [0, 2],
    [125, 2],
    [126, 4],
    [65_535, 4],
    [65_536, 10],
  ] as const) {
    const text = 'x'.repeat(n);
    const f = encodeTextFrame(text);
    assert.equal(f.length, hdr + n, `length ${n}`);
    assert.deepEqual(texts(f), [text]);
  }
  // The length is in bytes, not UTF-16 units.
  const f = encodeTextFrame('é'.repeat(63)); // 126 bytes
  assert.equal(f[1], 126);
  assert.deepEqual(texts(f), ['é'.repeat(63)]);
});

test('light load: the frames of one read leave when the read is done, one write per socket', () => {
  const { outbox, writes } = setup({ load: 0 });
  assert.equal(outbox.eager, true);
  const a = target('a');
  const b = target('b');
  outbox.push(a, outbox.encode('{"n":1}'));
  outbox.push(b, outbox.encode('{"n":2}'));
  outbox.push(a, outbox.encode('{"n":3}'));
  assert.equal(writes.length, 0, 'nothing is written while the read is being handled');
  outbox.readDone();
  assert.deepEqual(
    writes.map((w) => [w.to, texts(w.data)]),
    [
      ['a', ['{"n":1}', '{"n":3}']],
      ['b', ['{"n":2}']],
    ],
  );
  assert.equal(a.out, null);
  assert.equal(b.out, null);
  outbox.readDone();
  assert.equal(writes.length, 2, 'a read that queued nothing writes nothing');
  outbox.stop();
});

test('frames queued outside a read are written at the end of the turn, in both modes', async () => {
  for (const load of [0, 1]) {
    const { outbox, writes } = setup({ load });
    const a = target('a');
    outbox.push(a, outbox.encode('{"timer":true}'));
    outbox.push(a, outbox.encode('{"timer":2}'));
    assert.equal(writes.length, 0);
    await immediate();
    assert.deepEqual(
      writes.map((w) => texts(w.data)),
      [['{"timer":true}', '{"timer":2}']],
      `load ${load}`,
    );
    outbox.stop();
  }
});

test('under load: frames wait for the end of the turn, or maxDelayMs when the turn is long', async () => {
  const { outbox, writes } = setup({ load: 1, maxDelayMs: 50 });
  assert.equal(outbox.eager, false);
  const a = target('a');
  const b = target('b');
  outbox.push(a, outbox.encode('{"n":1}'));
  outbox.readDone();
  outbox.push(b, outbox.encode('{"n":2}'));
  outbox.push(a, outbox.encode('{"n":3}'));
  outbox.readDone();
  assert.equal(writes.length, 0, 'held for the rest of the turn');
  await immediate();
  assert.deepEqual(
    writes.map((w) => [w.to, texts(w.data)]),
    [
      ['a', ['{"n":1}', '{"n":3}']],
      ['b', ['{"n":2}']],
    ],
    'one write per socket for the whole turn',
  );

  // A turn longer than maxDelayMs: the next read's end writes what has waited that long.
  writes.length = 0;
  outbox.push(a, outbox.encode('{"n":4}'));
  const until = performance.now() + 55;
  while (performance.now() < until); // a long turn
  outbox.push(b, outbox.encode('{"n":5}'));
  outbox.readDone();
  assert.deepEqual(
    writes.map((w) => [w.to, texts(w.data)]),
    [
      ['a', ['{"n":4}']],
      ['b', ['{"n":5}']],
    ],
  );
  await immediate();
  assert.equal(writes.length, 2, 'nothing is written twice');
  outbox.stop();
});

test('the mode follows the load with hysteresis', () => {
  const { outbox, state } = setup({ load: 0 });
  const steps: Array<[number, boolean]> = [
    [0.5, true], // between the thresholds: stays eager
    [BATCH_ABOVE + 0.01, false],
    [0.5, false], // between the thresholds: stays batched
    [EAGER_BELOW, false], // not below
    [EAGER_BELOW - 0.01, true],
    [BATCH_ABOVE, true], // not above
  ];
  for (const [load, eager] of steps) {
    state.load = load;
    outbox.sample();
    assert.equal(outbox.eager, eager, `load ${load}`);
  }
  outbox.stop();
});

test('the default load probe reads the event loop: idle is eager, a blocked loop is batched', async () => {
  const outbox = new Outbox<Target>(() => {}, { maxDelayMs: 0.2 });
  outbox.stop(); // only the samples taken here, each over a known interval
  await sleep(60);
  outbox.sample();
  assert.equal(outbox.eager, true, 'an idle loop');
  const until = performance.now() + 60;
  while (performance.now() < until); // the loop is busy for the whole interval
  outbox.sample();
  assert.equal(outbox.eager, false, 'a busy loop');
  await sleep(60);
  outbox.sample();
  assert.equal(outbox.eager, true, 'idle again');
  outbox.stop();
});

test('flushOne writes one target now; discard drops its frames; order is kept per socket', async () => {
  const { outbox, writes } = setup({ load: 1 });
  const a = target('a');
  const b = target('b');
  outbox.push(a, outbox.encode('{"n":1}'));
  outbox.push(b, outbox.encode('{"n":2}'));
  outbox.flushOne(a); // before a close frame
  assert.deepEqual(
    writes.map((w) => [w.to, texts(w.data)]),
    [['a', ['{"n":1}']]],
  );
  outbox.flushOne(a);
  assert.equal(writes.length, 1, 'nothing left to write');
  outbox.push(a, outbox.encode('{"n":3}'));
  outbox.discard(b); // its socket is gone
  await immediate();
  assert.deepEqual(
    writes.map((w) => [w.to, texts(w.data)]),
    [
      ['a', ['{"n":1}']],
      ['a', ['{"n":3}']],
    ],
  );
  outbox.stop();
});

test('a broadcast is encoded once per batch and not kept past it', () => {
  const { outbox } = setup({ load: 0 });
  const text = '{"type":"message","data":1}';
  const first = outbox.encode(text);
  assert.equal(outbox.encode(text), first, 'the same buffer for every member');
  const a = target('a');
  outbox.push(a, first);
  outbox.readDone();
  assert.notEqual(outbox.encode(text), first, 'encoded again after the batch was written');
  const other = outbox.encode('{"other":1}');
  assert.deepEqual(texts(other), ['{"other":1}'], 'another text is another frame');
  outbox.stop();
});

test('maxDelayMs must be a number >= 0', () => {
  for (const bad of [-1, Number.NaN])
    assert.throws(() => new Outbox(() => {}, { maxDelayMs: bad }), RangeError);
});
