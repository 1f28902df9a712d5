import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { isMeshSignal, parseMeshSignal } from '../../src/index.js';

describe('parseMeshSignal', () => {
  test('reads sdp, ice and bye signals, copying only known fields', () => {
    assert.deepEqual(
      parseMeshSignal({
        cg: 'mesh',
        room: 'r',
        kind: 'sdp',
        description: { type: 'offer', sdp: 'v=0', x: 1 },
        extra: 2,
      }),
      { cg: 'mesh', room: 'r', kind: 'sdp', description: { type: 'offer', sdp: 'v=0' } },
    );
    assert.deepEqual(
      parseMeshSignal({
        cg: 'mesh',
        room: 'r',
        kind: 'ice',
        candidate: {
          candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
          usernameFragment: null,
        },
      }),
      {
        cg: 'mesh',
        room: 'r',
        kind: 'ice',
        candidate: {
          candidate: 'candidate:1 1 udp 1 1.2.3.4 5 typ host',
          sdpMid: '0',
          sdpMLineIndex: 0,
          usernameFragment: null,
        },
      },
    );
    assert.deepEqual(parseMeshSignal({ cg: 'mesh', room: 'r', kind: 'bye' }), {
      cg: 'mesh',
      room: 'r',
      kind: 'bye',
    });
  });

  test('ignores foreign and malformed messages', () => {
    for (const data of [
      null,
      'text',
      { kind: 'sdp' },
      { cg: 'chat', room: 'r', kind: 'bye' },
      { cg: 'mesh', room: 'bad room', kind: 'bye' },
      { cg: 'mesh', room: 'r', kind: 'sdp', description: { type: 'rollback', sdp: '' } },
      { cg: 'mesh', room: 'r', kind: 'sdp', description: { type: 'offer' } },
      { cg: 'mesh', room: 'r', kind: 'ice', candidate: { sdpMid: '0' } },
      { cg: 'mesh', room: 'r', kind: 'dance' },
    ])
      assert.equal(parseMeshSignal(data), null, JSON.stringify(data));
    assert.equal(isMeshSignal({ cg: 'mesh' }), true);
    assert.equal(isMeshSignal({ chat: 'hi' }), false);
  });
});
