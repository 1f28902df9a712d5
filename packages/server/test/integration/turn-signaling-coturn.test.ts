/**
 * Issue 4 end to end through the product's own paths: coturn runs the output of
 * `callgate coturn-config` for the server's data directory, and credentials taken from
 * `POST /v1/turn/credentials` and from a real signaling `welcome` allocate and relay on it.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { runCli } from '../../src/cli/main.js';
import type { CliIo } from '../../src/cli/io.js';
import { allocate, type TurnAllocation } from '../../src/turn/index.js';
import { startTestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';
import { startCoturn, startUdpEchoPeer } from '../support/coturn.js';

function captureIo(): CliIo & { stdout: string[]; stderr: string[] } {
  const stdout: string[] = [];
  const stderr: string[] = [];
  return {
    stdout,
    stderr,
    out: (l) => stdout.push(l),
    err: (l) => stderr.push(l),
    readStdin: async () => '',
  };
}

async function relays(
  port: number,
  username: string,
  credential: string,
  echoPort: number,
): Promise<void> {
  const result = await allocate({
    host: '127.0.0.1',
    port,
    username,
    password: credential,
    timeoutMs: 3000,
  });
  assert.equal(
    result.ok,
    true,
    result.ok ? '' : `allocation refused: ${result.errorCode} ${result.reason}`,
  );
  const allocation = result as TurnAllocation;
  try {
    const peer = { family: 'IPv4', address: '127.0.0.1', port: echoPort } as const;
    await allocation.createPermission(peer);
    const payload = randomBytes(48);
    allocation.send(peer, payload);
    const back = await allocation.receive(3000);
    assert.deepEqual(Buffer.from(back.data), payload);
  } finally {
    await allocation.close();
  }
}

test(
  'coturn-config → coturn; HTTP and welcome credentials allocate and relay; tampered ones get 401',
  { timeout: 600_000 },
  async (t) => {
    // Zero config: the server generates its TURN secret into the data directory.
    const server = await startTestServer();
    t.after(() => server.close());
    const io = captureIo();
    assert.equal(
      await runCli(['coturn-config', '--data-dir', server.dataDir], io),
      0,
      io.stderr.join('\n'),
    );
    const coturn = await startCoturn({ configText: io.stdout.join('\n') });
    t.after(() => coturn.stop());
    const echo = await startUdpEchoPeer();
    t.after(() => echo.stop());

    const { token } = await server.mint({ sub: 'alice', rooms: { r: ['join'] } });
    const res = await fetch(`${server.url}/v1/turn/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    const creds = (await res.json()) as { username: string; credential: string };
    await relays(coturn.port, creds.username, creds.credential, echo.port);

    // welcome.iceServers from a real signaling connection.
    const { client, welcome } = await connectClient(
      server.wsUrl,
      (await server.mint({ sub: 'bob', rooms: { r: ['join'] } })).token,
    );
    const turnEntry = welcome.iceServers.find((s) => s.username !== undefined)!;
    await relays(coturn.port, turnEntry.username!, turnEntry.credential!, echo.port);
    client.close();

    // Edited username (raised expiry) with the original credential: 401.
    const [expiry, id] = creds.username.split(':');
    const edited = await allocate({
      host: '127.0.0.1',
      port: coturn.port,
      username: `${Number(expiry) + 3600}:${id}`,
      password: creds.credential,
      timeoutMs: 3000,
    });
    assert.equal(edited.ok, false);
    if (!edited.ok) assert.equal(edited.errorCode, 401);

    // Rotation through the CLI: a standby secret, promoted; the relay (restarted with both) accepts
    // both; once the old one is removed everywhere, its credentials get 401.
    const add = captureIo();
    assert.equal(await runCli(['turn', 'secret', 'add', '--data-dir', server.dataDir], add), 0);
    const list = captureIo();
    await runCli(['turn', 'secret', 'list', '--data-dir', server.dataDir], list);
    const [oldId, newId] = list.stdout.map((l) => l.split('\t')[0]!);
    assert.equal(
      await runCli(
        ['turn', 'secret', 'promote', newId!, '--data-dir', server.dataDir],
        captureIo(),
      ),
      0,
    );
    const both = captureIo();
    await runCli(['coturn-config', '--data-dir', server.dataDir], both);
    assert.equal(both.stdout.join('\n').match(/^static-auth-secret=/gm)?.length, 2);
    const coturn2 = await startCoturn({ configText: both.stdout.join('\n') });
    t.after(() => coturn2.stop());
    // The running server picks up the promotion from the store within about a second.
    await new Promise((r) => setTimeout(r, 1500));
    const fresh = (await (
      await fetch(`${server.url}/v1/turn/credentials`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}` },
      })
    ).json()) as typeof creds;
    assert.notEqual(fresh.credential, creds.credential);
    await relays(coturn2.port, fresh.username, fresh.credential, echo.port); // new secret
    await relays(coturn2.port, creds.username, creds.credential, echo.port); // old secret, still listed

    assert.equal(
      await runCli(['turn', 'secret', 'remove', oldId!, '--data-dir', server.dataDir], captureIo()),
      0,
    );
    const onlyNew = captureIo();
    await runCli(['coturn-config', '--data-dir', server.dataDir], onlyNew);
    const coturn3 = await startCoturn({ configText: onlyNew.stdout.join('\n') });
    t.after(() => coturn3.stop());
    const old = await allocate({
      host: '127.0.0.1',
      port: coturn3.port,
      username: creds.username,
      password: creds.credential,
      timeoutMs: 3000,
    });
    assert.equal(old.ok, false);
    if (!old.ok) assert.equal(old.errorCode, 401);
    await relays(coturn3.port, fresh.username, fresh.credential, echo.port);
  },
);
