/**
 * TURN REST credentials against a real coturn (4.6.1 on Debian bookworm) configured with
 * `renderCoturnConfig()`: security-catalogue G76–G80 end to end.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  allocate,
  mintTurnCredentials,
  renderCoturnConfig,
  TurnClientError,
} from '../../src/turn/index.js';
import type { AllocateResult, TurnAllocation, TurnCredentials } from '../../src/turn/index.js';
import { startCoturn, startUdpEchoPeer } from '../support/coturn.js';
import type { CoturnHandle, UdpEchoPeer } from '../support/coturn.js';

const REALM = 'callgate.test';
const newSecret = () => randomBytes(32).toString('hex');
const newId = () => randomBytes(16).toString('base64url');
const HOOK_TIMEOUT_MS = 600_000; // a first run may install coturn with apt-get

/** Allocates with a fresh socket (coturn pins a username to its 5-tuple), closing on success. */
async function tryAllocate(
  coturn: CoturnHandle,
  username: string,
  password: string,
): Promise<AllocateResult> {
  const result = await allocate({
    host: '127.0.0.1',
    port: coturn.port,
    username,
    password,
    timeoutMs: 3000,
  });
  if (result.ok) opened.push(result);
  return result;
}
const opened: TurnAllocation[] = [];

async function assertAllocates(
  coturn: CoturnHandle,
  creds: Pick<TurnCredentials, 'username' | 'credential'>,
): Promise<TurnAllocation> {
  const result = await tryAllocate(coturn, creds.username, creds.credential);
  assert.equal(
    result.ok,
    true,
    result.ok ? '' : `expected success, got ${result.errorCode} ${result.reason}`,
  );
  return result as TurnAllocation;
}

async function assertRefused(
  coturn: CoturnHandle,
  username: string,
  password: string,
): Promise<void> {
  const result = await tryAllocate(coturn, username, password);
  assert.equal(result.ok, false, 'the relay must refuse');
  if (!result.ok) assert.equal(result.errorCode, 401);
}

async function relayRoundTrip(allocation: TurnAllocation, echo: UdpEchoPeer): Promise<void> {
  const peer = { family: 'IPv4', address: echo.address, port: echo.port } as const;
  await allocation.createPermission(peer);
  const payload = randomBytes(64);
  allocation.send(peer, payload);
  const back = await allocation.receive(3000);
  assert.deepEqual(back.peer, peer);
  assert.deepEqual(Buffer.from(back.data), payload);
}

describe('coturn with renderCoturnConfig(): two secrets, newest first', () => {
  const current = newSecret();
  const previous = newSecret();
  let coturn: CoturnHandle;
  let echo: UdpEchoPeer;

  before(
    async () => {
      echo = await startUdpEchoPeer();
      coturn = await startCoturn({
        configText: renderCoturnConfig({ secrets: [current, previous], realm: REALM }),
      });
    },
    { timeout: HOOK_TIMEOUT_MS },
  );

  after(async () => {
    await Promise.all(opened.splice(0).map((a) => a.close()));
    await coturn?.stop();
    await echo?.stop();
  });

  test('a minted credential allocates and relays a datagram to the echo peer and back', async () => {
    const creds = mintTurnCredentials({ secret: current, id: newId(), ttlSeconds: 600 });
    const allocation = await assertAllocates(coturn, creds);
    assert.equal(allocation.relayedAddress.address, '127.0.0.1');
    assert.ok(allocation.lifetime > 0);
    await relayRoundTrip(allocation, echo);
    assert.ok(coturn.readLog().includes('incoming packet ALLOCATE processed, success'));
  });

  test('rotation overlap: a credential signed with the previous secret works too (G80)', async () => {
    const creds = mintTurnCredentials({ secret: previous, id: newId(), ttlSeconds: 600 });
    await relayRoundTrip(await assertAllocates(coturn, creds), echo);
  });

  test('an expired credential gets 401 (G79)', async () => {
    const hourAgo = Date.now() - 2 * 3600_000;
    const creds = mintTurnCredentials({
      secret: current,
      id: newId(),
      ttlSeconds: 3600,
      now: () => hourAgo,
    });
    assert.ok(creds.expiresAt < Date.now());
    await assertRefused(coturn, creds.username, creds.credential);
  });

  test('a credential signed with a wrong secret gets 401', async () => {
    const creds = mintTurnCredentials({ secret: newSecret(), id: newId(), ttlSeconds: 600 });
    await assertRefused(coturn, creds.username, creds.credential);
  });

  test('a username edited after signing gets 401: raised expiry, swapped id (G78)', async () => {
    const creds = mintTurnCredentials({ secret: current, id: newId(), ttlSeconds: 600 });
    const [expiry] = creds.username.split(':');
    await assertRefused(
      coturn,
      `${Number(expiry) + 86_400}:${creds.username.split(':')[1]}`,
      creds.credential,
    );
    await assertRefused(coturn, `${expiry}:${newId()}`, creds.credential);
  });

  test('hex and base64url digests get 401; only base64 works (G77)', async () => {
    const creds = mintTurnCredentials({ secret: current, id: newId(), ttlSeconds: 600 });
    const mac = createHmac('sha1', current).update(creds.username);
    const digest = mac.digest();
    await assertRefused(coturn, creds.username, digest.toString('hex'));
    await assertRefused(coturn, creds.username, digest.toString('base64url'));
    await assertAllocates(coturn, creds);
  });

  test('an allocation outlives its credential; a new allocation with it gets 401', async () => {
    // ttl is at least 60 s; a clock 58 s behind makes the credential expire 2 s from now.
    const creds = mintTurnCredentials({
      secret: current,
      id: newId(),
      ttlSeconds: 60,
      now: () => Date.now() - 58_000,
    });
    const allocation = await assertAllocates(coturn, creds);
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, creds.expiresAt - Date.now()) + 1500),
    );
    // coturn checks the expiry only when a session first authenticates (design.md).
    assert.ok((await allocation.refresh(600)) > 0);
    await relayRoundTrip(allocation, echo);
    await assertRefused(coturn, creds.username, creds.credential);
  });

  test('the relay refuses private and loopback peers from the denied-peer-ip baseline', async () => {
    const creds = mintTurnCredentials({ secret: current, id: newId(), ttlSeconds: 600 });
    const allocation = await assertAllocates(coturn, creds);
    for (const peer of [
      '10.0.0.1',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '127.0.0.2',
    ]) {
      await assert.rejects(
        allocation.createPermission(peer),
        (err: unknown) => err instanceof TurnClientError && err.errorCode === 403,
        peer,
      );
    }
    // An IPv4-mapped IPv6 peer never reaches the IPv4 blacklist on this IPv4-only relay: coturn
    // answers 443 Peer Address Family Mismatch (RFC 6156). On a dual-stack relay the
    // ::ffff:0.0.0.0 range of the baseline refuses it with 403.
    await assert.rejects(
      allocation.createPermission('::ffff:10.0.0.1'),
      (err: unknown) => err instanceof TurnClientError && [403, 443].includes(err.errorCode ?? 0),
    );
    // The one loopback address the harness allows still works: the baseline is not all-or-nothing.
    await allocation.createPermission('127.0.0.1');
  });

  test('user-quota=12 counts allocations per session id across credentials (486 past it)', async () => {
    const id = newId();
    const results: AllocateResult[] = [];
    for (let i = 0; i < 12; i++) {
      const creds = mintTurnCredentials({ secret: current, id, ttlSeconds: 600 });
      results.push(await tryAllocate(coturn, creds.username, creds.credential));
    }
    assert.deepEqual(
      results.map((r) => (r.ok ? 'ok' : r.errorCode)),
      Array(12).fill('ok'),
    );
    // A different expiry (a refreshed credential) is still the same user for coturn's quota.
    const later = mintTurnCredentials({ secret: current, id, ttlSeconds: 900 });
    const over = await tryAllocate(coturn, later.username, later.credential);
    assert.equal(over.ok, false);
    if (!over.ok) assert.equal(over.errorCode, 486);
    await Promise.all(results.map((r) => (r.ok ? r.close() : undefined)));
    // Released allocations (REFRESH with LIFETIME 0) free the quota again, on coturn's next
    // one-second timer tick rather than at once.
    const deadline = Date.now() + 5000;
    let again: AllocateResult;
    do {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const creds = mintTurnCredentials({ secret: current, id, ttlSeconds: 600 });
      again = await tryAllocate(coturn, creds.username, creds.credential);
    } while (!again.ok && again.errorCode === 486 && Date.now() < deadline);
    assert.equal(again.ok, true);
  });

  test('coturn logs neither the secrets nor any credential (verbose log)', () => {
    const log = readFileSync(coturn.logFile, 'utf8');
    assert.ok(log.includes('incoming packet'), 'the log is the verbose one');
    assert.ok(!log.includes(current) && !log.includes(previous), 'no secret in the log');
    assert.ok(!/[A-Za-z0-9+/]{27}=/.test(log), 'no base64 HMAC-SHA1 in the log');
  });

  test(
    'turnutils_uclient cross-check: a minted credential allocates and relays (exit 0)',
    { timeout: 60_000 },
    async () => {
      // uclient 4.6.1 sends its data to the peer port + 1 even with -c (no RTCP), as its own
      // turnutils_peer listens on both; exit code 0 alone does not prove that anything was
      // relayed (it exits 0 with 100% loss), so count the echoes on both ports.
      const [first, second] = await startEchoPair();
      try {
        const creds = mintTurnCredentials({ secret: current, id: newId(), ttlSeconds: 600 });
        const args = (password: string) => [
          '-c', // no RTCP allocation
          '-n',
          '3',
          '-z',
          '5',
          '-e',
          first.address,
          '-r',
          String(first.port),
          '-p',
          String(coturn.port),
          '-u',
          creds.username,
          '-w',
          password,
          '127.0.0.1',
        ];
        assert.equal(await runBounded('turnutils_uclient', args(creds.credential), 30_000), 0);
        assert.ok(first.received() + second.received() >= 3, 'uclient data reached the peer');
        assert.notEqual(
          await runBounded('turnutils_uclient', args('not-the-credential'), 30_000),
          0,
        );
      } finally {
        await first.stop();
        await second.stop();
      }
    },
  );
});

describe('coturn with a 1-second nonce lifetime', () => {
  const secret = newSecret();
  let coturn: CoturnHandle | undefined;
  after(async () => {
    await Promise.all(opened.splice(0).map((a) => a.close()));
    await coturn?.stop();
  });

  test(
    'a stale nonce (438) is renewed and the request retried once',
    { timeout: HOOK_TIMEOUT_MS },
    async () => {
      coturn = await startCoturn({
        // A later line wins in coturn's config reader: this overrides the baseline's 600 s.
        configText: renderCoturnConfig({
          secrets: [secret],
          realm: REALM,
          extraLines: ['stale-nonce=1'],
        }),
      });
      const allocation = await assertAllocates(
        coturn,
        mintTurnCredentials({ secret, id: newId(), ttlSeconds: 600 }),
      );
      await new Promise((resolve) => setTimeout(resolve, 2500));
      // Without the retry this would reject with errorCode 438.
      await allocation.createPermission('127.0.0.1');
      assert.ok(coturn.readLog().includes('438'), 'coturn did answer 438 Stale Nonce');
    },
  );
});

/** Two echo peers on consecutive ports P and P+1. */
async function startEchoPair(): Promise<[UdpEchoPeer, UdpEchoPeer]> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const first = await startUdpEchoPeer();
    try {
      return [first, await startUdpEchoPeer(first.port + 1)];
    } catch {
      await first.stop();
    }
  }
  throw new Error('no two consecutive free UDP ports');
}

describe('coturn restarted with only the new secret', () => {
  const oldSecret = newSecret();
  const newSecretValue = newSecret();
  const handles: CoturnHandle[] = [];
  after(async () => {
    await Promise.all(opened.splice(0).map((a) => a.close()));
    await Promise.all(handles.map((h) => h.stop()));
  });

  test(
    'after the old secret is removed, its credentials get 401 and new ones work (G80)',
    { timeout: HOOK_TIMEOUT_MS },
    async () => {
      const oldCreds = mintTurnCredentials({ secret: oldSecret, id: newId(), ttlSeconds: 600 });
      const newCreds = mintTurnCredentials({
        secret: newSecretValue,
        id: newId(),
        ttlSeconds: 600,
      });

      const overlap = await startCoturn({
        configText: renderCoturnConfig({ secrets: [newSecretValue, oldSecret], realm: REALM }),
      });
      handles.push(overlap);
      await assertAllocates(overlap, oldCreds);
      await assertAllocates(overlap, newCreds);
      await Promise.all(opened.splice(0).map((a) => a.close()));
      await overlap.stop();

      const rotated = await startCoturn({
        configText: renderCoturnConfig({ secrets: [newSecretValue], realm: REALM }),
      });
      handles.push(rotated);
      await assertRefused(rotated, oldCreds.username, oldCreds.credential);
      await assertAllocates(rotated, newCreds);
    },
  );
});

/** Runs a command with a hard timeout, resolving its exit code (-1 on timeout). */
function runBounded(command: string, args: string[], timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: 'ignore' });
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code ?? -1);
    });
  });
}
