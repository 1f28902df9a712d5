import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load-config.js';
import { ConfigError, type ConfigIssue } from '../../../src/config/config.js';

const AUTH0 = {
  issuer: 'https://example.eu.auth0.com/',
  jwksUri: 'https://example.eu.auth0.com/.well-known/jwks.json',
  audience: 'https://callgate.example.com',
  tenant: { value: 'acme' },
};

function load(items: unknown, extra: Record<string, unknown> = {}) {
  return loadConfig({ env: {}, overrides: { 'auth.trustedIssuers': items, ...extra } });
}

function issuesOf(fn: () => unknown): ConfigIssue[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail('expected a ConfigError');
}

describe('auth.trustedIssuers', () => {
  test('defaults to none; an entry gets the documented defaults, frozen', () => {
    assert.deepEqual(loadConfig({ env: {} }).auth.trustedIssuers, []);
    const [t] = load([AUTH0]).auth.trustedIssuers;
    assert.deepEqual(t, {
      ...AUTH0,
      tenant: { from: 'value', value: 'acme' },
      algorithms: ['RS256'],
      typ: undefined,
      rooms: { from: 'none' },
      metadata: [],
      sessionIdClaim: ['sid'],
      kind: 'user',
      maxTokenAgeSeconds: 3600,
      allowInsecureLoopback: false,
      jwksTimeoutMs: 5000,
      jwksCooldownMs: 30_000,
      jwksCacheMaxAgeSeconds: 600,
      jwksMaxBytes: 262_144,
    });
    assert.ok(Object.isFrozen(t) && Object.isFrozen(t!.tenant));
  });

  test('the issuer is kept exactly (no trailing-slash normalization)', () => {
    assert.equal(load([AUTH0]).auth.trustedIssuers[0]!.issuer, 'https://example.eu.auth0.com/');
  });

  test('the mapping forms parse into their kinds', () => {
    const [a, b, c] = load([
      { ...AUTH0, rooms: { grant: { lobby: ['join', 'presence'] } }, metadata: ['name'] },
      {
        ...AUTH0,
        issuer: 'b',
        tenant: { claim: 'org_id', prefix: 'auth0-' },
        rooms: { claim: 'https://callgate.example.com/rooms' },
        sessionId: { claim: ['ext', 'sid'] },
      },
      {
        ...AUTH0,
        issuer: 'c',
        tenant: { claim: ['org', 'name'] },
        rooms: { claim: 'groups', permissions: ['join'], prefix: 'cg-' },
        metadata: [{ claim: ['profile', 'nick'], as: 'nick' }],
        algorithms: ['ES256', 'EdDSA'],
        typ: 'at+jwt',
        kind: 'agent',
      },
    ]).auth.trustedIssuers;
    assert.deepEqual(a!.rooms, { from: 'grant', grant: { lobby: ['join', 'presence'] } });
    assert.deepEqual(a!.metadata, [{ claim: ['name'], as: 'name' }]);
    assert.deepEqual(b!.tenant, { from: 'claim', claim: ['org_id'], prefix: 'auth0-' });
    assert.deepEqual(b!.rooms, {
      from: 'claim-map',
      claim: ['https://callgate.example.com/rooms'],
    });
    assert.deepEqual(b!.sessionIdClaim, ['ext', 'sid']);
    assert.deepEqual(c!.tenant, { from: 'claim', claim: ['org', 'name'], prefix: '' });
    assert.deepEqual(c!.rooms, {
      from: 'claim-list',
      claim: ['groups'],
      permissions: ['join'],
      prefix: 'cg-',
    });
    assert.deepEqual(c!.algorithms, ['ES256', 'EdDSA']);
    assert.equal(c!.kind, 'agent');
  });

  test('every problem is reported with its path', () => {
    const issues = issuesOf(() =>
      load([
        {
          issuer: '',
          audience: 7,
          algorithms: ['HS256', 'none', 'RS256'],
          tenant: { value: 'Acme' },
          rooms: { grant: { 'bad room': ['join'], ok: ['admin'] } },
          metadata: [{ claim: ['a', 'b'] }, 'x', 'x'],
          maxTokenAgeSeconds: 10,
          jwksMaxBytes: 100 * 1024 * 1024,
          audiance: 'typo',
        },
        'not a mapping',
        { ...AUTH0, tenant: { value: 'a', claim: 'b' }, rooms: { claim: 'g', prefix: 'x' } },
        { ...AUTH0, issuer: 'x', tenant: { claim: 'org', prefix: '../' }, sessionId: 'sid' },
      ]),
    );
    const at = (p: string) => issues.filter((i) => i.path === p).map((i) => i.message);
    assert.match(at('auth.trustedIssuers[0].issuer')[0]!, /non-empty string/);
    assert.match(at('auth.trustedIssuers[0].jwksUri')[0]!, /required/);
    assert.match(at('auth.trustedIssuers[0].audience')[0]!, /non-empty string/);
    assert.match(at('auth.trustedIssuers[0].algorithms[0]')[0]!, /asymmetric only/);
    assert.match(at('auth.trustedIssuers[0].algorithms[1]')[0]!, /asymmetric only/);
    assert.match(at('auth.trustedIssuers[0].tenant.value')[0]!, /tenant name/);
    assert.match(at('auth.trustedIssuers[0].rooms.grant.bad room')[0]!, /room names/);
    assert.match(at('auth.trustedIssuers[0].rooms.grant.ok[0]')[0]!, /one of join/);
    assert.match(at('auth.trustedIssuers[0].metadata[0].as')[0]!, /nested claim/);
    assert.match(at('auth.trustedIssuers[0].metadata')[0]!, /mapped twice/);
    assert.match(at('auth.trustedIssuers[0].maxTokenAgeSeconds')[0]!, /from 30 to 86400/);
    assert.match(at('auth.trustedIssuers[0].jwksMaxBytes')[0]!, /from 1024/);
    assert.match(at('auth.trustedIssuers[0].audiance')[0]!, /unknown field/);
    assert.match(at('auth.trustedIssuers[1]')[0]!, /mapping/);
    assert.match(at('auth.trustedIssuers[2].tenant')[0]!, /value: TENANT/);
    assert.match(at('auth.trustedIssuers[2].rooms')[0]!, /grant/);
    assert.match(at('auth.trustedIssuers[3].tenant.prefix')[0]!, /a-z/);
    assert.match(at('auth.trustedIssuers[3].sessionId')[0]!, /claim: NAME/);
  });

  test('one entry per issuer, and never Callgate’s own issuer', () => {
    const issues = issuesOf(() =>
      load([AUTH0, { ...AUTH0 }, { ...AUTH0, issuer: 'https://callgate.example.com' }], {
        'auth.issuer': 'https://callgate.example.com',
      }),
    );
    assert.deepEqual(
      issues.map((i) => i.path),
      ['auth.trustedIssuers[1].issuer', 'auth.trustedIssuers[2].issuer'],
    );
  });

  test('not a list; and from the environment as JSON', () => {
    assert.match(issuesOf(() => load({ issuer: 'x' }))[0]!.message, /must be a list/);
    const env = { CALLGATE_AUTH_TRUSTED_ISSUERS: JSON.stringify([AUTH0]) };
    assert.equal(loadConfig({ env }).auth.trustedIssuers[0]!.audience, AUTH0.audience);
    const bad = issuesOf(() => loadConfig({ env: { CALLGATE_AUTH_TRUSTED_ISSUERS: 'nope' } }));
    assert.deepEqual(
      bad.map((i) => i.path),
      ['auth.trustedIssuers'],
    );
  });

  test('from a YAML file, as documented in docs/external-issuers.md', (t) => {
    const dir = mkdtempSync(join(tmpdir(), 'callgate-issuers-'));
    t.after(() => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(
      join(dir, 'callgate.yaml'),
      [
        'auth:',
        '  trustedIssuers:',
        '    - issuer: https://example.eu.auth0.com/',
        '      jwksUri: https://example.eu.auth0.com/.well-known/jwks.json',
        '      audience: https://callgate.example.com',
        '      typ: at+jwt',
        '      tenant: { value: acme }',
        '      rooms: { claim: https://callgate.example.com/rooms }',
        '      metadata: [name, { claim: https://callgate.example.com/team, as: team }]',
        '',
      ].join('\n'),
    );
    const [t0] = loadConfig({ env: {}, cwd: dir }).auth.trustedIssuers;
    assert.equal(t0!.typ, 'at+jwt');
    assert.deepEqual(t0!.metadata[1], { claim: ['https://callgate.example.com/team'], as: 'team' });
  });
});
