/**
 * Security catalogue G76-G83: TURN REST credentials as the HTTP endpoint hands them out, checked
 * by a real coturn (4.6.1, support/coturn.ts) where the relay is the judge (G77-G80), and the
 * Wycheproof HMAC-SHA1 vectors through the credential function.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { manualClock, startTestServer, type TestServer } from '../support/test-server.js';
import { startCoturn, type CoturnHandle } from '../support/coturn.js';
import {
  allocate,
  computeTurnCredential,
  renderCoturnConfig,
  type TurnAllocation,
} from '../../src/turn/index.js';
import { loadConfig } from '../../src/config/load-config.js';
import { ConfigError } from '../../src/config/config.js';
import { ALL_PERMS } from '../support/attack.js';

const REALM = 'callgate.test';
const current = randomBytes(32).toString('base64');
const previous = randomBytes(32).toString('base64');
let coturn: CoturnHandle;
let server: TestServer;
const opened: TurnAllocation[] = [];

interface Creds {
  username: string;
  credential: string;
  ttl: number;
  expiresAt: number;
  urls: string[];
  iceServers: Array<{ urls: string | string[]; username?: string; credential?: string }>;
}

async function credentialsFrom(
  s: TestServer,
  sub = `user-${randomBytes(4).toString('hex')}`,
  query = '',
): Promise<{ creds: Creds; sid: string }> {
  const { token, sessionId } = await s.mint({ sub, rooms: { r: ALL_PERMS } });
  const res = await fetch(`${s.url}/v1/turn/credentials${query}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ username: 'victim', userId: 'victim', ttl: 999_999 }),
  });
  assert.equal(res.status, 200);
  return { creds: (await res.json()) as Creds, sid: sessionId };
}

async function relay(username: string, password: string) {
  const r = await allocate({
    host: '127.0.0.1',
    port: coturn.port,
    username,
    password,
    timeoutMs: 3000,
  });
  if (r.ok) opened.push(r);
  return r;
}
async function allocates(username: string, password: string) {
  const r = await relay(username, password);
  assert.equal(r.ok, true, r.ok ? '' : `expected an allocation, got ${r.errorCode}`);
  return r as TurnAllocation;
}
async function refused401(username: string, password: string) {
  const r = await relay(username, password);
  assert.equal(r.ok, false, 'the relay must refuse');
  if (!r.ok) assert.equal(r.errorCode, 401);
}

before(
  async () => {
    coturn = await startCoturn({
      configText: renderCoturnConfig({ secrets: [current, previous], realm: REALM }),
    });
    server = await startTestServer({
      config: {
        'turn.secrets': [current, previous],
        'turn.ttlSeconds': 600,
        'turn.requestsPerMinutePerUser': 5,
        'turn.urls': [`turn:127.0.0.1:${coturn.port}?transport=udp`],
      },
    });
  },
  { timeout: 600_000 },
);
after(async () => {
  await Promise.all(opened.splice(0).map((a) => a.close()));
  await server?.close();
  await coturn?.stop();
});

describe('G. TURN credential attacks', () => {
  test('S76 username: 10-digit expiry in seconds = now + ttl, ttl within policy, opaque session id', async () => {
    const before = Math.floor(Date.now() / 1000);
    const { creds, sid } = await credentialsFrom(server);
    const after = Math.floor(Date.now() / 1000);
    const m = /^(\d{10}):([A-Za-z0-9_-]+)$/.exec(creds.username);
    assert.ok(m, creds.username);
    const expiry = Number(m[1]);
    assert.ok(expiry >= before + 600 && expiry <= after + 600, 'seconds, not milliseconds');
    assert.equal(creds.ttl, 600);
    assert.equal(creds.expiresAt, expiry * 1000);
    assert.equal(m[2], sid, 'the id is the session id');
    // The ttl asked for in the body is ignored; the policy caps ttl at one day.
    assert.throws(
      () => loadConfig({ env: {}, overrides: { 'turn.ttlSeconds': 86_401 } }),
      (e: unknown) =>
        e instanceof ConfigError && e.issues.some((i) => i.path === 'turn.ttlSeconds'),
    );
  });

  test('S77 password = base64(HMAC-SHA1(secret, username)); Wycheproof HMAC-SHA1; hex or base64url gets TURN 401', async () => {
    const { creds } = await credentialsFrom(server);
    assert.equal(
      creds.credential,
      createHmac('sha1', current).update(creds.username).digest('base64'),
    );
    const vectors = JSON.parse(
      readFileSync(
        new URL('../../../../../shared/vectors/wycheproof/hmac_sha1_test.json', import.meta.url),
        'utf8',
      ),
    ) as {
      testGroups: Array<{
        tagSize: number;
        tests: Array<{ tcId: number; key: string; msg: string; tag: string; result: string }>;
      }>;
    };
    let n = 0;
    for (const g of vectors.testGroups)
      for (const tc of g.tests) {
        const mac = Buffer.from(
          computeTurnCredential(Buffer.from(tc.key, 'hex'), Buffer.from(tc.msg, 'hex')),
          'base64',
        ).subarray(0, g.tagSize / 8);
        assert.equal(mac.equals(Buffer.from(tc.tag, 'hex')), tc.result === 'valid', `tc${tc.tcId}`);
        n++;
      }
    assert.equal(n, 170);
    const digest = createHmac('sha1', current).update(creds.username).digest();
    await refused401(creds.username, digest.toString('hex'));
    await refused401(creds.username, digest.toString('base64url'));
    await allocates(creds.username, creds.credential);
  });

  test('S78 a tampered username with the original password: TURN 401', async () => {
    const { creds } = await credentialsFrom(server);
    const [expiry, id] = creds.username.split(':') as [string, string];
    await refused401(`${Number(expiry) + 86_400}:${id}`, creds.credential);
    await refused401(`${expiry}:${randomBytes(16).toString('base64url')}`, creds.credential);
    await refused401(`${expiry}${'0'.repeat(3)}:${id}`, creds.credential);
  });

  test('S79 an expired credential at ALLOCATE: 401; an existing allocation is unaffected', async (t) => {
    const now = (await credentialsFrom(server)).creds;
    const existing = await allocates(now.username, now.credential);
    // A server whose clock is two hours behind mints credentials that expired an hour ago.
    const past = await startTestServer({
      clock: manualClock(Date.now() - 2 * 3_600_000),
      config: { 'turn.secrets': [current], 'turn.ttlSeconds': 3600 },
    });
    t.after(() => past.close());
    const { creds } = await credentialsFrom(past);
    assert.ok(creds.expiresAt < Date.now());
    await refused401(creds.username, creds.credential);
    assert.ok((await existing.refresh(600)) > 0, 'the earlier allocation still refreshes');
  });

  test('S80 secret rotation: during the overlap both secrets work; once removed, the old one gets 401', async (t) => {
    // Before the rotation: a server that signs with the previous secret.
    const before = await startTestServer({ config: { 'turn.secrets': [previous] } });
    t.after(() => before.close());
    const old = (await credentialsFrom(before)).creds;
    const fresh = (await credentialsFrom(server)).creds;
    await allocates(old.username, old.credential);
    await allocates(fresh.username, fresh.credential);
    // The relay restarted with only the new secret.
    const rotated = await startCoturn({
      configText: renderCoturnConfig({ secrets: [current], realm: REALM }),
    });
    t.after(() => rotated.stop());
    const at = async (u: string, p: string) => {
      const r = await allocate({
        host: '127.0.0.1',
        port: rotated.port,
        username: u,
        password: p,
        timeoutMs: 3000,
      });
      if (r.ok) await r.close();
      return r.ok ? 'ok' : r.errorCode;
    };
    assert.equal(await at(old.username, old.credential), 401);
    assert.equal(await at(fresh.username, fresh.credential), 'ok');
  });

  test('S81 endpoint access: no token 401; ?username= and body fields are ignored; the id is opaque', async () => {
    const none = await fetch(`${server.url}/v1/turn/credentials`, { method: 'POST' });
    assert.equal(none.status, 401);
    assert.equal(((await none.json()) as { error: { code: string } }).error.code, 'token_missing');
    const apiKey = await fetch(`${server.url}/v1/turn/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(apiKey.status, 401, 'an API key is not an access token');
    const { creds, sid } = await credentialsFrom(
      server,
      'alice@example.com',
      '?username=victim&user=victim',
    );
    const id = creds.username.split(':')[1]!;
    assert.equal(id, sid);
    assert.ok(
      !creds.username.includes('victim') && !creds.username.includes('alice'),
      'no PII, no injection',
    );
    assert.ok(!id.includes(':'));
    // Design: any valid access token may get credentials (there is no separate TURN scope).
  });

  test('S82 secret strength: fewer than 32 bytes refuses to start, naming the key', () => {
    assert.throws(
      () => loadConfig({ env: {}, overrides: { 'turn.secrets': [current, 'x'.repeat(31)] } }),
      (e: unknown) =>
        e instanceof ConfigError && e.issues.some((i) => i.path === 'turn.secrets[1]'),
    );
    // Without configured secrets the server generates one: 32 random bytes or more.
    assert.ok(Buffer.byteLength(current) >= 32);
  });

  test('S83 mint storm: past turn.requestsPerMinutePerUser, 429 with Retry-After', async () => {
    const { token } = await server.mint({ sub: 'stormy', rooms: { r: ALL_PERMS } });
    const statuses: number[] = [];
    let retry: string | null = null;
    for (let i = 0; i < 8; i++) {
      const res = await fetch(`${server.url}/v1/turn/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      });
      statuses.push(res.status);
      if (res.status === 429) retry = res.headers.get('retry-after');
      await res.arrayBuffer();
    }
    assert.deepEqual(statuses, [200, 200, 200, 200, 200, 429, 429, 429]);
    assert.ok(Number(retry) >= 1);
  });
});
