import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parse, UsageError } from '../../../src/cli/args.js';

test('an id that starts with "-" is a positional, or the value of the option before it', () => {
  const r = parse(['keys', 'revoke', '-Xy3Zq_w9', '--data-dir', '-dir'], {});
  assert.deepEqual(r.positionals, ['keys', 'revoke', '-Xy3Zq_w9']);
  assert.equal(r.values['data-dir'], '-dir');
});

test('flags still parse; -h is help; unknown options are usage errors', () => {
  assert.equal(parse(['-h'], {}).values.help, true);
  assert.equal(parse(['list', '--data-dir', 'd'], {}).values['data-dir'], 'd');
  assert.throws(() => parse(['--nope'], {}), UsageError);
  assert.throws(() => parse(['-x'], {}), UsageError);
});
