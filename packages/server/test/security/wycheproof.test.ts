/**
 * Project Wycheproof JWS and JWK vectors (shared/vectors/wycheproof, read at test time, never
 * copied) through the verification policy's own code:
 *
 * - The vectors' payloads are not Callgate claim sets ("foo", empty, zero bytes), so they run
 *   through the policy's signature/format layer, `verifyCompactJws` — the exact function
 *   `createTokenVerifier` runs first — with keys imported by `importVerificationKey(Set)`, the
 *   function the keyring loads every key through.
 * - Every `invalid` case must be rejected. Every `valid` case whose algorithm and key the policy
 *   allows (alg on the asymmetric allow-list, a usable key bound to that alg, a non-empty
 *   payload) must be accepted; the other `valid` cases are stricter-than-spec rejections and are
 *   counted, not failed.
 * - The full policy (`createTokenVerifier` over a keyring holding the vector's key) is run too:
 *   it must reject everything, and never reach the claim layer for an `invalid` case.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ASYMMETRIC_ALGORITHMS } from '../../src/config/schema.js';
import { verifyCompactJws } from '../../src/auth/verify-jws.js';
import {
  importVerificationKey,
  importVerificationKeySet,
  type VerificationKey,
} from '../../src/auth/verification-key.js';
import { TokenError } from '../../src/auth/token-error.js';
import { createMemoryStore } from '../../src/store/memory-store.js';
import { Keyring } from '../../src/auth/keyring.js';
import { RevocationList } from '../../src/auth/revocation-list.js';
import { createTokenVerifier } from '../../src/auth/verify-access-token.js';
import { manualClock } from '../support/test-server.js';

const VECTORS = new URL('../../../../../shared/vectors/wycheproof/', import.meta.url);

interface WpTest {
  tcId: number | string;
  comment: string;
  jws: string;
  result: 'valid' | 'invalid' | 'acceptable';
  flags?: string[];
}
interface WpGroup {
  comment?: string;
  public?: Record<string, unknown>;
  private?: Record<string, unknown>;
  tests: WpTest[];
}

function load(file: string): WpGroup[] {
  return (JSON.parse(readFileSync(new URL(file, VECTORS), 'utf8')) as { testGroups: WpGroup[] })
    .testGroups;
}

const ALLOWED = new Set<string>(ASYMMETRIC_ALGORITHMS);
const MAX_TOKEN_BYTES = 8192;

function headerAlg(jws: string): unknown {
  try {
    return (
      JSON.parse(Buffer.from(jws.split('.')[0]!, 'base64url').toString('utf8')) as {
        alg?: unknown;
      }
    ).alg;
  } catch {
    return undefined;
  }
}

/** Runs one vector through the signature layer; returns 'accepted' or the rejection detail. */
async function signatureLayer(jws: string, keys: Map<string, VerificationKey>): Promise<string> {
  try {
    await verifyCompactJws(jws, {
      allowedAlgorithms: ALLOWED,
      maxTokenBytes: MAX_TOKEN_BYTES,
      resolveKey: (kid) => keys.get(kid),
    });
    return 'accepted';
  } catch (err) {
    assert.ok(err instanceof TokenError, `only coded errors: ${String(err)}`);
    return `${err.code}: ${err.detail}`;
  }
}

/** True when the policy allows what the vector uses (see the file comment). */
function policyAllows(jws: string, keys: Map<string, VerificationKey>): boolean {
  const alg = headerAlg(jws);
  const parts = jws.split('.');
  const kid = (() => {
    try {
      return (JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as { kid?: unknown })
        .kid;
    } catch {
      return undefined;
    }
  })();
  const key = typeof kid === 'string' ? keys.get(kid) : undefined;
  return (
    typeof alg === 'string' &&
    ALLOWED.has(alg) &&
    key !== undefined &&
    key.alg === alg &&
    parts.length === 3 &&
    parts[1] !== ''
  );
}

interface Tally {
  invalid: number;
  invalidAccepted: string[];
  validAllowed: number;
  validAllowedRejected: string[];
  validStricter: number;
}

function tally(): Tally {
  return {
    invalid: 0,
    invalidAccepted: [],
    validAllowed: 0,
    validAllowedRejected: [],
    validStricter: 0,
  };
}

async function runGroup(t: Tally, tests: WpTest[], keys: Map<string, VerificationKey>) {
  for (const tc of tests) {
    const outcome = await signatureLayer(tc.jws, keys);
    const label = `tc${tc.tcId} ${tc.comment}`;
    if (tc.result === 'invalid') {
      t.invalid++;
      if (outcome === 'accepted') t.invalidAccepted.push(label);
    } else if (policyAllows(tc.jws, keys)) {
      t.validAllowed++;
      if (outcome !== 'accepted') t.validAllowedRejected.push(`${label} (${outcome})`);
    } else {
      t.validStricter++;
      assert.notEqual(outcome, 'accepted', `${label} is outside the policy yet accepted`);
    }
  }
}

describe('Wycheproof JWS vectors (json_web_signature_test.json)', () => {
  const groups = load('json_web_signature_test.json');

  test('signature layer: zero invalid accepted; every valid case the policy allows accepted', async (ctx) => {
    const t = tally();
    let total = 0;
    for (const g of groups) {
      const keys = new Map<string, VerificationKey>();
      if (g.public) {
        try {
          const k = importVerificationKey(g.public);
          keys.set(k.kid, k);
        } catch {
          // An unusable key (wrong use/key_ops, alg outside the policy): nothing verifies.
        }
      }
      total += g.tests.length;
      await runGroup(t, g.tests, keys);
    }
    assert.deepEqual(t.invalidAccepted, [], 'invalid vectors accepted');
    assert.deepEqual(t.validAllowedRejected, [], 'allowed valid vectors rejected');
    assert.equal(total, 401, 'every vector in the file was run');
    ctx.diagnostic(
      `JWS: ${t.invalid} invalid rejected, ${t.validAllowed} valid accepted, ${t.validStricter} valid outside the policy rejected`,
    );
    assert.ok(t.invalid >= 300, `${t.invalid} invalid vectors`);
    // kid-ec-sign, kid-rsa-sign, RS256_2048 (4 non-empty payloads), RFC 7520 figure 13 (x2), ES256 special case.
    assert.ok(t.validAllowed >= 8, `${t.validAllowed} allowed valid vectors`);
  });

  test('full policy: every vector is refused, and no invalid one gets past the signature layer', async () => {
    // Each group's key is stored as-is (even an unusable one: the keyring must drop it) and
    // loaded the way the server loads keys: from the store into the keyring.
    const clock = manualClock(Date.UTC(2026, 0, 1));
    let reachedClaims = 0;
    for (const g of groups) {
      const store = createMemoryStore();
      const jwk = g.public;
      if (jwk && typeof jwk.kid === 'string')
        await store.saveKeys({
          upsert: [
            {
              kid: jwk.kid,
              alg: typeof jwk.alg === 'string' ? jwk.alg : 'RS256',
              state: 'retired',
              privateJwk: {},
              publicJwk: jwk,
              createdAt: clock.now(),
              activatedAt: clock.now(),
              retiredAt: clock.now(),
              deleteAfter: null,
            },
          ],
          remove: [],
        });
      const keyring = await Keyring.open({
        store,
        clock,
        algorithm: 'ES256',
        accessTokenTtlSeconds: 300,
        clockToleranceSeconds: 5,
        keyRotationDays: 7,
      });
      const verify = createTokenVerifier({
        keyring,
        revocations: new RevocationList(store, clock),
        clock,
        issuer: 'https://callgate.example',
        audience: 'callgate',
        allowedAlgorithms: [...ASYMMETRIC_ALGORITHMS],
        accessTokenTtlSeconds: 300,
        clockToleranceSeconds: 5,
        maxTokenBytes: MAX_TOKEN_BYTES,
      });
      for (const tc of g.tests) {
        const err = await verify(tc.jws).then(
          () => assert.fail(`tc${tc.tcId} accepted as an access token`),
          (e: unknown) => e,
        );
        assert.ok(err instanceof TokenError, `tc${tc.tcId}: ${String(err)}`);
        // The claim layer's first step on a non-claim payload.
        const atClaims = err.detail === 'ERR_JWT_INVALID' || err.detail.startsWith('claim ');
        if (tc.result === 'invalid')
          assert.ok(!atClaims, `tc${tc.tcId} ${tc.comment} passed the signature layer`);
        if (atClaims) reachedClaims++;
      }
    }
    assert.ok(reachedClaims >= 8, `${reachedClaims} valid vectors reached the claim layer`);
  });
});

describe('Wycheproof JWK vectors (json_web_key_test.json)', () => {
  const groups = load('json_web_key_test.json');

  test('key sets: mixed private/public refused whole; duplicate kid, wrong use, weak RSA, ROCA, alg/crv/kty mismatch unusable', async (ctx) => {
    const t = tally();
    const reasons: string[] = [];
    for (const g of groups) {
      let keys = new Map<string, VerificationKey>();
      try {
        const set = importVerificationKeySet(g.public ?? g.private);
        keys = set.keys;
        reasons.push(...set.rejected.map((r) => r.reason));
      } catch (err) {
        reasons.push((err as Error).message);
      }
      await runGroup(t, g.tests, keys);
    }
    assert.deepEqual(t.invalidAccepted, [], 'invalid vectors accepted');
    assert.deepEqual(t.validAllowedRejected, [], 'allowed valid vectors rejected');
    assert.ok(t.validAllowed >= 1 && t.invalid >= 20, JSON.stringify(t));
    ctx.diagnostic(
      `JWK: ${t.invalid} invalid rejected, ${t.validAllowed} valid accepted, ${t.validStricter} valid outside the policy rejected`,
    );
    for (const expected of [
      'the set carries private or symmetric key material',
      'use is not "sig"',
      'modulus has the ROCA fingerprint (CVE-2017-15361)',
      'modulus under 2048 bits',
      'public exponent out of range',
      'algorithm not supported',
      'invalid key material',
      'crv does not match ES256',
      'kty does not match ES256',
    ])
      assert.ok(
        reasons.some((r) => r.includes(expected)),
        `some key was refused for: ${expected}`,
      );
  });

  test('a duplicate kid in a public set makes both entries unusable', () => {
    const rs = groups.find((g) => g.comment === 'rs256' && g.tests[0]!.result === 'valid')!;
    const key = (rs.public!.keys as Record<string, unknown>[])[0]!;
    const { keys, rejected } = importVerificationKeySet({ keys: [key, { ...key }] });
    assert.equal(keys.size, 0);
    assert.deepEqual(
      rejected.map((r) => r.reason),
      ['duplicate kid', 'duplicate kid'],
    );
  });
});
