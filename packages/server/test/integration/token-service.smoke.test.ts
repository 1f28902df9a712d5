import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import { startTestServer } from '../support/test-server.js';

test('a minted token verifies with plain jose against the JWKS URL', async (t) => {
  const server = await startTestServer();
  t.after(() => server.close());
  const { token } = await server.mint({ sub: 'alice', rooms: { r1: ['join'] } });
  const jwks = createRemoteJWKSet(new URL(`${server.url}/.well-known/jwks.json`));
  const { payload, protectedHeader } = await jwtVerify(token, jwks, {
    audience: 'callgate',
    issuer: server.app.services.issuer,
  });
  assert.equal(protectedHeader.typ, 'at+jwt');
  assert.equal(payload.exp! - payload.iat!, 300);
});
