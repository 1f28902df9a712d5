import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CloseCode, closeAction } from '@callgate/protocol';

test('close actions follow the design table', () => {
  assert.equal(closeAction(CloseCode.Normal), 'stop');
  assert.equal(closeAction(CloseCode.GoingAway), 'reconnect');
  assert.equal(closeAction(CloseCode.PolicyViolation), 'reconnect');
  assert.equal(closeAction(CloseCode.TokenInvalid), 'reconnect_new_token');
  assert.equal(closeAction(CloseCode.Forbidden), 'stop');
  assert.equal(closeAction(CloseCode.Replaced), 'stop');
  assert.equal(closeAction(CloseCode.ProtocolViolation), 'stop');
  assert.equal(closeAction(CloseCode.RateLimited), 'reconnect_after');
  assert.equal(closeAction(CloseCode.Overloaded), 'reconnect_after');
  assert.equal(closeAction(1006), 'reconnect');
});
