import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pino } from 'pino';
import {
  CENSOR,
  LOG_REDACTION,
  REDACTED_KEYS,
  redactSecrets,
} from '../../../src/log/create-logger.js';

test('a member named like a secret is redacted at any depth, arrays included', () => {
  const line = {
    event: 'x',
    token: 'eyJ.a.b',
    req: { headers: { authorization: 'Bearer eyJ', 'sec-websocket-protocol': 'bearer.eyJ' } },
    list: [{ credential: 'c1' }, 'plain', [{ apiKey: 'k' }]],
    deep: { a: { b: { c: { secret: 's' } } } },
  };
  assert.deepEqual(redactSecrets(line), {
    event: 'x',
    token: CENSOR,
    req: { headers: { authorization: CENSOR, 'sec-websocket-protocol': CENSOR } },
    list: [{ credential: CENSOR }, 'plain', [{ apiKey: CENSOR }]],
    deep: { a: { b: { c: { secret: CENSOR } } } },
  });
});

test('names match in any letter case', () => {
  assert.deepEqual(
    redactSecrets({ Authorization: 'a', PRIVATEJWK: { d: 'x' }, Cookie: 'c', PassWord: 'p' }),
    { Authorization: CENSOR, PRIVATEJWK: CENSOR, Cookie: CENSOR, PassWord: CENSOR },
  );
});

test('every listed name is redacted, and the set is lower case', () => {
  for (const key of REDACTED_KEYS) {
    assert.equal(key, key.toLowerCase());
    assert.deepEqual(redactSecrets({ [key]: 'v' }), { [key]: CENSOR }, key);
  }
});

test('the input is never changed; unchanged branches are shared; a clean value is returned as is', () => {
  const inner = { sub: 'u1' };
  const line = { event: 'x', who: inner, nested: { token: 't' } };
  const out = redactSecrets(line);
  assert.equal(line.nested.token, 't', 'input untouched');
  assert.notEqual(out, line);
  assert.equal(out.who, inner, 'a branch without secrets is shared');
  const clean = { event: 'ws_open', sub: 'u', n: 1, tags: ['a'] };
  assert.equal(redactSecrets(clean), clean);
  assert.equal(redactSecrets('text'), 'text');
  assert.equal(redactSecrets(null), null);
});

test('an Error on a redacted path stays an error for pino, without the secret', () => {
  const err = Object.assign(new TypeError('bad thing'), { code: 'E_X', token: 'eyJ.leak' });
  const lines: string[] = [];
  const log = pino(LOG_REDACTION, {
    write: (l: string) => {
      lines.push(l);
    },
  });
  log.error({ err }, 'failed');
  assert.equal(err.token, 'eyJ.leak', 'the error itself is untouched');
  const out = JSON.parse(lines[0] ?? '{}') as { err: Record<string, unknown> };
  assert.equal(out.err.type, 'TypeError');
  assert.equal(out.err.message, 'bad thing');
  assert.equal(out.err.code, 'E_X');
  assert.equal(out.err.token, CENSOR);
  assert.match(String(out.err.stack), /TypeError: bad thing/);
  assert.ok(!lines[0]?.includes('eyJ.leak'));
});

test("a child logger's bindings are redacted too (top-level names)", () => {
  const lines: string[] = [];
  const log = pino(LOG_REDACTION, {
    write: (l: string) => {
      lines.push(l);
    },
  });
  log.child({ token: 'eyJ.child', conn: 'c1' }).info({ headers: { cookie: 'sid=1' } }, 'hi');
  assert.ok(!lines[0]?.includes('eyJ.child'));
  assert.ok(!lines[0]?.includes('sid=1'));
  assert.ok(lines[0]?.includes('"conn":"c1"'));
});

test('a cycle or a very deep object does not hang or throw', () => {
  const a: Record<string, unknown> = { name: 'a' };
  a.self = a;
  assert.doesNotThrow(() => redactSecrets(a));
  let deep: Record<string, unknown> = { token: 't' };
  for (let i = 0; i < 100; i++) deep = { d: deep };
  assert.doesNotThrow(() => redactSecrets(deep));
});
