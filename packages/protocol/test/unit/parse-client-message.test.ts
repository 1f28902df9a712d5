import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLIENT_MESSAGE_TYPES,
  MAX_REFRESH_TOKEN_LENGTH,
  SERVER_MESSAGE_TYPES,
  isClientMessageType,
  parseClientMessage,
  type ClientMessage,
  type ParseError,
  type ParseResult,
} from '@callgate/protocol';

const PEER = 'Vx2c9Qk1T0aZ3m8LwB7yRg';

function ok(input: unknown): ClientMessage {
  const r = parseClientMessage(input);
  if (!r.ok) assert.fail(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.message;
}

function err(input: unknown): ParseError {
  const r = parseClientMessage(input);
  if (r.ok) assert.fail(`expected an error, got ${JSON.stringify(r.message)}`);
  return r.error;
}

/** Asserts the error's code and field (and id, when given) exactly. */
function rejects(input: unknown, code: string, field?: string, id?: string): ParseError {
  const e = err(input);
  assert.equal(e.code, code, JSON.stringify(e));
  // Own properties only, so a test that pollutes Object.prototype still sees the truth.
  assert.equal(Object.hasOwn(e, 'field') ? e.field : undefined, field, JSON.stringify(e));
  assert.equal(Object.hasOwn(e, 'id') ? e.id : undefined, id, JSON.stringify(e));
  assert.equal(typeof e.message, 'string');
  assert.ok(e.message.length > 0);
  return e;
}

const j = (v: unknown): string => JSON.stringify(v);

describe('parseClientMessage: every type', () => {
  test('join', () => {
    assert.deepEqual(ok(j({ type: 'join', room: 'lobby' })), { type: 'join', room: 'lobby' });
    assert.deepEqual(ok(j({ type: 'join', id: 'a1', room: 'team:42.x_y-z' })), {
      type: 'join',
      id: 'a1',
      room: 'team:42.x_y-z',
    });
  });

  test('leave', () => {
    assert.deepEqual(ok(j({ type: 'leave', id: '2', room: 'lobby' })), {
      type: 'leave',
      id: '2',
      room: 'lobby',
    });
  });

  test('send', () => {
    assert.deepEqual(ok(j({ type: 'send', to: PEER, data: { sdp: 'v=0', kind: 'offer' } })), {
      type: 'send',
      to: PEER,
      data: { sdp: 'v=0', kind: 'offer' },
    });
  });

  test('publish', () => {
    assert.deepEqual(ok(j({ type: 'publish', id: 'p', room: 'lobby', data: [1, 'two'] })), {
      type: 'publish',
      id: 'p',
      room: 'lobby',
      data: [1, 'two'],
    });
  });

  test('refresh', () => {
    assert.deepEqual(ok(j({ type: 'refresh', id: 'r', token: 'a.b.c' })), {
      type: 'refresh',
      id: 'r',
      token: 'a.b.c',
    });
  });

  test('ping', () => {
    assert.deepEqual(ok(j({ type: 'ping' })), { type: 'ping' });
    assert.deepEqual(ok(j({ type: 'ping', id: 'x' })), { type: 'ping', id: 'x' });
  });

  test('CLIENT_MESSAGE_TYPES lists exactly the parsable types', () => {
    assert.deepEqual(
      [...CLIENT_MESSAGE_TYPES],
      ['join', 'leave', 'send', 'publish', 'refresh', 'ping'],
    );
    for (const type of CLIENT_MESSAGE_TYPES) {
      const r = parseClientMessage(j({ type }));
      assert.ok(r.ok || r.error.code !== 'unknown_type', type);
      assert.ok(isClientMessageType(type));
    }
    assert.equal(isClientMessageType('constructor'), false);
    assert.equal(isClientMessageType(1), false);
  });

  test('an already-parsed value is accepted like its text', () => {
    const input = { type: 'join', id: '1', room: 'lobby' };
    const message = ok(input);
    assert.deepEqual(message, input);
    assert.notEqual(message, input, 'the result is a fresh object');
    assert.deepEqual(ok(Object.assign(Object.create(null) as object, { type: 'ping' })), {
      type: 'ping',
    });
  });
});

describe('parseClientMessage: data', () => {
  for (const data of [null, 0, -1.5, false, true, '', 'text', [], {}, { a: { b: [null] } }]) {
    test(`accepts ${j(data)}`, () => {
      assert.deepEqual(ok(j({ type: 'send', to: PEER, data })), { type: 'send', to: PEER, data });
      assert.deepEqual(ok(j({ type: 'publish', room: 'r', data })), {
        type: 'publish',
        room: 'r',
        data,
      });
    });
  }

  test('missing data is bad_request naming "data"', () => {
    rejects(j({ type: 'send', to: PEER }), 'bad_request', 'data');
    rejects(j({ type: 'publish', room: 'r' }), 'bad_request', 'data');
    rejects({ type: 'publish', room: 'r', data: undefined }, 'bad_request', 'data');
  });

  test('non-JSON data in an already-parsed value is bad_request', () => {
    for (const data of [() => 1, Symbol('s'), 10n, NaN, Infinity]) {
      rejects({ type: 'send', to: PEER, data }, 'bad_request', 'data');
    }
  });

  test('deeply nested data is fine', () => {
    const depth = 100_000;
    const frame = `{"type":"publish","room":"r","data":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    assert.equal(ok(frame).type, 'publish');
    rejects(`{"type":"publish","room":"r","data":${'['.repeat(depth)}}`, 'bad_request');
  });
});

describe('parseClientMessage: field errors', () => {
  for (const type of ['join', 'leave', 'publish'] as const) {
    test(`${type}: room`, () => {
      const base = { type, data: 1 };
      const e = rejects(j(base), 'bad_request', 'room');
      assert.match(e.message, /"room"/);
      rejects(j({ ...base, room: 7 }), 'bad_request', 'room');
      rejects(j({ ...base, room: null }), 'bad_request', 'room');
      rejects(j({ ...base, room: ['lobby'] }), 'bad_request', 'room');
      for (const room of ['', 'a b', 'lobby/1', '../x', 'été', 'x'.repeat(129), 'LOBBY\n']) {
        assert.match(rejects(j({ ...base, room }), 'invalid_room', 'room').message, /"room"/);
      }
      assert.equal(ok(j({ ...base, room: 'x'.repeat(128) })).type, type);
    });
  }

  test('send: to', () => {
    const e = rejects(j({ type: 'send', data: 1 }), 'bad_request', 'to');
    assert.match(e.message, /"to"/);
    rejects(j({ type: 'send', to: 1e21, data: 1 }), 'bad_request', 'to');
    for (const to of [
      '',
      'short',
      'server',
      'victim',
      `${PEER}!`,
      'x'.repeat(65),
      PEER.replace('V', '/'),
    ]) {
      assert.match(
        rejects(j({ type: 'send', to, data: 1 }), 'invalid_peer_id', 'to').message,
        /"to"/,
      );
    }
  });

  test('refresh: token', () => {
    for (const token of [undefined, '', 42, null, ['a.b.c'], { t: 1 }]) {
      rejects(j({ type: 'refresh', token }), 'bad_request', 'token');
    }
    const long = 'x'.repeat(MAX_REFRESH_TOKEN_LENGTH + 1);
    const e = rejects(j({ type: 'refresh', id: 'r', token: long }), 'bad_request', 'token', 'r');
    assert.ok(!e.message.includes(long), 'the token is never quoted');
    const max = 'x'.repeat(MAX_REFRESH_TOKEN_LENGTH);
    assert.deepEqual(ok(j({ type: 'refresh', token: max })), { type: 'refresh', token: max });
  });

  test('type', () => {
    rejects(j({ room: 'lobby' }), 'bad_request', 'type');
    for (const type of [1, null, true, ['join'], { join: 1 }]) {
      rejects(j({ type, room: 'lobby' }), 'bad_request', 'type');
    }
    for (const type of [
      '',
      'JOIN',
      'join ',
      'subscribe',
      'constructor',
      '__proto__',
      'toString',
      'hasOwnProperty',
      ...SERVER_MESSAGE_TYPES,
    ]) {
      rejects(j({ type, room: 'lobby' }), 'unknown_type', 'type');
    }
  });
});

describe('parseClientMessage: id', () => {
  test('1..64 characters are echoed in the message', () => {
    for (const id of ['1', 'x'.repeat(64), 'ü', '{"a":1}']) {
      assert.equal(ok(j({ type: 'ping', id })).id, id);
    }
  });

  test('a bad id is bad_request and not echoed', () => {
    for (const id of ['', 'x'.repeat(65), 'x'.repeat(1_000_000), 7, null, true, ['a'], { a: 1 }]) {
      const e = rejects(j({ type: 'ping', id }), 'bad_request', 'id');
      assert.ok(e.message.length < 200, 'the id is not quoted');
    }
  });

  test('a valid id is echoed in every error the rest of the message causes', () => {
    rejects(j({ id: 'q' }), 'bad_request', 'type', 'q');
    rejects(j({ id: 'q', type: 5 }), 'bad_request', 'type', 'q');
    rejects(j({ id: 'q', type: 'nope' }), 'unknown_type', 'type', 'q');
    rejects(j({ id: 'q', type: 'join' }), 'bad_request', 'room', 'q');
    rejects(j({ id: 'q', type: 'join', room: 'a b' }), 'invalid_room', 'room', 'q');
    rejects(j({ id: 'q', type: 'send', to: 'bob', data: 1 }), 'invalid_peer_id', 'to', 'q');
    rejects(j({ id: 'q', type: 'send', to: PEER }), 'bad_request', 'data', 'q');
    rejects(j({ id: 'q', type: 'refresh' }), 'bad_request', 'token', 'q');
  });

  test('the error carries only code, message and, when known, field and id', () => {
    assert.deepEqual(Object.keys(err('nope')).sort(), ['code', 'message']);
    assert.deepEqual(Object.keys(err(j({ id: 'q', type: 'join' }))).sort(), [
      'code',
      'field',
      'id',
      'message',
    ]);
  });
});

describe('parseClientMessage: not a message', () => {
  test('invalid JSON is bad_request', () => {
    for (const text of [
      '',
      ' ',
      'not json',
      '{',
      '{"type":"ping"',
      "{'type':'ping'}",
      '\uFEFF{"type":"ping"}',
      '{"type":"ping"}x',
      'undefined',
      'NaN',
    ]) {
      rejects(text, 'bad_request');
    }
  });

  test('JSON that is not an object is bad_request', () => {
    for (const text of ['null', '42', '-0', 'true', '"join"', '[]', '[{"type":"ping"}]']) {
      rejects(text, 'bad_request');
    }
  });

  test('non-string, non-object input is bad_request', () => {
    for (const input of [
      null,
      undefined,
      0,
      42,
      NaN,
      true,
      10n,
      Symbol('x'),
      () => ({ type: 'ping' }),
      [],
      [{ type: 'ping' }],
    ]) {
      rejects(input, 'bad_request');
    }
  });

  test('objects that are not plain JSON objects are bad_request', () => {
    class Msg {
      type = 'ping';
    }
    const bytes = new TextEncoder().encode('{"type":"ping"}');
    for (const input of [
      new Msg(),
      new Date(),
      new Map([['type', 'ping']]),
      bytes,
      bytes.buffer,
      Object.create({ type: 'ping' }) as unknown,
    ]) {
      rejects(input, 'bad_request');
    }
  });
});

describe('parseClientMessage: mass assignment and prototype pollution', () => {
  test('unknown fields are stripped (E67)', () => {
    const m = ok(
      j({
        type: 'join',
        id: '1',
        room: 'lobby',
        role: 'admin',
        isHost: true,
        tenant: 'other',
        rooms: { x: ['join'] },
      }),
    );
    assert.deepEqual(m, { type: 'join', id: '1', room: 'lobby' });
    assert.deepEqual(Object.keys(m), ['type', 'id', 'room']);
    assert.deepEqual(ok(j({ type: 'ping', data: 1, room: 'r' })), { type: 'ping' });
    assert.deepEqual(ok(j({ type: 'refresh', token: 't', sub: 'root', sid: 's' })), {
      type: 'refresh',
      token: 't',
    });
  });

  test('a spoofed from never survives (E64)', () => {
    const send = ok(
      j({ type: 'send', to: PEER, data: 'hi', from: 'victim', fromMetadata: { admin: true } }),
    );
    assert.deepEqual(send, { type: 'send', to: PEER, data: 'hi' });
    assert.equal(Object.hasOwn(send, 'from'), false);
    const publish = ok(j({ type: 'publish', room: 'r', data: 'hi', from: 'server' }));
    assert.deepEqual(publish, { type: 'publish', room: 'r', data: 'hi' });
    assert.equal(Object.hasOwn(publish, 'from'), false);
  });

  test('__proto__ does not pollute Object.prototype', () => {
    const frame = '{"type":"join","room":"a","__proto__":{"x":1,"polluted":true}}';
    const m = ok(frame);
    assert.deepEqual(m, { type: 'join', room: 'a' });
    assert.equal(Object.getPrototypeOf(m), Object.prototype);
    assert.equal(Object.hasOwn(m, '__proto__'), false);
    assert.equal((m as unknown as Record<string, unknown>)['x'], undefined);
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
    assert.equal(({} as Record<string, unknown>)['polluted'], undefined);
    // The same object, already parsed (JSON.parse makes "__proto__" an own data property).
    assert.deepEqual(ok(JSON.parse(frame)), { type: 'join', room: 'a' });
    ok('{"type":"ping","constructor":{"prototype":{"x":1}}}');
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
  });

  test('inherited properties are never read', () => {
    const proto = Object.prototype as Record<string, unknown>;
    proto['room'] = 'lobby';
    proto['id'] = 'inherited';
    try {
      rejects(j({ type: 'join' }), 'bad_request', 'room');
      assert.deepEqual(ok(j({ type: 'ping' })), { type: 'ping' });
    } finally {
      delete proto['room'];
      delete proto['id'];
    }
  });

  test('throwing getters and proxies are refused, not thrown', () => {
    const getter = {
      type: 'join',
      get room(): string {
        throw new Error('boom');
      },
    };
    rejects(getter, 'bad_request');
    const proxy = new Proxy(
      {},
      {
        getPrototypeOf() {
          throw new Error('boom');
        },
      },
    );
    rejects(proxy, 'bad_request');
  });
});

describe('parseClientMessage: never throws', () => {
  test('random frames and values', () => {
    let seed = 0x9e3779b9;
    const rand = (n: number): number => {
      seed = (Math.imul(seed ^ (seed >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return seed % n;
    };
    const atoms: unknown[] = [
      null,
      0,
      -1,
      1e308,
      '',
      'join',
      'lobby',
      PEER,
      'x'.repeat(70),
      true,
      [],
      {},
      'server',
      '__proto__',
    ];
    const keys = ['type', 'id', 'room', 'to', 'data', 'token', 'from', '__proto__', 'constructor'];
    const types = [...CLIENT_MESSAGE_TYPES, 'x', 'welcome'];
    const value = (depth: number): unknown => {
      const k = rand(depth > 3 ? 1 : 3);
      if (k === 0) return atoms[rand(atoms.length)];
      if (k === 1) return Array.from({ length: rand(4) }, () => value(depth + 1));
      const o: Record<string, unknown> = {};
      for (let i = rand(6); i > 0; i--) o[keys[rand(keys.length)]!] = value(depth + 1);
      if (rand(2) === 0) o['type'] = types[rand(types.length)];
      return o;
    };
    const alphabet = '{}[]":,\\ntrufalse0123456789 type join room ';
    for (let i = 0; i < 5000; i++) {
      const v = value(0);
      const text = j(v) ?? '';
      const cut = text.slice(0, rand(text.length + 1));
      const noise = Array.from({ length: rand(40) }, () => alphabet[rand(alphabet.length)]).join(
        '',
      );
      for (const input of [v, text, cut, noise]) {
        let r: ParseResult<ClientMessage> | undefined;
        assert.doesNotThrow(() => {
          r = parseClientMessage(input);
        });
        assert.ok(r);
        if (r.ok) assert.ok(isClientMessageType(r.message.type));
        else
          assert.ok(
            ['bad_request', 'unknown_type', 'invalid_room', 'invalid_peer_id'].includes(
              r.error.code,
            ),
          );
      }
    }
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
  });
});

test('every client message example in docs/protocol.md parses', () => {
  const doc = readFileSync(new URL('../../../../docs/protocol.md', import.meta.url), 'utf8');
  const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => JSON.parse(m[1]!) as { type: string })
    .filter((m) => (CLIENT_MESSAGE_TYPES as readonly string[]).includes(m.type));
  const covered = new Set(examples.map((m) => m.type));
  assert.deepEqual(
    [...CLIENT_MESSAGE_TYPES].filter((t) => !covered.has(t)),
    [],
    'types without an example',
  );
  for (const example of examples) {
    const r = parseClientMessage(example);
    assert.ok(r.ok, `${JSON.stringify(example)}: ${JSON.stringify(r.ok ? null : r.error)}`);
    assert.deepEqual(r.message, example, 'the example has no fields the parser drops');
  }
});
