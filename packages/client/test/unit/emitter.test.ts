import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Emitter } from '../../src/emitter.js';

describe('Emitter', () => {
  test('on/off/once, in order; a throwing listener does not stop the others', () => {
    const errors: unknown[] = [];
    const e = new Emitter<{ n: number }>((err) => errors.push(err));
    const seen: string[] = [];
    const a = (n: number) => seen.push(`a${n}`);
    e.on('n', a);
    e.on('n', () => {
      throw new Error('boom');
    });
    e.once('n', (n) => seen.push(`once${n}`));
    const off = e.on('n', (n) => seen.push(`c${n}`));
    e.emit('n', 1);
    off();
    e.off('n', a);
    e.emit('n', 2);
    assert.deepEqual(seen, ['a1', 'once1', 'c1']);
    assert.equal(errors.length, 2);
    assert.equal(e.listenerCount('n'), 1);
  });

  test('off() before a once listener fires removes it', () => {
    const e = new Emitter<{ n: number }>();
    let calls = 0;
    const l = () => calls++;
    e.once('n', l);
    e.off('n', l);
    e.emit('n', 1);
    assert.equal(calls, 0);
    assert.equal(e.listenerCount('n'), 0);
  });
});
