/**
 * Issue 8: access tokens from an external OpenID provider (a real `oidc-provider` on
 * 127.0.0.1) open signaling connections, join mapped rooms, refresh in-band and get TURN
 * credentials, alongside Callgate's own tokens. The attacks are in
 * test/security/external-issuers.security.test.ts.
 */
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestServer, type TestServer } from '../support/test-server.js';
import { connectClient, TestClient } from '../support/ws-client.js';
import {
  startOidcProvider,
  untilKeysFetched,
  CLIENT_ID,
  type TestOidcProvider,
} from '../support/oidc-provider.js';
import { startJwksServer, type JwksServer } from '../support/jwks-server.js';
import { decodeSegment } from '../support/jws.js';
import { cli } from '../support/cli-io.js';

const RESOURCE = 'https://callgate.test';
const ROOMS_CLAIM = 'https://callgate.test/rooms';
const ALL = ['join', 'publish', 'send', 'presence'];

describe('tokens from an external OpenID provider', () => {
  let provider: TestOidcProvider;
  let jwks: JwksServer;
  let server: TestServer;

  before(async () => {
    provider = await startOidcProvider({
      resource: RESOURCE,
      claims: (sub) => ({
        [ROOMS_CLAIM]: { lobby: ALL, [`home-${sub}`]: ['join'] },
        name: `User ${sub}`,
        email: `${sub}@example.com`,
      }),
    });
    jwks = await startJwksServer();
    server = await startTestServer({
      config: {
        // A loaded CI machine must not shed these handshakes (they test tokens, not load).
        'signal.maxEventLoopLagMs': 0,
        'auth.trustedIssuers': [
          {
            issuer: provider.issuer,
            jwksUri: provider.jwksUri,
            audience: RESOURCE,
            typ: 'at+jwt',
            tenant: { value: 'acme' },
            rooms: { claim: ROOMS_CLAIM },
            metadata: ['name'],
            allowInsecureLoopback: true,
            jwksCooldownMs: 200,
          },
          {
            // A second issuer whose tenant comes from a claim, behind a prefix.
            issuer: jwks.issuer,
            jwksUri: jwks.jwksUri,
            audience: RESOURCE,
            tenant: { claim: 'org', prefix: 'ext-' },
            rooms: { claim: 'groups', permissions: ['join', 'presence'] },
            maxTokenAgeSeconds: 600,
            allowInsecureLoopback: true,
            jwksCooldownMs: 100,
          },
        ],
      },
    });
    await server.app.services.store.createTenant('ext-globex', Date.now());
    await untilKeysFetched(server, await provider.clientCredentialsToken());
  });
  after(async () => {
    await server.close();
    await provider.close();
    await jwks.close();
  });

  const turn = (token: string) =>
    fetch(`${server.url}/v1/turn/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });

  test('a client_credentials token opens signaling, joins a mapped room and gets TURN credentials', async () => {
    const token = await provider.clientCredentialsToken();
    assert.equal(decodeSegment(token, 0).typ, 'at+jwt');
    const { client, welcome } = await connectClient(server.wsUrl, token);
    try {
      assert.equal(welcome.tenant, 'acme');
      assert.match(welcome.sessionId, /^[A-Za-z0-9_-]{16,64}$/);
      const ack = await client.request({ type: 'join', room: 'lobby' });
      assert.equal(ack.type, 'ack');
      const own = await client.request({ type: 'join', room: `home-${CLIENT_ID}` });
      assert.equal(own.type, 'ack');
      const other = await client.request({ type: 'join', room: 'home-someone-else' });
      assert.equal(other.type, 'error');
      assert.equal((other as { code: string }).code, 'forbidden');
    } finally {
      client.close();
    }
    const res = await turn(token);
    assert.equal(res.status, 200);
    const creds = (await res.json()) as { username: string };
    assert.equal(creds.username.split(':')[1], welcome.sessionId);
  });

  test('users signed in at the provider meet in a room, with mapped metadata', async () => {
    const alice = await provider.login('alice');
    const bob = await provider.login('bob');
    assert.equal(decodeSegment(alice.accessToken, 1).sub, 'alice');
    const a = await connectClient(server.wsUrl, alice.accessToken);
    const b = await connectClient(server.wsUrl, bob.accessToken);
    try {
      await a.client.request({ type: 'join', room: 'lobby' });
      const joined = await b.client.request({ type: 'join', room: 'lobby' });
      assert.equal(joined.type, 'ack');
      const presence = await a.client.next('presence', (m) => m.joined.length > 0);
      assert.deepEqual(presence.joined, [
        { peerId: b.welcome.peerId, userId: 'bob', metadata: { name: 'User bob' } },
      ]);
      a.client.send({ type: 'send', to: b.welcome.peerId, data: { hello: 'bob' } });
      const msg = await b.client.next('message');
      assert.equal(msg.from, a.welcome.peerId);
      assert.deepEqual(msg.data, { hello: 'bob' });
      // Only the mapped claims reach other peers: not the email the token also carries.
      assert.deepEqual(msg.fromMetadata, { name: 'User alice' });
    } finally {
      a.client.close();
      b.client.close();
    }
  });

  test('a new provider token refreshes the connection in-band (same sub, same derived session)', async () => {
    const first = await provider.clientCredentialsToken();
    const { client, welcome } = await connectClient(server.wsUrl, first);
    try {
      await new Promise((r) => setTimeout(r, 1100)); // a later iat
      const second = await provider.clientCredentialsToken();
      assert.notEqual(decodeSegment(second, 1).jti, decodeSegment(first, 1).jti);
      const ack = await client.request({ type: 'refresh', token: second });
      assert.equal(ack.type, 'ack');
      assert.equal(
        (ack as { expiresAt: number }).expiresAt,
        (decodeSegment(second, 1).exp as number) * 1000,
      );
      const again = await client.request({ type: 'join', room: 'lobby' });
      assert.equal(again.type, 'ack');
      void welcome;
    } finally {
      client.close();
    }
  });

  test("revoking the mapped session closes the socket and refuses the issuer's next token", async () => {
    const carol = await provider.login('carol');
    const { client, welcome } = await connectClient(server.wsUrl, carol.accessToken);
    const res = await fetch(`${server.url}/v1/sessions/${welcome.sessionId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${server.apiKey}` },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(await client.closed, { code: 4403, reason: 'token_revoked' });
    const replay = await turn(carol.accessToken);
    assert.equal(replay.status, 401);
    assert.equal(
      ((await replay.json()) as { error: { code: string } }).error.code,
      'token_revoked',
    );
    // This provider's access tokens carry no `sid` or `auth_time`, so the session is derived from
    // iss + sub: carol's next login maps to the same, revoked session (docs/external-issuers.md).
    const again = await provider.login('carol');
    assert.equal(decodeSegment(again.accessToken, 1).sid, undefined);
    const next = await turn(again.accessToken);
    assert.equal(((await next.json()) as { error: { code: string } }).error.code, 'token_revoked');
    // Another user's session is unaffected.
    assert.equal((await turn(await provider.clientCredentialsToken())).status, 200);
  });

  test("Callgate's own tokens keep working next to the external issuers", async () => {
    const { token } = await server.mint({ sub: 'local-user', rooms: { lobby: ['join'] } });
    const { client, welcome } = await connectClient(server.wsUrl, token);
    assert.equal(welcome.tenant, 'acme');
    assert.equal((await client.request({ type: 'join', room: 'lobby' })).type, 'ack');
    client.close();
  });

  test('a tenant taken from a claim must exist; the prefix keeps the issuer inside its own tenants', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = {
      iss: jwks.issuer,
      aud: RESOURCE,
      sub: 'robot-1',
      iat: now,
      exp: now + 300,
      groups: ['ops', 'bad room name', 'lobby'],
    };
    const { client, welcome } = await connectClient(
      server.wsUrl,
      jwks.sign({ ...claims, org: 'globex' }),
    );
    try {
      assert.equal(welcome.tenant, 'ext-globex');
      assert.equal((await client.request({ type: 'join', room: 'ops' })).type, 'ack');
      assert.equal((await client.request({ type: 'join', room: 'lobby' })).type, 'ack');
    } finally {
      client.close();
    }
    // `acme` exists, but this issuer can only reach `ext-*` tenants; `ext-acme` does not exist.
    for (const org of ['acme', '../acme', 'ACME']) {
      const c = new TestClient(server.wsUrl, jwks.sign({ ...claims, org }));
      assert.deepEqual(await c.closed, { code: 4401, reason: 'token_invalid' });
    }
    const logs = server.logs.join('');
    assert.match(logs, /mapped tenant does not exist/);
  });

  test('callgate verify uses the same policy: the trusted issuers in the config and the tenants in the store', async (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-verify-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'callgate.yaml');
    writeFileSync(
      file,
      JSON.stringify({
        dataDir: join(dir, 'data'),
        auth: {
          trustedIssuers: [
            {
              issuer: jwks.issuer,
              jwksUri: jwks.jwksUri,
              audience: RESOURCE,
              tenant: { claim: 'org', prefix: 'ext-' },
              allowInsecureLoopback: true,
            },
          ],
        },
      }),
    );
    const now = Math.floor(Date.now() / 1000);
    const token = jwks.sign({
      iss: jwks.issuer,
      aud: RESOURCE,
      sub: 'cli-bot',
      iat: now,
      exp: now + 300,
      org: 'globex',
    });
    const before = await cli(['verify', token, '--config', file]);
    assert.deepEqual(
      [before.code, before.stderr],
      [1, 'invalid: token_invalid (mapped tenant does not exist)'],
    );
    assert.equal((await cli(['tenant', 'create', 'ext-globex', '--config', file])).code, 0);
    const after = await cli(['verify', token, '--config', file]);
    assert.equal(after.code, 0, after.stderr);
    const out = JSON.parse(after.stdout) as { claims: { iss: string; tid: string; sub: string } };
    assert.deepEqual(
      [out.claims.iss, out.claims.tid, out.claims.sub],
      [jwks.issuer, 'ext-globex', 'cli-bot'],
    );
  });
});
