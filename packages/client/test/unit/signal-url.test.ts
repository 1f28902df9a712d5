import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { signalUrl } from '../../src/index.js';

describe('signalUrl', () => {
  test('appends /v1/signal to an empty path and maps http(s) to ws(s)', () => {
    assert.equal(signalUrl('wss://cg.example'), 'wss://cg.example/v1/signal');
    assert.equal(signalUrl('ws://127.0.0.1:8080/'), 'ws://127.0.0.1:8080/v1/signal');
    assert.equal(signalUrl('https://cg.example'), 'wss://cg.example/v1/signal');
    assert.equal(signalUrl('http://cg.example'), 'ws://cg.example/v1/signal');
  });

  test('keeps an explicit path', () => {
    assert.equal(signalUrl('wss://cg.example/v1/signal'), 'wss://cg.example/v1/signal');
    assert.equal(signalUrl('wss://cg.example/rtc/v1/signal'), 'wss://cg.example/rtc/v1/signal');
  });

  test('refuses what is not a WebSocket URL, naming the option', () => {
    for (const bad of ['cg.example', 'ftp://cg.example', '/v1/signal', 'wss://cg.example/#x'])
      assert.throws(() => signalUrl(bad), { name: 'TypeError', message: /"url" option/ }, bad);
  });
});
