// The harness's child processes: a message sent just before a child exits is still delivered,
// and a child that exits without sending fails its waiters instead of leaving them hanging.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Child } from './procs.mjs';

const cwd = new URL('../..', import.meta.url).pathname;

test('a result sent right before exit reaches its waiter', { timeout: 30_000 }, async () => {
  // What the host probes do: send the result, exit in the send's callback. The 'exit' event
  // can come before the message is read from the IPC channel; the waiter must still get it.
  const runs = Array.from({ length: 8 }, async (_, i) => {
    const c = new Child(
      `probe ${i}`,
      [
        '-e',
        `process.send({ type: 'result', i: ${i}, pad: 'x'.repeat(1 << 20) }, () => process.exit(0))`,
      ],
      { cwd },
    );
    const m = await c.next('result', 20_000);
    assert.equal(m.i, i);
    await c.exited;
  });
  await Promise.all(runs);
});

test('a child that exits without its message fails the waiter, then later ones', async () => {
  const c = new Child('silent', ['-e', 'process.exit(3)'], { cwd });
  await assert.rejects(c.next('result', 20_000), /silent exited \(3\)/);
  await assert.rejects(c.next('result', 20_000), /silent has exited/);
});

test('a message already read is delivered after the child has gone', async () => {
  const c = new Child('early', ['-e', "process.send({ type: 'hello' }, () => process.exit(0))"], {
    cwd,
  });
  await c.exited;
  await new Promise((r) => setTimeout(r, 50));
  const m = await c.next('hello', 1000);
  assert.equal(m.type, 'hello');
});
