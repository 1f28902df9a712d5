/**
 * Issue 2, acceptance 6: nothing the server logs contains a token, an API key secret, a TURN
 * secret or credential, or private key material. This file runs a realistic flow in its own
 * process (node's runner gives every test file one), then greps every line every test server
 * of this process wrote (`capturedLogs`). A leak is reported by what leaked, never by its value.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { WebSocket } from 'ws';
import { capturedLogs, startTestServer, type TestServer } from '../support/test-server.js';
import { cli, waitFor } from '../support/cli-io.js';
import { b64url, withPayload } from '../support/jws.js';
import { generateApiKey } from '../../src/auth/api-keys.js';

const TURN_SECRET = 'turn-secret-for-the-log-test-' + 'Q7x'.repeat(12);

interface Needle {
  what: string;
  value: string;
}

async function send(
  server: TestServer,
  path: string,
  init: { method?: string; authorization?: string; raw?: string; contentType?: string } = {},
): Promise<{ status: number; text: string }> {
  const headers: Record<string, string> = {};
  if (init.authorization !== undefined) headers.authorization = init.authorization;
  if (init.raw !== undefined) headers['content-type'] = init.contentType ?? 'application/json';
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? (init.raw === undefined ? 'GET' : 'POST'),
    headers,
    body: init.raw,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, text: await res.text() };
}

/** Opens a signaling socket and waits (bounded) for it to close or deliver a first frame. */
function signal(
  url: string,
  protocols: string[],
): Promise<{ opened: boolean; closeCode?: number; first?: string }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, protocols, { handshakeTimeout: 5000 });
    let opened = false;
    const timer = setTimeout(() => {
      ws.terminate();
      resolve({ opened });
    }, 5000);
    ws.on('open', () => (opened = true));
    ws.on('message', (data: Buffer) => {
      clearTimeout(timer);
      ws.close(1000);
      resolve({ opened, first: data.toString() });
    });
    ws.on('close', (code) => {
      clearTimeout(timer);
      resolve({ opened, closeCode: code });
    });
    ws.on('error', () => {
      clearTimeout(timer);
      resolve({ opened });
    });
  });
}

/** A raw request the HTTP parser rejects (clientError): it must not be logged with its URL. */
function malformedRequest(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.on('data', (c: Buffer) => (answer += c.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('close', () => resolve(answer));
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\nThis is not a header\r\n\r\n`);
  });
}

test('a realistic flow leaves no token, API key secret, TURN secret or private key in any log line', async (t) => {
  const server = await startTestServer({ config: { 'turn.secrets': [TURN_SECRET] } });
  let closed = false;
  t.after(async () => {
    if (!closed) await server.close();
  });
  const needles: Needle[] = [];
  const addToken = (what: string, token: string) => {
    const [, payload, signature] = token.split('.') as [string, string, string];
    needles.push({ what, value: token }, { what: `${what} (payload)`, value: payload });
    if (signature.length > 0) needles.push({ what: `${what} (signature)`, value: signature });
  };
  const addApiKey = (what: string, key: string) => {
    needles.push(
      { what, value: key },
      { what: `${what} (secret part)`, value: key.slice('cgk_'.length + 16 + 1) },
    );
  };
  const addPrivateKeys = async () => {
    for (const k of await server.app.services.store.listKeys())
      for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const) {
        const v = k.privateJwk[m];
        if (typeof v === 'string')
          needles.push({ what: `private JWK member ${m} of ${k.kid}`, value: v });
      }
  };
  addApiKey('API key', server.apiKey);
  needles.push({ what: 'TURN secret', value: TURN_SECRET });
  await addPrivateKeys();
  const bearer = (v: string) => `Bearer ${v}`;

  // Mint: good, and several kinds of bad.
  const rooms = { lobby: ['join', 'publish', 'send', 'presence'] };
  const a = await server.mint({ sub: 'alice', rooms });
  const b = await server.mint({ sub: 'bob', rooms, ttlSeconds: 30 });
  addToken('token A', a.token);
  addToken('token B', b.token);
  const tampered = withPayload(a.token, {
    ...JSON.parse(Buffer.from(a.token.split('.')[1]!, 'base64url').toString()),
    sub: 'mallory',
  });
  addToken('tampered token', tampered);
  const unsigned = `${a.token.split('.')[0]}.${b64url({ sub: 'x', secret: 'none' })}.`;

  const [, keyId] = /^cgk_([0-9a-f]{16})_/.exec(server.apiKey)!;
  const wrongSecret = `cgk_${keyId}_${'W'.repeat(43)}`;
  addApiKey('wrong-secret API key', wrongSecret);
  const revoked = generateApiKey(server.tenant, Date.now());
  await server.app.services.store.createApiKey(revoked.record);
  addApiKey('revoked API key', revoked.plaintext);
  assert.equal(
    (
      await send(server, '/v1/tokens', {
        authorization: bearer(revoked.plaintext),
        raw: JSON.stringify({ sub: 'a', rooms }),
      })
    ).status,
    201,
  );
  await server.app.services.store.revokeApiKey(server.tenant, revoked.record.id, Date.now());

  const mintBody = JSON.stringify({ sub: 'carol', rooms });
  const statuses: Record<string, number> = {};
  const record = async (name: string, p: Promise<{ status: number }>) => {
    statuses[name] = (await p).status;
  };
  await record(
    'mint with revoked key',
    send(server, '/v1/tokens', { authorization: bearer(revoked.plaintext), raw: mintBody }),
  );
  await record(
    'mint with wrong secret',
    send(server, '/v1/tokens', { authorization: bearer(wrongSecret), raw: mintBody }),
  );
  await record(
    'mint with a token as key',
    send(server, '/v1/tokens', { authorization: bearer(a.token), raw: mintBody }),
  );
  await record(
    'mint, key in a lower-case header',
    send(server, '/v1/tokens', { authorization: `bearer ${server.apiKey}`, raw: mintBody }),
  );
  await record(
    'token as sub',
    send(server, '/v1/tokens', {
      authorization: bearer(server.apiKey),
      raw: JSON.stringify({ sub: a.token, rooms }),
    }),
  );
  await record(
    'token in metadata',
    send(server, '/v1/tokens', {
      authorization: bearer(server.apiKey),
      raw: JSON.stringify({ sub: 'dave', rooms, metadata: { t: a.token } }),
    }),
  );
  await record(
    'invalid JSON with the key inside',
    send(server, '/v1/tokens', {
      authorization: bearer(server.apiKey),
      raw: `{"sub": "${server.apiKey}", `,
    }),
  );
  await record(
    '415 with the key in the body',
    send(server, '/v1/tokens', {
      authorization: bearer(server.apiKey),
      raw: server.apiKey,
      contentType: 'text/plain',
    }),
  );
  await record(
    '413 with the token inside',
    send(server, '/v1/tokens', {
      authorization: bearer(server.apiKey),
      raw: JSON.stringify({ sub: 'x', rooms, metadata: { t: a.token.repeat(200) } }),
    }),
  );

  // Tokens and keys in query strings, on unknown and known routes.
  const q = `token=${a.token}&access_token=${b.token}&apiKey=${server.apiKey}&k=${TURN_SECRET}`;
  await record('unknown route with ?token=', send(server, `/nope?${q}`));
  await record('unknown route, token as a bare query', send(server, `/v1/nothing?${a.token}`));
  await record('signal path over plain HTTP', send(server, `/v1/signal?token=${a.token}`));
  await record(
    'healthz with query and bearer',
    send(server, `/healthz?token=${a.token}`, { authorization: bearer(a.token) }),
  );
  await record(
    'JWKS with an API key',
    send(server, '/.well-known/jwks.json', { authorization: bearer(server.apiKey) }),
  );
  await record(
    'rooms with a token instead of a key',
    send(server, '/v1/rooms', { authorization: bearer(a.token) }),
  );
  await record(
    'rooms with the key',
    send(server, `/v1/rooms?apiKey=${server.apiKey}`, { authorization: bearer(server.apiKey) }),
  );
  await record(
    'bad percent-encoding',
    send(server, `/v1/sessions/%E0%A4%A/revoke?token=${a.token}`, {
      method: 'POST',
      authorization: bearer(server.apiKey),
    }),
  );
  await record(
    'method not allowed',
    send(server, `/v1/tokens?token=${a.token}`, { method: 'PUT', authorization: bearer(a.token) }),
  );

  // Access-token routes (TURN credentials): valid, tampered, unsigned, missing.
  for (const [name, path, method] of [
    ['turn credentials', '/v1/turn/credentials', 'POST'],
    ['turn credentials (GET alias)', `/api/turn-credentials?token=${a.token}`, 'GET'],
  ] as const) {
    const ok = await send(server, path, { method, authorization: bearer(a.token) });
    statuses[`${name}: valid`] = ok.status;
    if (ok.status === 200) {
      const creds = JSON.parse(ok.text) as { credential?: string; username?: string };
      if (creds.credential) needles.push({ what: 'TURN credential', value: creds.credential });
    }
    await record(
      `${name}: tampered`,
      send(server, path, { method, authorization: bearer(tampered) }),
    );
    await record(
      `${name}: unsigned`,
      send(server, path, { method, authorization: bearer(unsigned) }),
    );
    await record(
      `${name}: API key`,
      send(server, path, { method, authorization: bearer(server.apiKey) }),
    );
  }

  // Signaling: subprotocol bearer, ?token=, a bad token, both at once.
  const ws = `ws://127.0.0.1:${server.port}/v1/signal`;
  const viaProtocol = await signal(ws, ['callgate.v1', `bearer.${a.token}`]);
  const viaQuery = await signal(`${ws}?token=${b.token}`, ['callgate.v1']);
  const badToken = await signal(`${ws}?token=${tampered}`, ['callgate.v1']);
  await signal(`${ws}?token=${a.token}`, ['callgate.v1', `bearer.${b.token}`]);
  await signal(`ws://127.0.0.1:${server.port}/elsewhere?token=${a.token}`, [
    'callgate.v1',
    `bearer.${a.token}`,
  ]);

  // A request line the HTTP parser refuses, with a token in it.
  await malformedRequest(server.port, `/x?token=${a.token}`);

  // Revocations: a session through the API, then the same token on a socket and on TURN.
  await record(
    'revoke session',
    send(server, `/v1/sessions/${a.sessionId}/revoke`, {
      method: 'POST',
      authorization: bearer(server.apiKey),
    }),
  );
  await signal(ws, ['callgate.v1', `bearer.${a.token}`]);
  await record(
    'turn credentials: revoked session',
    send(server, '/v1/turn/credentials', { method: 'POST', authorization: bearer(a.token) }),
  );

  // Key rotation and revocation through the CLI on the same data directory.
  const rotated = await cli(['keys', 'rotate', '--data-dir', server.dataDir]);
  assert.equal(rotated.code, 0, rotated.stderr);
  await addPrivateKeys();
  await waitFor('the server to reload its keyring', async () => {
    const kids = new Set(server.app.services.keyring.list().map((k) => k.kid));
    return (await server.app.services.store.listKeys()).every((k) => kids.has(k.kid));
  });
  const c = await server.mint({ sub: 'erin', rooms });
  addToken('token C', c.token);
  const bKid = JSON.parse(Buffer.from(b.token.split('.')[0]!, 'base64url').toString()) as {
    kid: string;
  };
  assert.equal((await cli(['keys', 'revoke', bKid.kid, '--data-dir', server.dataDir])).code, 0);
  await waitFor(
    'the server to drop the revoked key',
    () => server.app.services.keyring.verificationKey(bKid.kid) === undefined,
  );
  await record(
    'turn credentials: revoked key',
    send(server, '/v1/turn/credentials', { method: 'POST', authorization: bearer(b.token) }),
  );
  await signal(ws, ['callgate.v1', `bearer.${b.token}`]);

  await server.close();
  closed = true;

  // The flow really exercised the server (otherwise an empty log would pass).
  assert.equal(statuses['mint with revoked key'], 401);
  assert.equal(statuses['mint with wrong secret'], 401);
  assert.equal(statuses['token as sub'], 400);
  assert.equal(statuses['token in metadata'], 201);
  assert.equal(statuses['413 with the token inside'], 413);
  assert.equal(statuses['unknown route with ?token='], 404);
  assert.equal(statuses['revoke session'], 200);
  assert.equal(
    viaProtocol.opened || viaQuery.opened || badToken.opened,
    true,
    'signaling answered',
  );
  const lines = capturedLogs;
  assert.ok(lines.length >= 40, `only ${lines.length} log lines`);
  const leaks: string[] = [];
  for (const n of needles)
    lines.forEach((line, i) => {
      if (line.includes(n.value))
        leaks.push(
          `${n.what} in log line ${i} (event ${/"event":"([^"]*)"/.exec(line)?.[1] ?? '?'})`,
        );
    });
  assert.deepEqual(leaks, []);
  assert.ok(
    lines.some((l) =>
      l.includes(
        '"path":"/nope?token=[redacted]&access_token=[redacted]&apiKey=[redacted]&k=[redacted]"',
      ),
    ),
    'query strings are logged redacted',
  );
  assert.ok(
    lines.some((l) => /"level":40/.test(l) && l.includes('"code":"unauthorized"')),
    'auth failures are logged at warn',
  );
  assert.ok(needles.length >= 30, `${needles.length} needles`);
  for (const n of needles)
    assert.ok(n.value.length >= 20, `${n.what} is too short to be a meaningful needle`);
});
