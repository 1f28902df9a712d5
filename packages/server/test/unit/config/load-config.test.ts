import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../../src/config/load-config.js';
import { ConfigError, type ConfigIssue } from '../../../src/config/config.js';
import { CONFIG_KEYS, envName } from '../../../src/config/schema.js';

/** A fresh empty directory as cwd, so no stray callgate.yaml is picked up. */
function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'callgate-config-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
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

function paths(issues: ConfigIssue[]): string[] {
  return issues.map((i) => i.path).sort();
}

const SECRET_A = 'a'.repeat(40);
const SECRET_B = 'b'.repeat(40);

describe('defaults', () => {
  test('an empty environment and no file give the documented defaults, frozen', (t) => {
    const cwd = tempDir(t);
    const config = loadConfig({ env: {}, cwd });
    assert.equal(config.dataDir, './.callgate');
    assert.equal(config.dev, false);
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.server.port, 8080);
    assert.equal(config.server.publicUrl, undefined);
    assert.equal(config.auth.issuer, undefined);
    assert.equal(config.auth.audience, 'callgate');
    assert.equal(config.auth.algorithm, 'RS256');
    assert.deepEqual(config.auth.allowedAlgorithms, ['RS256', 'ES256', 'EdDSA']);
    assert.equal(config.auth.accessTokenTtlSeconds, 300);
    assert.equal(config.auth.clockToleranceSeconds, 5);
    assert.equal(config.auth.keyRotationDays, 7);
    assert.equal(config.signal.maxMessageBytes, 65_536);
    assert.deepEqual(config.turn.secrets, []);
    assert.equal(config.turn.ttlSeconds, 3600);
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.auth));
    assert.ok(Object.isFrozen(config.auth.allowedAlgorithms));
    assert.throws(() => {
      (config.server as { port: number }).port = 1;
    }, TypeError);
  });

  test('every key of the schema is present in the result with its default', (t) => {
    const config = loadConfig({ env: {}, cwd: tempDir(t) }) as unknown as Record<string, unknown>;
    for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
      const value = key
        .split('.')
        .reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], config);
      assert.deepEqual(value, spec.default, key);
    }
  });
});

describe('precedence: defaults < yaml < env < overrides', () => {
  test('each layer wins over the one below it, key by key', (t) => {
    const cwd = tempDir(t);
    writeFileSync(
      join(cwd, 'callgate.yaml'),
      [
        'server:',
        '  port: 9000',
        '  host: 127.0.0.1',
        'log:',
        '  level: debug',
        'auth:',
        '  audience: from-yaml',
        '  accessTokenTtlSeconds: 120',
        '',
      ].join('\n'),
    );
    const env = {
      CALLGATE_SERVER_PORT: '9100',
      CALLGATE_AUTH_AUDIENCE: 'from-env',
      CALLGATE_SIGNAL_ALLOW_QUERY_TOKEN: 'false',
      UNRELATED: 'ignored',
    };
    const config = loadConfig({
      env,
      cwd,
      overrides: { 'server.port': 9200, 'server.host': undefined },
    });
    assert.equal(config.server.port, 9200, 'override beats env and yaml');
    assert.equal(config.auth.audience, 'from-env', 'env beats yaml');
    assert.equal(config.log.level, 'debug', 'yaml beats default');
    assert.equal(config.auth.accessTokenTtlSeconds, 120, 'yaml beats default');
    assert.equal(config.server.host, '127.0.0.1', 'an undefined override is no override');
    assert.equal(config.signal.allowQueryToken, false, 'env beats default');
    assert.equal(config.auth.clockToleranceSeconds, 5, 'default');

    const withoutOverride = loadConfig({ env, cwd });
    assert.equal(withoutOverride.server.port, 9100);
    const withoutEnv = loadConfig({ env: {}, cwd });
    assert.equal(withoutEnv.server.port, 9000);
    assert.equal(withoutEnv.auth.audience, 'from-yaml');
  });

  test('the file comes from options.file, else CALLGATE_CONFIG, else ./callgate.yaml', (t) => {
    const cwd = tempDir(t);
    writeFileSync(join(cwd, 'callgate.yaml'), 'server:\n  port: 1001\n');
    writeFileSync(join(cwd, 'env.yaml'), 'server:\n  port: 1002\n');
    mkdirSync(join(cwd, 'conf'));
    writeFileSync(join(cwd, 'conf', 'explicit.yaml'), 'server:\n  port: 1003\n');
    assert.equal(loadConfig({ env: {}, cwd }).server.port, 1001);
    assert.equal(loadConfig({ env: { CALLGATE_CONFIG: 'env.yaml' }, cwd }).server.port, 1002);
    assert.equal(
      loadConfig({ env: { CALLGATE_CONFIG: 'env.yaml' }, cwd, file: 'conf/explicit.yaml' }).server
        .port,
      1003,
    );
    assert.deepEqual(paths(issuesOf(() => loadConfig({ env: {}, cwd, file: 'missing.yaml' }))), [
      '(file)',
    ]);
  });

  test('environment values are parsed by kind: integers, booleans, lists', (t) => {
    const cwd = tempDir(t);
    const config = loadConfig({
      cwd,
      env: {
        CALLGATE_DEV: 'yes',
        CALLGATE_SERVER_TRUST_PROXY: '1',
        CALLGATE_SIGNAL_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
        CALLGATE_AUTH_ALLOWED_ALGORITHMS: '["ES256","RS256"]',
        CALLGATE_AUTH_ALGORITHM: 'ES256',
        CALLGATE_SERVER_PUBLIC_URL: 'https://rtc.example.com/',
      },
    });
    assert.equal(config.dev, true);
    assert.equal(config.server.trustProxy, true);
    assert.deepEqual(config.signal.allowedOrigins, ['https://a.example', 'https://b.example']);
    assert.deepEqual(config.auth.allowedAlgorithms, ['ES256', 'RS256']);
    assert.equal(config.server.publicUrl, 'https://rtc.example.com', 'trailing slash removed');
  });

  test('envName maps dotted camelCase keys to CALLGATE_ upper snake case', () => {
    assert.equal(envName('server.port'), 'CALLGATE_SERVER_PORT');
    assert.equal(envName('auth.accessTokenTtlSeconds'), 'CALLGATE_AUTH_ACCESS_TOKEN_TTL_SECONDS');
    assert.equal(envName('dataDir'), 'CALLGATE_DATA_DIR');
    assert.equal(envName('turn.secrets'), 'CALLGATE_TURN_SECRETS');
    // Every key has a distinct variable.
    const names = Object.keys(CONFIG_KEYS).map(envName);
    assert.equal(new Set(names).size, names.length);
  });
});

describe('errors are all reported at once, with dotted paths', () => {
  test('problems from the file, the environment and the overrides come together', (t) => {
    const cwd = tempDir(t);
    writeFileSync(
      join(cwd, 'callgate.yaml'),
      [
        'server:',
        '  port: not-a-number',
        '  prot: 1',
        'log:',
        '  level: loud',
        'auth:',
        '  audience: ""',
        '  colour: blue',
        'signal:',
        '  allowedOrigins: ["https://ok.example", "https://bad.example/path"]',
        'extra: true',
        '',
      ].join('\n'),
    );
    const issues = issuesOf(() =>
      loadConfig({
        cwd,
        env: {
          CALLGATE_AUTH_ACCESS_TOKEN_TTL_SECONDS: '5',
          CALLGATE_NOPE: '1',
          CALLGATE_SERVER_TRUST_PROXY: 'maybe',
        },
        overrides: { 'server.nope': 1, 'auth.clockToleranceSeconds': 31 },
      }),
    );
    assert.deepEqual(paths(issues), [
      'CALLGATE_NOPE',
      'auth.accessTokenTtlSeconds',
      'auth.audience',
      'auth.clockToleranceSeconds',
      'auth.colour',
      'extra',
      'log.level',
      'server.nope',
      'server.port',
      'server.prot',
      'server.trustProxy',
      'signal.allowedOrigins[1]',
    ]);
    const byPath = new Map(issues.map((i) => [i.path, i]));
    assert.equal(byPath.get('server.port')!.message, 'must be an integer');
    assert.equal(byPath.get('auth.accessTokenTtlSeconds')!.message, 'must be at least 30');
    assert.equal(byPath.get('auth.accessTokenTtlSeconds')!.source, 'env');
    assert.equal(byPath.get('auth.clockToleranceSeconds')!.message, 'must be at most 30');
    assert.equal(byPath.get('auth.clockToleranceSeconds')!.source, 'flags');
    assert.equal(byPath.get('server.prot')!.message, 'unknown key');
    assert.match(byPath.get('log.level')!.message, /must be one of trace, debug, info/);
    assert.equal(byPath.get('server.port')!.source, join(cwd, 'callgate.yaml'));
    // The thrown message lists every problem with its path.
    try {
      loadConfig({ cwd, env: {} });
    } catch (err) {
      const message = (err as Error).message;
      for (const p of ['server.port', 'log.level', 'auth.colour', 'extra'])
        assert.ok(message.includes(`  - ${p}: `), p);
    }
  });

  test('cross-key rules', (t) => {
    const cwd = tempDir(t);
    const issues = issuesOf(() =>
      loadConfig({
        cwd,
        env: {},
        overrides: {
          'auth.accessTokenTtlSeconds': 60,
          'auth.minTokenTtlSeconds': 120,
          'auth.algorithm': 'EdDSA',
          'auth.allowedAlgorithms': ['RS256'],
          'turn.urls': ['turn:ok.example:3478?transport=udp', 'http://nope.example'],
        },
      }),
    );
    assert.deepEqual(paths(issues), [
      'auth.allowedAlgorithms',
      'auth.minTokenTtlSeconds',
      'turn.urls[1]',
    ]);
    // HS256 can never be allowed: the item itself is refused (the list is then also empty).
    const hs = issuesOf(() =>
      loadConfig({ cwd, env: {}, overrides: { 'auth.allowedAlgorithms': ['RS256', 'HS256'] } }),
    );
    assert.deepEqual(paths(hs), ['auth.allowedAlgorithms[1]']);
    assert.equal(hs[0]!.message, 'must be one of RS256, ES256, EdDSA');
  });

  test('a malformed YAML file or a non-mapping top level is one (file) issue', (t) => {
    const cwd = tempDir(t);
    writeFileSync(join(cwd, 'bad.yaml'), 'server: [unclosed\n');
    writeFileSync(join(cwd, 'list.yaml'), '- a\n- b\n');
    writeFileSync(join(cwd, 'empty.yaml'), '');
    assert.deepEqual(paths(issuesOf(() => loadConfig({ cwd, env: {}, file: 'bad.yaml' }))), [
      '(file)',
    ]);
    assert.deepEqual(paths(issuesOf(() => loadConfig({ cwd, env: {}, file: 'list.yaml' }))), [
      '(file)',
    ]);
    assert.equal(loadConfig({ cwd, env: {}, file: 'empty.yaml' }).server.port, 8080);
  });
});

describe('secrets', () => {
  test('a secret can be a literal, {value}, {env: NAME} or {secretFile: PATH} (relative to the file)', (t) => {
    const cwd = tempDir(t);
    mkdirSync(join(cwd, 'etc'));
    mkdirSync(join(cwd, 'etc', 'secrets'));
    writeFileSync(join(cwd, 'etc', 'secrets', 'turn'), `${SECRET_B}\n`);
    writeFileSync(
      join(cwd, 'etc', 'callgate.yaml'),
      [
        'turn:',
        '  secrets:',
        `    - "${SECRET_A}"`,
        `    - { value: "${'c'.repeat(32)}" }`,
        '    - { env: TURN_SECRET }',
        '    - { secretFile: secrets/turn }',
        '',
      ].join('\n'),
    );
    const config = loadConfig({
      cwd,
      file: 'etc/callgate.yaml',
      env: { TURN_SECRET: 'd'.repeat(48) },
    });
    assert.deepEqual(config.turn.secrets, [SECRET_A, 'c'.repeat(32), 'd'.repeat(48), SECRET_B]);
  });

  test('secrets from the environment variable CALLGATE_TURN_SECRETS', (t) => {
    const cwd = tempDir(t);
    assert.deepEqual(
      loadConfig({ cwd, env: { CALLGATE_TURN_SECRETS: `${SECRET_A},${SECRET_B}` } }).turn.secrets,
      [SECRET_A, SECRET_B],
    );
    assert.deepEqual(
      loadConfig({
        cwd,
        env: { CALLGATE_TURN_SECRETS: JSON.stringify([{ env: 'S' }]), S: SECRET_A },
      }).turn.secrets,
      [SECRET_A],
    );
  });

  test('unresolvable secrets are reported by index, and never echo a value', (t) => {
    const cwd = tempDir(t);
    const issues = issuesOf(() =>
      loadConfig({
        cwd,
        env: { EMPTY: '' },
        overrides: {
          'turn.secrets': [
            { env: 'NOT_SET' },
            { env: 'EMPTY' },
            { secretFile: 'no-such-file' },
            { value: SECRET_A, env: 'X' },
            { path: 'x' },
            '',
            42,
            SECRET_B,
          ],
        },
      }),
    );
    assert.deepEqual(
      paths(issues),
      [0, 1, 2, 3, 4, 5, 6].map((i) => `turn.secrets[${i}]`),
    );
    const text = issues.map((i) => i.message).join('\n');
    assert.ok(!text.includes(SECRET_A) && !text.includes(SECRET_B));
    assert.match(issues.find((i) => i.path === 'turn.secrets[0]')!.message, /NOT_SET is not set/);
  });

  test('turn.secrets shorter than 32 bytes are refused, naming turn.secrets[N], without the value', (t) => {
    const cwd = tempDir(t);
    const short = 'short-secret-31-bytes-long-abcd';
    assert.equal(Buffer.byteLength(short), 31);
    const issues = issuesOf(() =>
      loadConfig({ cwd, env: {}, overrides: { 'turn.secrets': [short, SECRET_A, 'x'] } }),
    );
    assert.deepEqual(paths(issues), ['turn.secrets[0]', 'turn.secrets[2]']);
    assert.match(issues[0]!.message, /at least 32 bytes/);
    for (const i of issues) assert.ok(!i.message.includes(short));
    // Exactly 32 bytes is enough.
    assert.deepEqual(
      loadConfig({ cwd, env: {}, overrides: { 'turn.secrets': ['x'.repeat(32)] } }).turn.secrets,
      ['x'.repeat(32)],
    );
  });
});
