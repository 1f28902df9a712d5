/**
 * Fault tests: the server killed mid-run and restarted on the same data directory (clients
 * reconnect; keys, tenants, API keys and revocations survive: they live in the SQLite store),
 * the store file made unwritable (readiness fails and says why; no token is minted that could
 * not be revoked; revocation answers 503 rather than pretending), and the clock jumping forwards
 * and backwards (expiry still enforced; rate buckets not poisoned).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manualClock, startTestServer } from '../support/test-server.js';
import { connectClient, TestClient } from '../support/ws-client.js';
import { ALL_PERMS, assertClosed, signAsServer, sleep } from '../support/attack.js';
import { STORE_FILE } from '../../src/store/sqlite-store.js';

const ROOT = new URL('../../../../', import.meta.url).pathname;
const ISSUER = 'https://callgate.test';

interface Child {
  proc: ChildProcess;
  port: number;
  stderr: () => string;
}

/** `callgate serve --dev` in a child process (so it can be SIGKILLed like a crash). */
async function serve(dataDir: string, port: number): Promise<Child> {
  const proc = spawn(
    process.execPath,
    [
      '--conditions=source',
      '--import',
      'tsx',
      'packages/server/src/cli/main.ts',
      'serve',
      '--dev',
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--data-dir',
      dataDir,
    ],
    {
      cwd: ROOT,
      env: {
        ...process.env,
        CALLGATE_AUTH_ISSUER: ISSUER,
        CALLGATE_SERVER_PUBLIC_URL: ISSUER,
        CALLGATE_SIGNAL_HANDSHAKES_PER_SECOND_PER_IP: '1000',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const listening = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start: ${out}${err}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"event":"listening","port":(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.once('exit', (code) => reject(new Error(`server exited ${code}: ${err}`)));
  });
  return { proc, port: listening, stderr: () => err };
}

async function stop(child: Child, signal: NodeJS.Signals): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  const exited = new Promise((r) => child.proc.once('exit', r));
  child.proc.kill(signal);
  await exited;
}

test(
  'restart: the server SIGKILLed mid-run comes back on the same store; clients reconnect, keys, tenants and revocations survive',
  { timeout: 60_000 },
  async (t) => {
    const dataDir = mkdtempSync(join(tmpdir(), 'callgate-fault-'));
    t.after(() => rmSync(dataDir, { recursive: true, force: true }));
    let child = await serve(dataDir, 0);
    t.after(() => stop(child, 'SIGKILL'));
    const port = child.port;
    const base = `http://127.0.0.1:${port}`;
    const apiKey = /(cgk_[0-9a-f]{16}_[A-Za-z0-9_-]{43})/.exec(child.stderr())?.[1];
    assert.ok(apiKey, 'dev bootstrap printed an API key');
    const mint = async (sub: string) => {
      const res = await fetch(`${base}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sub, rooms: { lobby: ALL_PERMS } }),
      });
      assert.equal(res.status, 201);
      return (await res.json()) as { token: string; sessionId: string };
    };
    const alice = await mint('alice');
    const bob = await mint('bob');
    const carol = await mint('carol');
    const revoke = await fetch(`${base}/v1/sessions/${bob.sessionId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}` },
    });
    assert.equal(revoke.status, 200);
    const kidsBefore = (
      (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as {
        keys: Array<{ kid: string }>;
      }
    ).keys.map((k) => k.kid);
    const a = await connectClient(`ws://127.0.0.1:${port}`, alice.token);
    const c = await connectClient(`ws://127.0.0.1:${port}`, carol.token);
    await a.client.request({ type: 'join', room: 'lobby' });
    await c.client.request({ type: 'join', room: 'lobby' });
    await a.client.request({ type: 'publish', room: 'lobby', data: 'before' });
    assert.equal((await c.client.next('message')).data, 'before');

    // Crash: no drain, no close frames.
    await stop(child, 'SIGKILL');
    assert.equal((await a.client.closed).code, 1006);
    assert.equal((await c.client.closed).code, 1006);

    child = await serve(dataDir, port);
    assert.equal(child.port, port, 'back on the same port');
    // The clients reconnect with the tokens they hold and their resume tokens; the new process
    // has no parked peers, so they get new peers with resume_failed, and rejoin.
    const a2 = new TestClient(`ws://127.0.0.1:${port}`, alice.token, {
      protocols: [`resume.${a.welcome.resumeToken}`],
    });
    const w = await a2.next('welcome');
    assert.equal(w.resumed, false);
    assert.equal((await a2.next('error')).code, 'resume_failed');
    const c2 = await connectClient(`ws://127.0.0.1:${port}`, carol.token);
    await a2.request({ type: 'join', room: 'lobby' });
    await c2.client.request({ type: 'join', room: 'lobby' });
    await a2.request({ type: 'publish', room: 'lobby', data: 'after' });
    assert.equal(
      (await c2.client.next('message')).data,
      'after',
      'keys survived: old tokens verify',
    );
    // The revocation survived.
    await assertClosed(new TestClient(`ws://127.0.0.1:${port}`, bob.token), 4403, 'token_revoked');
    // The tenant and its API key survived; so did the published keys.
    await mint('dave');
    const kidsAfter = (
      (await (await fetch(`${base}/.well-known/jwks.json`)).json()) as {
        keys: Array<{ kid: string }>;
      }
    ).keys.map((k) => k.kid);
    assert.deepEqual(kidsAfter.sort(), kidsBefore.sort());
    a2.close();
    c2.client.close();
    await stop(child, 'SIGTERM');
  },
);

test('unwritable store: readiness fails and says why; minting and revocation answer 503; recovery', async (t) => {
  const server = await startTestServer();
  t.after(() => server.close());
  const file = join(server.dataDir, STORE_FILE);
  const live = await connectClient(
    server.wsUrl,
    (await server.mint({ sub: 'live', rooms: { r: ALL_PERMS } })).token,
  );
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);

  chmodSync(file, 0o400);
  t.after(() => {
    if (existsSync(file)) chmodSync(file, 0o600);
  });
  const ready = await fetch(`${server.url}/readyz`);
  assert.equal(ready.status, 503);
  const body = (await ready.json()) as { error: { code: string; message: string } };
  assert.equal(body.error.code, 'not_ready');
  assert.match(body.error.message, /store not writable: EACCES/);

  const mint = await fetch(`${server.url}/v1/tokens`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}`, 'content-type': 'application/json' },
    body: JSON.stringify({ sub: 'x', rooms: { r: ['join'] } }),
  });
  assert.equal(mint.status, 503);
  const mintBody = (await mint.json()) as { error: { code: string; message: string } };
  assert.equal(mintBody.error.code, 'not_ready');
  assert.match(mintBody.error.message, /not writable/);
  assert.equal(mintBody.error.message.includes(server.dataDir), false, 'no path leaked');

  const revoke = await fetch(`${server.url}/v1/sessions/${live.welcome.sessionId}/revoke`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.apiKey}` },
  });
  assert.equal(revoke.status, 503);
  assert.equal(((await revoke.json()) as { error: { code: string } }).error.code, 'not_ready');
  // Nothing was pretended: the session is not revoked, its socket is untouched and still served.
  assert.equal(
    server.app.services.revocations.isRevoked(server.tenant, live.welcome.sessionId),
    false,
  );
  assert.equal((await live.client.request({ type: 'ping' })).type, 'pong');
  assert.ok(server.logs.some((l) => l.includes('"event":"store_not_writable"')));

  chmodSync(file, 0o600);
  assert.equal((await fetch(`${server.url}/readyz`)).status, 200);
  await server.mint({ sub: 'y', rooms: { r: ['join'] } });
  live.client.close();
});

test('clock jumps: forward past exp closes idle sockets and refuses old tokens; backward neither poisons rate limits nor admits future tokens', async (t) => {
  const clock = manualClock(Date.UTC(2026, 5, 1, 12, 0, 0));
  const server = await startTestServer({
    clock,
    config: {
      'signal.handshakesPerSecondPerIp': 3,
      'signal.pingIntervalMs': 200,
      'signal.pongTimeoutMs': 200,
      'auth.clockToleranceSeconds': 5,
    },
  });
  t.after(() => server.close());

  // Forward: an idle connection is closed within a heartbeat sweep, without sending anything.
  const idleToken = signAsServer(server);
  const idle = await connectClient(server.wsUrl, idleToken);
  const old = signAsServer(server);
  clock.advance((server.config.auth.accessTokenTtlSeconds + 6) * 1000);
  const started = Date.now();
  await assertClosed(idle.client, 4401, 'token_expired', 'idle socket after the jump', 5000);
  // The sweep runs every 100 ms here; the old timer would fire only in 300 s.
  assert.ok(Date.now() - started < 3000, 'closed within a sweep, not at the old timer');
  await assertClosed(new TestClient(server.wsUrl, old), 4401, 'token_expired');
  // A token that verified before the jump (and may sit in a cache) is expired after it too.
  await assertClosed(new TestClient(server.wsUrl, idleToken), 4401, 'token_expired');

  // Backward by an hour: tokens minted "in the future" are refused; live sockets and fresh
  // tokens keep working (the buckets never see negative elapsed time).
  const live = await connectClient(server.wsUrl, signAsServer(server));
  const future = signAsServer(server);
  clock.advance(-3_600_000);
  assert.equal((await live.client.request({ type: 'ping' })).type, 'pong', 'message bucket intact');
  await assertClosed(new TestClient(server.wsUrl, future), 4401, 'token_invalid');
  const fresh = await connectClient(server.wsUrl, signAsServer(server));
  assert.equal((await fresh.client.request({ type: 'ping' })).type, 'pong');
  // Expiry is still enforced on the stepped-back clock.
  clock.advance((server.config.auth.accessTokenTtlSeconds + 6) * 1000);
  await assertClosed(fresh.client, 4401, 'token_expired', 'fresh token after it expired', 5000);
  live.client.close();
  await sleep(10);
});
