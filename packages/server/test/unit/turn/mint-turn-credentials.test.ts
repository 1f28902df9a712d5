import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, createSecretKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { computeTurnCredential, mintTurnCredentials } from '../../../src/turn/index.js';

// The repository root is five levels up from this file; shared/ sits beside it (vectors/README.md).
const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));
const WYCHEPROOF_HMAC_SHA1 = `${repoRoot}../shared/vectors/wycheproof/hmac_sha1_test.json`;

const SECRET = 'callgate-test-secret-0123456789abcdef'; // 37 bytes
const FIXED_NOW = 1_700_000_000_123; // ms

test('known answer, computed independently with openssl', () => {
  // printf '%s' '1700003600:sess_Abc-123' \
  //   | openssl dgst -sha1 -hmac 'callgate-test-secret-0123456789abcdef' -binary | base64
  const creds = mintTurnCredentials({
    secret: SECRET,
    id: 'sess_Abc-123',
    ttlSeconds: 3600,
    now: () => FIXED_NOW,
  });
  assert.deepEqual(creds, {
    username: '1700003600:sess_Abc-123',
    credential: 'vaTpIs3grThN6vPORJZyGw60mL4=',
    ttl: 3600,
    expiresAt: 1_700_003_600_000,
  });
  // A byte secret: 0x00..0x1f; openssl dgst -sha1 -mac HMAC -macopt hexkey:0001...1f -binary | base64
  const bytes = mintTurnCredentials({
    secret: Uint8Array.from({ length: 32 }, (_, i) => i),
    id: 'Qm9vbGVhbg',
    ttlSeconds: 86_400,
    now: () => (1_767_229_200 - 86_400) * 1000 + 999,
  });
  assert.equal(bytes.username, '1767229200:Qm9vbGVhbg');
  assert.equal(bytes.credential, 'FaMMlvycYiDmomA7T68fKiyykTs=');
  // The same secrets as KeyObjects give the same credentials.
  const keyed = mintTurnCredentials({
    secret: createSecretKey(Uint8Array.from({ length: 32 }, (_, i) => i)),
    id: 'Qm9vbGVhbg',
    ttlSeconds: 86_400,
    now: () => (1_767_229_200 - 86_400) * 1000 + 999,
  });
  assert.equal(keyed.credential, 'FaMMlvycYiDmomA7T68fKiyykTs=');
  assert.equal(
    mintTurnCredentials({
      secret: createSecretKey(Buffer.from(SECRET, 'utf8')),
      id: 'sess_Abc-123',
      ttlSeconds: 3600,
      now: () => FIXED_NOW,
    }).credential,
    'vaTpIs3grThN6vPORJZyGw60mL4=',
  );
});

test('the credential is base64 (with padding) of HMAC-SHA1 over the whole username', () => {
  const creds = mintTurnCredentials({ secret: SECRET, id: 'abc', ttlSeconds: 60 });
  assert.match(creds.credential, /^[A-Za-z0-9+/]{27}=$/);
  const hex = createHmac('sha1', SECRET).update(creds.username).digest('hex');
  assert.notEqual(creds.credential, hex);
  assert.equal(Buffer.from(creds.credential, 'base64').toString('hex'), hex);
});

test('expiry is absolute UNIX seconds: 10 digits, never milliseconds', () => {
  const now = Date.now();
  const creds = mintTurnCredentials({ secret: SECRET, id: 'abc', ttlSeconds: 600 });
  const [expiry, id, ...rest] = creds.username.split(':');
  assert.equal(rest.length, 0, 'exactly one ":"');
  assert.equal(id, 'abc');
  assert.match(creds.username, /^\d{10}:abc$/);
  const expected = Math.floor(now / 1000) + 600;
  assert.ok(Math.abs(Number(expiry) - expected) <= 1);
  assert.equal(creds.expiresAt, Number(expiry) * 1000);
  assert.equal(creds.ttl, 600);
  // A clock in seconds (a common slip) would give a 7-digit expiry: refused, naming "now".
  assert.throws(
    () =>
      mintTurnCredentials({ secret: SECRET, id: 'abc', ttlSeconds: 600, now: () => now / 1000 }),
    (err: unknown) => err instanceof RangeError && err.message.includes('"now"'),
  );
  assert.throws(
    () => mintTurnCredentials({ secret: SECRET, id: 'abc', ttlSeconds: 600, now: () => NaN }),
    RangeError,
  );
});

test('the expiry floors the clock: the same second gives the same username', () => {
  const a = mintTurnCredentials({
    secret: SECRET,
    id: 'x',
    ttlSeconds: 60,
    now: () => 1_800_000_000_000,
  });
  const b = mintTurnCredentials({
    secret: SECRET,
    id: 'x',
    ttlSeconds: 60,
    now: () => 1_800_000_000_999,
  });
  assert.equal(a.username, '1800000060:x');
  assert.deepEqual(a, b);
});

test('ids: opaque base64url only, never ":" or anything else', () => {
  for (const id of ['a', 'sess_0123456789abcdefABCDEF', '-_-', 'x'.repeat(128)]) {
    const creds = mintTurnCredentials({ secret: SECRET, id, ttlSeconds: 60 });
    assert.ok(creds.username.endsWith(`:${id}`));
    assert.equal(creds.username.indexOf(':'), 10);
  }
  for (const id of ['', 'a:b', ':', 'alice@example.com', 'a b', 'é', 'a\n', 'x'.repeat(129)]) {
    assert.throws(
      () => mintTurnCredentials({ secret: SECRET, id, ttlSeconds: 60 }),
      (err: unknown) => err instanceof TypeError && err.message.startsWith('"id"'),
      JSON.stringify(id),
    );
  }
  // The message names the option, never the offending value (it could be personal data).
  assert.throws(
    () => mintTurnCredentials({ secret: SECRET, id: 'alice@example.com', ttlSeconds: 60 }),
    (err: unknown) => err instanceof TypeError && !err.message.includes('alice'),
  );
  assert.throws(
    () => mintTurnCredentials({ secret: SECRET, id: 42 as unknown as string, ttlSeconds: 60 }),
    TypeError,
  );
});

test('ttl bounds: 60..86400 whole seconds', () => {
  for (const ttlSeconds of [60, 61, 3600, 86_400]) {
    assert.equal(mintTurnCredentials({ secret: SECRET, id: 'a', ttlSeconds }).ttl, ttlSeconds);
  }
  for (const ttlSeconds of [0, -1, 59, 86_401, 3600.5, NaN, Infinity, 3_600_000]) {
    assert.throws(
      () => mintTurnCredentials({ secret: SECRET, id: 'a', ttlSeconds }),
      (err: unknown) => err instanceof RangeError && err.message.startsWith('"ttlSeconds"'),
      String(ttlSeconds),
    );
  }
});

test('secrets shorter than 32 bytes are refused without echoing them', () => {
  const short = 'x'.repeat(31);
  assert.throws(
    () => mintTurnCredentials({ secret: short, id: 'a', ttlSeconds: 60 }),
    (err: unknown) =>
      err instanceof RangeError &&
      err.message.startsWith('"secret"') &&
      !err.message.includes(short),
  );
  assert.throws(
    () => mintTurnCredentials({ secret: new Uint8Array(31), id: 'a', ttlSeconds: 60 }),
    RangeError,
  );
  // 11 three-byte characters are 33 bytes: strings count as UTF-8.
  assert.ok(mintTurnCredentials({ secret: 'ᚠ'.repeat(11), id: 'a', ttlSeconds: 60 }));
  assert.ok(mintTurnCredentials({ secret: new Uint8Array(32), id: 'a', ttlSeconds: 60 }));
  assert.throws(
    () => mintTurnCredentials({ secret: 123 as unknown as string, id: 'a', ttlSeconds: 60 }),
    TypeError,
  );
  assert.throws(
    () =>
      mintTurnCredentials({ secret: createSecretKey(new Uint8Array(31)), id: 'a', ttlSeconds: 60 }),
    RangeError,
  );
  const { publicKey } = generateKeyPairSync('ed25519');
  assert.throws(
    () => mintTurnCredentials({ secret: publicKey, id: 'a', ttlSeconds: 60 }),
    TypeError,
  );
});

test('different secrets, ids and expiries give different credentials', () => {
  const base = { secret: SECRET, id: 'abc', ttlSeconds: 600, now: () => FIXED_NOW };
  const a = mintTurnCredentials(base).credential;
  assert.notEqual(mintTurnCredentials({ ...base, secret: `${SECRET}!` }).credential, a);
  assert.notEqual(mintTurnCredentials({ ...base, id: 'abd' }).credential, a);
  assert.notEqual(mintTurnCredentials({ ...base, ttlSeconds: 601 }).credential, a);
});

interface MacTest {
  tcId: number;
  key: string;
  msg: string;
  tag: string;
  result: 'valid' | 'invalid' | 'acceptable';
}
interface MacGroup {
  keySize: number;
  tagSize: number;
  tests: MacTest[];
}

test('the HMAC-SHA1 primitive passes every Wycheproof hmac_sha1 case', () => {
  const suite = JSON.parse(readFileSync(WYCHEPROOF_HMAC_SHA1, 'utf8')) as {
    algorithm: string;
    numberOfTests: number;
    testGroups: MacGroup[];
  };
  assert.equal(suite.algorithm, 'HMACSHA1');
  let valid = 0;
  let invalid = 0;
  for (const group of suite.testGroups) {
    const tagBytes = group.tagSize / 8;
    for (const t of group.tests) {
      const key = Buffer.from(t.key, 'hex');
      const msg = Buffer.from(t.msg, 'hex');
      assert.equal(key.length * 8, group.keySize);
      // Truncated-tag groups compare the prefix of the full 160-bit HMAC.
      const computed = Buffer.from(computeTurnCredential(key, msg), 'base64').subarray(0, tagBytes);
      const matches = computed.toString('hex') === t.tag;
      if (t.result === 'valid') {
        assert.ok(matches, `tcId ${t.tcId} should match`);
        valid++;
      } else if (t.result === 'invalid') {
        assert.ok(!matches, `tcId ${t.tcId} must not match`);
        invalid++;
      }
    }
  }
  assert.equal(valid + invalid, suite.numberOfTests);
  assert.ok(valid > 0 && invalid > 0);
});
