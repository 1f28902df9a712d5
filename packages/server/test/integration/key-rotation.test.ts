/**
 * Issue 2, acceptance 3: a token minted before `callgate keys rotate` and before a server
 * restart still verifies after both; a token whose key was revoked with `keys revoke` does not.
 * The CLI runs on the same data directory as the running server, which notices the change
 * through SQLite's data_version within about a second.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify, errors as joseErrors } from 'jose';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { cli, waitFor } from '../support/cli-io.js';
import { TokenError } from '../../src/auth/token-error.js';

const ISSUER = 'https://callgate.test';

/** Verifies three ways: the server's own verifier, plain jose on the JWKS URL, and `callgate verify`. */
async function verifiesEverywhere(
  server: TestServer,
  dataDir: string,
  token: string,
): Promise<void> {
  const { claims } = await server.app.services.verifyToken(token);
  assert.equal(claims.iss, ISSUER);
  const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`), {
    cooldownDuration: 0,
  });
  await jwtVerify(token, jwks, { issuer: ISSUER, audience: 'callgate', typ: 'at+jwt' });
  const verified = await cli(['verify', token, '--data-dir', dataDir]);
  assert.equal(verified.code, 0, verified.stderr);
  assert.equal((JSON.parse(verified.stdout) as { valid: boolean }).valid, true);
}

async function fails(server: TestServer, dataDir: string, token: string): Promise<void> {
  await assert.rejects(server.app.services.verifyToken(token), (err: unknown) => {
    assert.ok(err instanceof TokenError);
    assert.equal(err.code, 'token_invalid');
    assert.equal(err.detail, 'unknown kid');
    return true;
  });
  const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
  await assert.rejects(
    jwtVerify(token, jwks, { issuer: ISSUER, audience: 'callgate' }),
    joseErrors.JWKSNoMatchingKey,
  );
  const verified = await cli(['verify', token, '--data-dir', dataDir]);
  assert.equal(verified.code, 1);
  assert.equal(verified.stdout, '');
  assert.equal(verified.stderr, 'invalid: token_invalid (unknown kid)');
}

async function jwksKids(server: TestServer): Promise<string[]> {
  const res = await fetch(`${server.url}/.well-known/jwks.json`);
  return ((await res.json()) as { keys: { kid: string }[] }).keys.map((k) => k.kid);
}

test('tokens survive keys rotate and a restart; keys revoke kills exactly its tokens', async (t) => {
  const root = mkdtempSync(join(tmpdir(), 'callgate-rotation-'));
  const dataDir = join(root, 'data');
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const config = { 'auth.issuer': ISSUER };

  // 1. A running server mints T1 with the first current key.
  let server = await startTestServer({ dataDir, config });
  let closed = false;
  t.after(async () => {
    if (!closed) await server.close();
  });
  const t1 = await server.mint({ sub: 'alice', rooms: { lobby: ['join'] } });
  const k1 = decodeProtectedHeader(t1.token).kid!;
  const before = await cli(['keys', 'list', '--data-dir', dataDir]);
  assert.equal(before.code, 0);
  const nextKid = before.stdout
    .split('\n')
    .find((l) => l.includes('\tnext\t'))!
    .split('\t')[0]!;
  assert.notEqual(nextKid, k1);
  await verifiesEverywhere(server, dataDir, t1.token);

  // 2. `callgate keys rotate` from another process on the same data directory.
  const rotated = await cli(['keys', 'rotate', '--data-dir', dataDir]);
  assert.equal(rotated.code, 0, rotated.stderr);
  assert.equal(rotated.stderr.split('\n')[0], `rotated: current key is now ${nextKid}`);
  await waitFor(
    'the server to pick up the rotation',
    () => server.app.services.keyring.signingKey().kid === nextKid,
  );
  const t2 = await server.mint({ sub: 'bob', rooms: { lobby: ['join'] } });
  const k2 = decodeProtectedHeader(t2.token).kid!;
  assert.equal(k2, nextKid, 'new tokens are signed by the promoted key');
  assert.ok((await jwksKids(server)).includes(k1), 'the retired key stays published');
  await verifiesEverywhere(server, dataDir, t1.token);
  await verifiesEverywhere(server, dataDir, t2.token);

  // 3. Restart on the same data directory (a new port: the fixed issuer keeps tokens valid).
  const oldPort = server.port;
  await server.close();
  closed = true;
  server = await startTestServer({ dataDir, config });
  closed = false;
  assert.equal(server.app.services.issuer, ISSUER);
  void oldPort;
  assert.equal(server.app.services.keyring.signingKey().kid, k2);
  await verifiesEverywhere(server, dataDir, t1.token);
  await verifiesEverywhere(server, dataDir, t2.token);

  // 4. `callgate keys revoke K1`: T1 stops verifying everywhere, T2 does not.
  const revoked = await cli(['keys', 'revoke', k1, '--data-dir', dataDir]);
  assert.equal(revoked.code, 0, revoked.stderr);
  await waitFor(
    'the server to drop the revoked key',
    async () => !(await jwksKids(server)).includes(k1),
  );
  await fails(server, dataDir, t1.token);
  await verifiesEverywhere(server, dataDir, t2.token);

  // 5. Revoking the current key: the server signs with the next one, old tokens die.
  const again = await cli(['keys', 'revoke', k2, '--data-dir', dataDir]);
  assert.equal(again.code, 0, again.stderr);
  await waitFor(
    'the server to switch signing keys',
    () => server.app.services.keyring.signingKey().kid !== k2,
  );
  await fails(server, dataDir, t2.token);
  const t3 = await server.mint({ sub: 'carol', rooms: {} });
  assert.notEqual(decodeProtectedHeader(t3.token).kid, k2);
  await verifiesEverywhere(server, dataDir, t3.token);
});

test('keys revoke of an unknown kid exits 1 and changes nothing', async (t) => {
  const server = await startTestServer();
  t.after(() => server.close());
  const kidsBefore = await jwksKids(server);
  const res = await cli(['keys', 'revoke', 'no-such-kid', '--data-dir', server.dataDir]);
  assert.equal(res.code, 1);
  assert.equal(res.stderr, 'no key with kid no-such-kid');
  assert.deepEqual(await jwksKids(server), kidsBefore);
});
