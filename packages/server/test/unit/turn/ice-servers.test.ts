import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIceServers, validateTurnUrl } from '../../../src/turn/index.js';

const creds = { username: '1767229200:sess_1', credential: 'FaMMlvycYiDmomA7T68fKiyykTs=' };

test('STUN URLs get an entry without credentials, TURN URLs one entry with them', () => {
  const servers = buildIceServers(creds, [
    'stun:turn.example.com:3478',
    'turn:turn.example.com:3478?transport=udp',
    'turn:turn.example.com:3478?transport=tcp',
    'stuns:turn.example.com:5349',
    'turns:turn.example.com:5349?transport=tcp',
  ]);
  assert.deepEqual(servers, [
    { urls: ['stun:turn.example.com:3478', 'stuns:turn.example.com:5349'] },
    {
      urls: [
        'turn:turn.example.com:3478?transport=udp',
        'turn:turn.example.com:3478?transport=tcp',
        'turns:turn.example.com:5349?transport=tcp',
      ],
      username: '1767229200:sess_1',
      credential: 'FaMMlvycYiDmomA7T68fKiyykTs=',
    },
  ]);
  const stunEntry = servers[0];
  assert.ok(stunEntry);
  assert.equal('username' in stunEntry, false);
  assert.equal('credential' in stunEntry, false);
});

test('only STUN, only TURN, or nothing', () => {
  assert.deepEqual(buildIceServers(creds, ['stun:192.0.2.1']), [{ urls: ['stun:192.0.2.1'] }]);
  assert.deepEqual(buildIceServers(creds, ['turn:[2001:db8::1]:3478']), [
    { urls: ['turn:[2001:db8::1]:3478'], ...creds },
  ]);
  assert.deepEqual(buildIceServers(creds, []), []);
});

test('an invalid URL throws a TypeError naming its index', () => {
  assert.throws(
    () => buildIceServers(creds, ['stun:ok.example', 'http://evil.example']),
    (err: unknown) => err instanceof TypeError && err.message.startsWith('"urls[1]"'),
  );
});

test('validateTurnUrl accepts RFC 7064/7065 URLs', () => {
  for (const url of [
    'stun:stun.example.com',
    'stun:stun.example.com:19302',
    'stuns:stun.example.com:5349',
    'turn:turn.example.com',
    'turn:turn.example.com:3478?transport=udp',
    'turn:turn.example.com:3478?transport=tcp',
    'turns:turn.example.com:443?transport=tcp',
    'turn:192.0.2.10:3478',
    'turn:[2001:db8::10]:3478?transport=udp',
    'turn:[::1]',
    'turn:localhost:65535',
    'turn:a',
  ]) {
    assert.equal(validateTurnUrl(url), null, url);
  }
});

test('validateTurnUrl refuses malformed URLs with a message', () => {
  for (const url of [
    '',
    'turn.example.com:3478',
    'http://turn.example.com',
    'TURN:turn.example.com',
    'turn://turn.example.com:3478',
    'turn:',
    'turn:user@turn.example.com',
    'turn:turn.example.com:0',
    'turn:turn.example.com:65536',
    'turn:turn.example.com:34a',
    'turn:turn.example.com:3478?transport=sctp',
    'turn:turn.example.com:3478?transport=udp&x=1',
    'turn:turn.example.com/path',
    'stun:stun.example.com?transport=udp',
    'turn:256.1.1.1',
    'turn:[zz::1]',
    'turn:-bad.example.com',
    'turn:turn.example.com ',
    `turn:${'a'.repeat(300)}`,
  ]) {
    const problem = validateTurnUrl(url);
    assert.equal(typeof problem, 'string', url);
    assert.ok((problem ?? '').length > 0);
  }
  assert.equal(typeof validateTurnUrl(42 as unknown as string), 'string');
});
