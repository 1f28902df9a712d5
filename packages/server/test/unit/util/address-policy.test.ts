import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  classifyAddress,
  guardedLookup,
  isLocalhostName,
} from '../../../src/util/address-policy.js';

test('addresses are classified public, loopback or private (everything not globally routable)', () => {
  const table: Record<string, string | undefined> = {
    '8.8.8.8': 'public',
    '93.184.215.14': 'public',
    '172.32.0.1': 'public',
    '2606:4700:4700::1111': 'public',
    '::ffff:8.8.8.8': 'public',
    '127.0.0.1': 'loopback',
    '127.255.0.9': 'loopback',
    '::1': 'loopback',
    '[::1]': 'loopback',
    '::ffff:127.0.0.1': 'loopback',
    '::ffff:7f00:1': 'loopback',
    '10.0.0.1': 'private',
    '172.16.5.4': 'private',
    '192.168.0.1': 'private',
    '169.254.169.254': 'private',
    '100.64.0.1': 'private',
    '0.0.0.0': 'private',
    '224.0.0.1': 'private',
    '255.255.255.255': 'private',
    '198.18.0.1': 'private',
    '::': 'private',
    'fd00:ec2::254': 'private',
    'fe80::1': 'private',
    'ff02::1': 'private',
    '::ffff:10.0.0.1': 'private',
    '64:ff9b::a9fe:a9fe': 'private',
    '2002:a9fe:a9fe::': 'private',
    '2001:db8::1': 'private',
    'example.com': undefined,
    localhost: undefined,
  };
  for (const [address, want] of Object.entries(table))
    assert.equal(classifyAddress(address), want, address);
  assert.ok(isLocalhostName('LOCALHOST.'));
  assert.ok(isLocalhostName('jwks.localhost'));
  assert.ok(!isLocalhostName('localhost.example.com'));
});

test('the connect-time lookup refuses a name with any non-public address, and passes public ones', async () => {
  const answers: Record<string, string[]> = {
    public: ['93.184.215.14'],
    mixed: ['93.184.215.14', '10.0.0.1'],
    loop: ['127.0.0.1'],
    none: [],
  };
  const lookupAll = async (h: string) =>
    (answers[h] ?? []).map((address) => ({ address, family: 4 }));
  const run = (host: string, allowLoopback: boolean, all: boolean) =>
    new Promise<{ err: Error | null; address: unknown }>((resolve) =>
      guardedLookup(allowLoopback, lookupAll)(host, { all }, (err, address) =>
        resolve({ err, address }),
      ),
    );
  assert.deepEqual(await run('public', false, false), { err: null, address: '93.184.215.14' });
  assert.deepEqual((await run('public', false, true)).address, [
    { address: '93.184.215.14', family: 4 },
  ]);
  assert.match(String((await run('mixed', false, false)).err), /10\.0\.0\.1/);
  assert.ok((await run('loop', false, true)).err);
  assert.equal((await run('loop', true, true)).err, null);
  assert.ok((await run('none', true, false)).err);
});
