import { readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CLIENT_MESSAGE_TYPES,
  SERVER_MESSAGE_TYPES,
  SERVER_SENDER,
  isServerMessageType,
  parseServerMessage,
  type ParseError,
  type ParseResult,
  type ServerMessage,
  type WelcomeMessage,
} from '@callgate/protocol';

const PEER = 'Vx2c9Qk1T0aZ3m8LwB7yRg';
const PEER2 = 'Q2lhbGxnYXRlLXBlZXItMg';
const SID = 'c2Vzc2lvbi0xMjM0NTY3OA';
const NOW = 1_767_225_600_000; // 2026-01-01T00:00:00Z, in ms

const ICE = [
  { urls: 'stun:turn.example:3478' },
  {
    urls: ['turn:turn.example:3478?transport=udp', 'turns:turn.example:5349?transport=tcp'],
    username: '1767229200:c2Vzc2lvbi0xMjM0NTY3OA',
    credential: 'b2thbGxnYXRlLWNyZWQ=',
  },
];
const LIMITS = {
  maxMessageBytes: 65536,
  maxRoomsPerConnection: 16,
  maxPeersPerRoom: 100,
  messagesPerSecond: 100,
  burst: 200,
  resumeGraceMs: 10000,
};
const WELCOME: WelcomeMessage = {
  type: 'welcome',
  peerId: PEER,
  sessionId: SID,
  tenant: 'default',
  expiresAt: NOW + 300_000,
  serverTime: NOW,
  iceServers: ICE,
  resumeToken: 'cmVzdW1lLXRva2Vu.c2ln',
  limits: LIMITS,
};
const ALICE = { peerId: PEER2, userId: 'alice@example.com', metadata: { name: 'Alice' } };

const j = (v: unknown): string => JSON.stringify(v);

function ok(input: unknown): ServerMessage {
  const r = parseServerMessage(input);
  if (!r.ok) assert.fail(`expected ok, got ${JSON.stringify(r.error)}`);
  return r.message;
}

function rejects(input: unknown, code: string, field?: string, id?: string): ParseError {
  const r = parseServerMessage(input);
  if (r.ok) assert.fail(`expected an error, got ${JSON.stringify(r.message)}`);
  assert.equal(r.error.code, code, JSON.stringify(r.error));
  assert.equal(r.error.field, field, JSON.stringify(r.error));
  assert.equal(r.error.id, id, JSON.stringify(r.error));
  assert.ok(r.error.message.length > 0);
  return r.error;
}

/** The welcome frame with `patch` applied; a patch value of undefined deletes the key. */
function welcome(patch: Record<string, unknown>): string {
  return j({ ...WELCOME, ...patch });
}

describe('parseServerMessage: every type', () => {
  test('welcome', () => {
    assert.deepEqual(ok(j(WELCOME)), WELCOME);
    assert.deepEqual(ok(welcome({ resumed: true })), { ...WELCOME, resumed: true });
    assert.deepEqual(ok(welcome({ resumed: false })), { ...WELCOME, resumed: false });
  });

  test('ack', () => {
    assert.deepEqual(ok(j({ type: 'ack' })), { type: 'ack' });
    assert.deepEqual(ok(j({ type: 'ack', id: '1' })), { type: 'ack', id: '1' });
    const join = { type: 'ack', id: '1', room: 'lobby', peers: [ALICE] };
    assert.deepEqual(ok(j(join)), join);
    const joinNoPresence = { type: 'ack', id: '1', room: 'lobby' };
    assert.deepEqual(ok(j(joinNoPresence)), joinNoPresence);
    const refresh = { type: 'ack', id: 'r', expiresAt: NOW + 600_000, iceServers: ICE };
    assert.deepEqual(ok(j(refresh)), refresh);
  });

  test('error', () => {
    const e = {
      type: 'error',
      id: '1',
      code: 'forbidden',
      message: 'The token does not allow this action',
    };
    assert.deepEqual(ok(j(e)), e);
    const withField = { type: 'error', code: 'invalid_room', message: 'bad', field: 'room' };
    assert.deepEqual(ok(j(withField)), withField);
  });

  test('presence', () => {
    const p = { type: 'presence', room: 'lobby', joined: [ALICE], left: [PEER] };
    assert.deepEqual(ok(j(p)), p);
    const empty = { type: 'presence', room: 'lobby', joined: [], left: [] };
    assert.deepEqual(ok(j(empty)), empty);
  });

  test('message', () => {
    const direct = {
      type: 'message',
      from: PEER2,
      data: { kind: 'offer', sdp: 'v=0' },
      fromMetadata: { name: 'Alice' },
    };
    assert.deepEqual(ok(j(direct)), direct);
    const broadcast = { type: 'message', from: PEER2, room: 'lobby', data: 'hi' };
    assert.deepEqual(ok(j(broadcast)), broadcast);
    const server = { type: 'message', from: SERVER_SENDER, room: 'lobby', data: null };
    assert.deepEqual(ok(j(server)), server);
  });

  test('token_expiring, going_away, pong', () => {
    assert.deepEqual(ok(j({ type: 'token_expiring', expiresAt: NOW })), {
      type: 'token_expiring',
      expiresAt: NOW,
    });
    assert.deepEqual(ok(j({ type: 'going_away', retryAfterMs: 0 })), {
      type: 'going_away',
      retryAfterMs: 0,
    });
    assert.deepEqual(ok(j({ type: 'going_away', retryAfterMs: 5000 })), {
      type: 'going_away',
      retryAfterMs: 5000,
    });
    assert.deepEqual(ok(j({ type: 'pong' })), { type: 'pong' });
    assert.deepEqual(ok(j({ type: 'pong', id: 'p' })), { type: 'pong', id: 'p' });
  });

  test('SERVER_MESSAGE_TYPES lists exactly the parsable types', () => {
    assert.deepEqual(
      [...SERVER_MESSAGE_TYPES],
      ['welcome', 'ack', 'error', 'presence', 'message', 'token_expiring', 'going_away', 'pong'],
    );
    for (const type of SERVER_MESSAGE_TYPES) {
      const r = parseServerMessage({ type, data: 1 });
      assert.ok(r.ok || r.error.code !== 'unknown_type', type);
      assert.ok(isServerMessageType(type));
    }
    assert.equal(isServerMessageType('join'), false);
  });
});

describe('parseServerMessage: welcome fields', () => {
  test('required fields', () => {
    for (const key of [
      'peerId',
      'sessionId',
      'tenant',
      'expiresAt',
      'serverTime',
      'iceServers',
      'resumeToken',
      'limits',
    ]) {
      rejects(welcome({ [key]: undefined }), 'bad_request', key);
    }
  });

  test('ids and names', () => {
    rejects(welcome({ peerId: 'short' }), 'invalid_peer_id', 'peerId');
    rejects(welcome({ peerId: 42 }), 'bad_request', 'peerId');
    rejects(welcome({ sessionId: 'has space in it 123' }), 'bad_request', 'sessionId');
    rejects(welcome({ tenant: 'Default' }), 'bad_request', 'tenant');
    rejects(welcome({ tenant: '' }), 'bad_request', 'tenant');
    for (const resumeToken of ['', 'has space', 'a,b', 'x'.repeat(1025), 'é']) {
      rejects(welcome({ resumeToken }), 'bad_request', 'resumeToken');
    }
    assert.equal(
      (ok(welcome({ resumeToken: 'x'.repeat(1024) })) as WelcomeMessage).resumeToken.length,
      1024,
    );
  });

  test('times are non-negative integer milliseconds', () => {
    for (const bad of ['1767225600000', -1, 1.5, NaN, null, true, 2 ** 53]) {
      rejects(welcome({ expiresAt: bad }), 'bad_request', 'expiresAt');
      rejects(welcome({ serverTime: bad }), 'bad_request', 'serverTime');
    }
  });

  test('iceServers', () => {
    rejects(welcome({ iceServers: {} }), 'bad_request', 'iceServers');
    rejects(welcome({ iceServers: [null] }), 'bad_request', 'iceServers[0]');
    rejects(welcome({ iceServers: [{}] }), 'bad_request', 'iceServers[0].urls');
    rejects(welcome({ iceServers: [{ urls: [] }] }), 'bad_request', 'iceServers[0].urls');
    rejects(
      welcome({ iceServers: [ICE[0], { urls: 'https://turn.example' }] }),
      'bad_request',
      'iceServers[1].urls',
    );
    rejects(
      welcome({ iceServers: [{ urls: ['stun:a', 7] }] }),
      'bad_request',
      'iceServers[0].urls[1]',
    );
    rejects(
      welcome({ iceServers: [{ urls: 'turn:a', username: 1 }] }),
      'bad_request',
      'iceServers[0].username',
    );
    rejects(
      welcome({ iceServers: [{ urls: 'turn:a', credential: null }] }),
      'bad_request',
      'iceServers[0].credential',
    );
    assert.deepEqual((ok(welcome({ iceServers: [] })) as WelcomeMessage).iceServers, []);
  });

  test('limits', () => {
    rejects(welcome({ limits: [] }), 'bad_request', 'limits');
    for (const key of Object.keys(LIMITS)) {
      rejects(welcome({ limits: { ...LIMITS, [key]: undefined } }), 'bad_request', `limits.${key}`);
      rejects(welcome({ limits: { ...LIMITS, [key]: -1 } }), 'bad_request', `limits.${key}`);
      rejects(welcome({ limits: { ...LIMITS, [key]: '1' } }), 'bad_request', `limits.${key}`);
    }
  });

  test('resumed must be a boolean', () => {
    rejects(welcome({ resumed: 'yes' }), 'bad_request', 'resumed');
    rejects(welcome({ resumed: null }), 'bad_request', 'resumed');
  });

  test('unknown fields are stripped, at every level', () => {
    const m = ok(
      welcome({
        admin: true,
        id: 5,
        limits: { ...LIMITS, extra: 1 },
        iceServers: [{ urls: 'stun:a', credentialType: 'password' }],
      }),
    );
    assert.deepEqual(m, { ...WELCOME, iceServers: [{ urls: 'stun:a' }] });
  });
});

describe('parseServerMessage: other field errors', () => {
  test('ack', () => {
    rejects(j({ type: 'ack', id: '' }), 'bad_request', 'id');
    rejects(j({ type: 'ack', id: 'x'.repeat(65) }), 'bad_request', 'id');
    rejects(j({ type: 'ack', id: '1', room: 'a b' }), 'invalid_room', 'room', '1');
    rejects(j({ type: 'ack', room: 3 }), 'bad_request', 'room');
    rejects(j({ type: 'ack', peers: {} }), 'bad_request', 'peers');
    rejects(
      j({ type: 'ack', peers: [{ ...ALICE, peerId: 'bob' }] }),
      'invalid_peer_id',
      'peers[0].peerId',
    );
    rejects(
      j({ type: 'ack', peers: [{ ...ALICE, userId: 'has space' }] }),
      'bad_request',
      'peers[0].userId',
    );
    rejects(
      j({ type: 'ack', peers: [ALICE, { ...ALICE, metadata: undefined }] }),
      'bad_request',
      'peers[1].metadata',
    );
    rejects(
      j({ type: 'ack', peers: [{ ...ALICE, metadata: [] }] }),
      'bad_request',
      'peers[0].metadata',
    );
    rejects(j({ type: 'ack', expiresAt: -5 }), 'bad_request', 'expiresAt');
    rejects(j({ type: 'ack', iceServers: 'stun:a' }), 'bad_request', 'iceServers');
  });

  test('error', () => {
    rejects(j({ type: 'error', id: '1', message: 'x' }), 'bad_request', 'code', '1');
    rejects(j({ type: 'error', code: 'made_up', message: 'x' }), 'bad_request', 'code');
    rejects(j({ type: 'error', code: 'toString', message: 'x' }), 'bad_request', 'code');
    rejects(j({ type: 'error', code: 'forbidden' }), 'bad_request', 'message');
    rejects(
      j({ type: 'error', code: 'forbidden', message: 'x', field: 1 }),
      'bad_request',
      'field',
    );
  });

  test('presence', () => {
    rejects(j({ type: 'presence', joined: [], left: [] }), 'bad_request', 'room');
    rejects(j({ type: 'presence', room: '', joined: [], left: [] }), 'invalid_room', 'room');
    rejects(j({ type: 'presence', room: 'r', left: [] }), 'bad_request', 'joined');
    rejects(j({ type: 'presence', room: 'r', joined: [] }), 'bad_request', 'left');
    rejects(
      j({ type: 'presence', room: 'r', joined: [ALICE, 'x'], left: [] }),
      'bad_request',
      'joined[1]',
    );
    rejects(
      j({ type: 'presence', room: 'r', joined: [], left: [PEER, 'nope'] }),
      'invalid_peer_id',
      'left[1]',
    );
    rejects(
      j({ type: 'presence', room: 'r', joined: [], left: [PEER, 1] }),
      'bad_request',
      'left[1]',
    );
  });

  test('message', () => {
    rejects(j({ type: 'message', data: 1 }), 'bad_request', 'from');
    rejects(j({ type: 'message', from: 'victim', data: 1 }), 'invalid_peer_id', 'from');
    rejects(j({ type: 'message', from: 'Server', data: 1 }), 'invalid_peer_id', 'from');
    rejects(j({ type: 'message', from: PEER }), 'bad_request', 'data');
    rejects(j({ type: 'message', from: PEER, room: 'a/b', data: 1 }), 'invalid_room', 'room');
    rejects(
      j({ type: 'message', from: PEER, data: 1, fromMetadata: 'x' }),
      'bad_request',
      'fromMetadata',
    );
  });

  test('token_expiring, going_away, pong', () => {
    rejects(j({ type: 'token_expiring' }), 'bad_request', 'expiresAt');
    rejects(j({ type: 'token_expiring', expiresAt: '1' }), 'bad_request', 'expiresAt');
    rejects(j({ type: 'going_away' }), 'bad_request', 'retryAfterMs');
    rejects(j({ type: 'going_away', retryAfterMs: -1 }), 'bad_request', 'retryAfterMs');
    rejects(j({ type: 'going_away', retryAfterMs: 1.5 }), 'bad_request', 'retryAfterMs');
    rejects(j({ type: 'pong', id: 9 }), 'bad_request', 'id');
  });

  test('type', () => {
    rejects(j({}), 'bad_request', 'type');
    rejects(j({ type: 1 }), 'bad_request', 'type');
    for (const type of ['hello', 'Welcome', '__proto__', 'constructor', ...CLIENT_MESSAGE_TYPES]) {
      rejects(j({ type, id: 'i' }), 'unknown_type', 'type', 'i');
    }
  });

  test('an id is echoed in errors, and ignored on types that do not carry one', () => {
    rejects(j({ type: 'ack', id: 'k', peers: 1 }), 'bad_request', 'peers', 'k');
    rejects(j({ type: 'error', id: 'k', code: 'forbidden' }), 'bad_request', 'message', 'k');
    assert.deepEqual(ok(j({ type: 'going_away', id: 7, retryAfterMs: 1 })), {
      type: 'going_away',
      retryAfterMs: 1,
    });
  });
});

describe('parseServerMessage: not a message, pollution, robustness', () => {
  test('invalid JSON and non-objects are bad_request', () => {
    for (const input of [
      '',
      'x',
      '{',
      'null',
      '1',
      '"welcome"',
      '[]',
      j([WELCOME]),
      null,
      undefined,
      1,
      true,
      [],
      [WELCOME],
      new Date(),
    ]) {
      rejects(input, 'bad_request');
    }
  });

  test('stripping: a message keeps only its own fields', () => {
    const m = ok(j({ type: 'message', from: PEER, data: 1, to: PEER2, admin: true }));
    assert.deepEqual(Object.keys(m), ['type', 'from', 'data']);
    const p = ok(
      j({ type: 'presence', room: 'r', joined: [{ ...ALICE, role: 'host' }], left: [], extra: 1 }),
    );
    assert.deepEqual(p, { type: 'presence', room: 'r', joined: [ALICE], left: [] });
  });

  test('__proto__ does not pollute Object.prototype', () => {
    const m = ok('{"type":"pong","id":"1","__proto__":{"x":1}}');
    assert.deepEqual(m, { type: 'pong', id: '1' });
    assert.equal(Object.getPrototypeOf(m), Object.prototype);
    const p = ok(
      `{"type":"presence","room":"r","joined":[{"peerId":"${PEER}","userId":"u","metadata":{},"__proto__":{"x":1}}],"left":[]}`,
    );
    assert.deepEqual(p, {
      type: 'presence',
      room: 'r',
      joined: [{ peerId: PEER, userId: 'u', metadata: {} }],
      left: [],
    });
    assert.equal(({} as Record<string, unknown>)['x'], undefined);
  });

  test('every valid message round-trips through JSON', () => {
    const samples: ServerMessage[] = [
      WELCOME,
      { ...WELCOME, resumed: true },
      { type: 'ack', id: '1', room: 'lobby', peers: [ALICE] },
      { type: 'ack', id: 'r', expiresAt: NOW, iceServers: ICE },
      { type: 'error', id: '1', code: 'room_full', message: 'full' },
      { type: 'presence', room: 'lobby', joined: [ALICE], left: [PEER] },
      { type: 'message', from: 'server', room: 'lobby', data: { a: [1] } },
      { type: 'token_expiring', expiresAt: NOW },
      { type: 'going_away', retryAfterMs: 1000 },
      { type: 'pong', id: 'z' },
    ];
    for (const s of samples) assert.deepEqual(ok(j(s)), s);
  });

  test('never throws on random input', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed ^ (seed >>> 13), 0x5bd1e995) + 0x6d2b79f5) >>> 0;
      return seed % n;
    };
    const samples = [
      j(WELCOME),
      j({ type: 'presence', room: 'r', joined: [ALICE], left: [PEER] }),
      j({ type: 'ack', id: '1', peers: [ALICE], iceServers: ICE }),
    ];
    for (let i = 0; i < 5000; i++) {
      const base = samples[rand(samples.length)]!;
      const chars = [...base];
      for (let k = rand(4) + 1; k > 0; k--) chars[rand(chars.length)] = '{}[]":,0a-'[rand(10)]!;
      const mutated = chars.join('');
      let parsed: unknown;
      try {
        parsed = JSON.parse(mutated);
      } catch {
        parsed = mutated;
      }
      for (const input of [mutated, parsed, base.slice(0, rand(base.length))]) {
        let r: ParseResult<ServerMessage> | undefined;
        assert.doesNotThrow(() => {
          r = parseServerMessage(input);
        });
        assert.ok(r);
        if (r.ok) assert.ok(isServerMessageType(r.message.type));
      }
    }
  });
});

test('every server message example in docs/protocol.md parses', () => {
  const doc = readFileSync(new URL('../../../../docs/protocol.md', import.meta.url), 'utf8');
  const examples = [...doc.matchAll(/```json\n([\s\S]*?)```/g)]
    .map((m) => JSON.parse(m[1]!) as { type: string })
    .filter((m) => (SERVER_MESSAGE_TYPES as readonly string[]).includes(m.type));
  const covered = new Set(examples.map((m) => m.type));
  assert.deepEqual(
    [...SERVER_MESSAGE_TYPES].filter((t) => !covered.has(t)),
    [],
    'types without an example',
  );
  for (const example of examples) {
    const r = parseServerMessage(example);
    assert.ok(r.ok, `${JSON.stringify(example)}: ${JSON.stringify(r.ok ? null : r.error)}`);
    assert.deepEqual(r.message, example, 'the example has no fields the parser drops');
  }
});
