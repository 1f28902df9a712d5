/**
 * Every CLI command through runCli with a fake CliIo, and the real binary in child processes.
 * Exit codes: 0 success, 1 failure (message on stderr), 2 usage error.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeProtectedHeader } from 'jose';
import { cli } from '../support/cli-io.js';
import { startTestServer } from '../support/test-server.js';
import { openSqliteStore } from '../../src/store/sqlite-store.js';
import { authenticateApiKey } from '../../src/auth/api-keys.js';

const API_KEY_RE = /^cgk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$/;
const REPO_ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const MAIN = 'packages/server/src/cli/main.ts';

let root: string;
let dataDir: string;
const d = () => ['--data-dir', dataDir];

before(() => {
  root = mkdtempSync(join(tmpdir(), 'callgate-cli-'));
  dataDir = join(root, 'data');
});
after(() => rmSync(root, { recursive: true, force: true }));

describe('usage', () => {
  test('no command prints usage with exit 2; help exits 0; unknown commands exit 2', async () => {
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.match(none.stdout, /^Usage: callgate <command>/);
    for (const h of ['help', '--help', '-h']) {
      const res = await cli([h]);
      assert.equal(res.code, 0, h);
      assert.match(res.stdout, /Exit codes: 0 success, 1 failure, 2 usage error/);
    }
    const unknown = await cli(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /^unknown command: frobnicate/);
  });

  test('bad arguments are usage errors (exit 2) and touch nothing', async () => {
    const cases: string[][] = [
      ['tenant'],
      ['tenant', 'create'],
      ['tenant', 'rename', 'a'],
      ['tenant', 'create', 'Bad Name'],
      ['tenant', 'list', 'extra'],
      ['tenant', 'list', '--no-such-flag'],
      ['apikey', 'create'],
      ['apikey', 'create', '--tenant', 'UPPER'],
      ['apikey', 'revoke', '--tenant', 'acme'],
      ['apikey', 'rotate', '--tenant', 'acme'],
      ['token', 'mint', '--sub', 'a'],
      ['token', 'mint', '--tenant', 'acme'],
      ['token', 'burn', '--tenant', 'acme', '--sub', 'a'],
      ['token', 'mint', '--tenant', 'acme', '--sub', 'a', '--metadata', '{nope'],
      ['keys'],
      ['keys', 'revoke'],
      ['keys', 'list', 'extra'],
      ['verify', 'a', 'b'],
      ['serve', '--port', 'abc'],
      ['serve', '--port', '70000'],
      ['serve', 'extra'],
    ];
    for (const argv of cases) {
      const res = await cli([...argv, ...d()]);
      assert.equal(res.code, 2, `${argv.join(' ')}: ${res.stderr}`);
      assert.ok(res.stderr.length > 0, argv.join(' '));
    }
  });

  test('an invalid configuration exits 1 with every problem', async () => {
    const res = await cli(['tenant', 'list', '--config', join(root, 'missing.yaml'), ...d()]);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /^Invalid configuration:\n {2}- \(file\): config file not found/);
  });
});

describe('tenant, apikey, token, keys, verify on one data directory', () => {
  let apiKeyId: string;
  let token: string;

  test('tenant create | list | delete', async () => {
    const created = await cli(['tenant', 'create', 'acme', ...d()]);
    assert.deepEqual(created, { code: 0, stdout: '', stderr: 'created tenant acme' });
    assert.equal((await cli(['tenant', 'create', 'globex', ...d()])).code, 0);
    assert.equal((await cli(['tenant', 'create', 'doomed', ...d()])).code, 0);
    const dup = await cli(['tenant', 'create', 'acme', ...d()]);
    assert.deepEqual(dup, { code: 1, stdout: '', stderr: 'tenant acme already exists' });
    const list = await cli(['tenant', 'list', ...d()]);
    assert.equal(list.code, 0);
    const rows = list.stdout.split('\n').map((l) => l.split('\t'));
    assert.deepEqual(
      rows.map((r) => r[0]),
      ['acme', 'doomed', 'globex'],
    );
    for (const r of rows) assert.ok(!Number.isNaN(Date.parse(r[1]!)));
    assert.equal((await cli(['tenant', 'delete', 'nobody', ...d()])).code, 1);
  });

  test('apikey create prints the key once on stdout; list never shows a secret', async () => {
    const created = await cli([
      'apikey',
      'create',
      '--tenant',
      'acme',
      '--label',
      'backend',
      ...d(),
    ]);
    assert.equal(created.code, 0, created.stderr);
    const m = API_KEY_RE.exec(created.stdout);
    assert.ok(m, 'stdout is exactly one API key');
    apiKeyId = m[1]!;
    assert.ok(!created.stderr.includes(created.stdout), 'the key is not repeated on stderr');
    assert.match(
      created.stderr,
      new RegExp(`created API key ${apiKeyId} for tenant acme; it is shown only this once`),
    );
    const secret = created.stdout.slice('cgk_'.length + 16 + 1);
    assert.equal(secret.length, 43);

    // The printed key authenticates against the store; only its hash is stored.
    const store = openSqliteStore(dataDir);
    try {
      const record = await authenticateApiKey(store, created.stdout);
      assert.equal(record?.tenant, 'acme');
      assert.ok(!JSON.stringify(await store.listApiKeys('acme')).includes(secret));
    } finally {
      await store.close();
    }

    const list = await cli(['apikey', 'list', '--tenant', 'acme', ...d()]);
    assert.equal(list.code, 0);
    const [id, state, createdAt, label] = list.stdout.split('\t');
    assert.deepEqual([id, state, label], [apiKeyId, 'active', 'backend']);
    assert.ok(!Number.isNaN(Date.parse(createdAt!)));
    assert.ok(!list.stdout.includes(secret));
    assert.equal((await cli(['apikey', 'list', '--tenant', 'nobody', ...d()])).code, 1);
    assert.equal((await cli(['apikey', 'create', '--tenant', 'nobody', ...d()])).code, 1);
  });

  test('apikey revoke: once, only in its own tenant; a running server then refuses it', async (t) => {
    const server = await startTestServer({ dataDir });
    t.after(() => server.close());
    const key = (await cli(['apikey', 'create', '--tenant', 'acme', ...d()])).stdout;
    const id = API_KEY_RE.exec(key)![1]!;
    const mint = () =>
      fetch(`${server.url}/v1/tokens`, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify({ sub: 'alice', rooms: {} }),
      });
    assert.equal((await mint()).status, 201);
    assert.equal((await cli(['apikey', 'revoke', id, '--tenant', 'globex', ...d()])).code, 1);
    const revoked = await cli(['apikey', 'revoke', id, '--tenant', 'acme', ...d()]);
    assert.deepEqual(revoked, { code: 0, stdout: '', stderr: `revoked API key ${id}` });
    assert.equal((await mint()).status, 401);
    assert.equal((await cli(['apikey', 'revoke', id, '--tenant', 'acme', ...d()])).code, 1);
    const list = await cli(['apikey', 'list', '--tenant', 'acme', ...d()]);
    assert.match(list.stdout, new RegExp(`^${id}\\trevoked \\d{4}-`, 'm'));
  });

  test('token mint prints the token alone on stdout, with the requested grants', async () => {
    const res = await cli([
      'token',
      'mint',
      '--tenant',
      'acme',
      '--sub',
      'alice',
      '--room',
      'lobby=join,publish',
      '--room',
      'stage',
      '--ttl',
      '60',
      '--metadata',
      '{"name":"Alice"}',
      '--kind',
      'agent',
      ...d(),
    ]);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, /^[\w-]+\.[\w-]+\.[\w-]+$/);
    assert.match(res.stderr, /^session [\w-]{22}, expires \d{4}-/);
    token = res.stdout;
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');

    const verified = await cli(['verify', token, ...d()]);
    assert.equal(verified.code, 0, verified.stderr);
    const { valid, claims, alg } = JSON.parse(verified.stdout) as {
      valid: boolean;
      alg: string;
      claims: Record<string, unknown> & { iat: number; exp: number };
    };
    assert.equal(valid, true);
    assert.equal(alg, 'RS256');
    assert.equal(claims.sub, 'alice');
    assert.equal(claims.tid, 'acme');
    assert.equal(claims.kind, 'agent');
    assert.deepEqual(claims.md, { name: 'Alice' });
    assert.deepEqual(claims.rooms, {
      lobby: ['join', 'publish'],
      stage: ['join', 'publish', 'send', 'presence'],
    });
    assert.equal(claims.exp - claims.iat, 60);
  });

  test('token mint refuses bad grants as usage errors and unknown tenants as failures', async () => {
    const base = ['token', 'mint', '--tenant', 'acme', '--sub', 'alice'];
    const bad: [string[], RegExp][] = [
      [['--room', 'lobby=join,admin'], /^usage: invalid_permission: .*\(rooms\.lobby\[1\]\)/],
      [['--room', 'bad room'], /^usage: invalid_room: /],
      [['--ttl', '9999'], /^usage: invalid_ttl: "ttlSeconds" must be an integer from 30 to 300/],
      [['--ttl', 'soon'], /^usage: invalid_ttl: /],
      [['--kind', 'admin'], /^usage: invalid_kind: /],
    ];
    for (const [extra, message] of bad) {
      const res = await cli([...base, ...extra, ...d()]);
      assert.equal(res.code, 2, extra.join(' '));
      assert.equal(res.stdout, '');
      assert.match(res.stderr, message);
    }
    const longSub = await cli([
      'token',
      'mint',
      '--tenant',
      'acme',
      '--sub',
      'x'.repeat(129),
      ...d(),
    ]);
    assert.equal(longSub.code, 2);
    assert.match(longSub.stderr, /invalid_sub/);
    const nobody = await cli(['token', 'mint', '--tenant', 'nobody', '--sub', 'a', ...d()]);
    assert.deepEqual(nobody, { code: 1, stdout: '', stderr: 'no tenant named nobody' });
  });

  test('verify reads the token from stdin with - or no argument, and says why not', async () => {
    for (const argv of [['verify', '-'], ['verify']]) {
      const res = await cli([...argv, ...d()], `${token}\n`);
      assert.equal(res.code, 0, `${argv.join(' ')}: ${res.stderr}`);
      assert.equal((JSON.parse(res.stdout) as { valid: boolean }).valid, true);
    }
    const [h, p, s] = token.split('.') as [string, string, string];
    const tampered = `${h}.${Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(p, 'base64url').toString()), sub: 'mallory' }),
    ).toString('base64url')}.${s}`;
    const failures: [string, string][] = [
      ['garbage', 'invalid: token_malformed (not a compact JWS)'],
      [tampered, 'invalid: token_invalid (signature verification failed)'],
      ['', 'invalid: token_missing (no token)'],
    ];
    for (const [input, message] of failures) {
      const res = await cli(['verify', '-', ...d()], input);
      assert.equal(res.code, 1, input.slice(0, 20));
      assert.equal(res.stdout, '');
      assert.equal(res.stderr, message);
      assert.ok(!res.stderr.includes(token), 'the token is never echoed');
    }
  });

  test('keys list | rotate | revoke; list shows no key material', async () => {
    const listed = await cli(['keys', 'list', ...d()]);
    assert.equal(listed.code, 0);
    const [header, ...rows] = listed.stdout.split('\n');
    assert.equal(header, 'kid\talg\tstate\tcreated\tactivated\tretired\tdelete-after');
    assert.deepEqual(rows.map((r) => r.split('\t')[2]).sort(), ['current', 'next']);
    const store = openSqliteStore(dataDir);
    const stored = await store.listKeys();
    await store.close();
    for (const k of stored)
      for (const m of ['d', 'p', 'q', 'dp', 'dq', 'qi'] as const)
        assert.ok(!listed.stdout.includes(k.privateJwk[m] as string), m);

    const tokenKid = decodeProtectedHeader(token).kid!;
    const rotated = await cli(['keys', 'rotate', ...d()]);
    assert.equal(rotated.code, 0);
    const states = new Map(
      rotated.stdout
        .split('\n')
        .slice(1)
        .map((r) => [r.split('\t')[0]!, r.split('\t')[2]!]),
    );
    assert.equal(states.get(tokenKid), 'retired');
    assert.equal([...states.values()].filter((s) => s === 'current').length, 1);
    assert.equal((await cli(['verify', token, ...d()])).code, 0, 'a retired key still verifies');

    const revoked = await cli(['keys', 'revoke', tokenKid, ...d()]);
    assert.deepEqual(revoked, {
      code: 0,
      stdout: '',
      stderr: `revoked key ${tokenKid}: tokens it signed no longer verify`,
    });
    const after = await cli(['verify', token, ...d()]);
    assert.deepEqual(after, {
      code: 1,
      stdout: '',
      stderr: 'invalid: token_invalid (unknown kid)',
    });
    assert.equal((await cli(['keys', 'revoke', tokenKid, ...d()])).code, 1);
  });

  test('tenant delete removes its API keys and revokes its tokens at once', async () => {
    const minted = await cli(['token', 'mint', '--tenant', 'doomed', '--sub', 'x', ...d()]);
    assert.equal(minted.code, 0);
    const key = (await cli(['apikey', 'create', '--tenant', 'doomed', ...d()])).stdout;
    assert.equal((await cli(['verify', minted.stdout, ...d()])).code, 0);
    const deleted = await cli(['tenant', 'delete', 'doomed', ...d()]);
    assert.deepEqual(deleted, {
      code: 0,
      stdout: '',
      stderr: 'deleted tenant doomed, its API keys, and revoked its tokens',
    });
    const after = await cli(['verify', minted.stdout, ...d()]);
    assert.deepEqual(after, {
      code: 1,
      stdout: '',
      stderr: 'invalid: token_revoked (session or token revoked)',
    });
    const store = openSqliteStore(dataDir);
    try {
      assert.equal(await authenticateApiKey(store, key), null);
    } finally {
      await store.close();
    }
    assert.deepEqual(
      (await cli(['tenant', 'list', ...d()])).stdout.split('\n').map((l) => l.split('\t')[0]),
      ['acme', 'globex'],
    );
    void apiKeyId;
  });
});

/** Runs the real binary from source; resolves with its exit code and output. */
function spawnCli(
  args: string[],
  options: { stdin?: string; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', MAIN, ...args],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, NODE_OPTIONS: '' },
        stdio: ['pipe', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`callgate ${args[0]} timed out`));
    }, options.timeoutMs ?? 30_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(options.stdin ?? '');
  });
}

describe('the real binary', () => {
  test('exit codes and stdin of a spawned callgate process', async () => {
    const dir = join(root, 'spawned');
    const created = await spawnCli(['tenant', 'create', 'acme', '--data-dir', dir]);
    assert.equal(created.code, 0, created.stderr);
    const minted = await spawnCli([
      'token',
      'mint',
      '--tenant',
      'acme',
      '--sub',
      'alice',
      '--room',
      'lobby',
      '--data-dir',
      dir,
    ]);
    assert.equal(minted.code, 0, minted.stderr);
    const token = minted.stdout.trim();
    const verified = await spawnCli(['verify', '-', '--data-dir', dir], { stdin: token });
    assert.equal(verified.code, 0, verified.stderr);
    assert.equal((JSON.parse(verified.stdout) as { claims: { sub: string } }).claims.sub, 'alice');
    const bad = await spawnCli(['verify', '-', '--data-dir', dir], { stdin: 'x.y.z' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^invalid: token_/);
    const usage = await spawnCli(['keys', '--data-dir', dir]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /^usage: /);
  });

  test('serve --dev starts, answers /healthz, prints a working dev API key, and exits 0 on SIGTERM', async (t) => {
    const dir = join(root, 'serve');
    const child = spawn(
      process.execPath,
      [
        '--conditions=source',
        '--import',
        'tsx',
        MAIN,
        'serve',
        '--dev',
        '--port',
        '0',
        '--host',
        '127.0.0.1',
        '--data-dir',
        dir,
      ],
      {
        cwd: REPO_ROOT,
        env: { ...process.env, NODE_OPTIONS: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stderr = '';
    let stdout = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    const exited = new Promise<number | null>((resolve) =>
      child.on('close', (code) => resolve(code)),
    );
    t.after(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    });
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${stderr}`)), 30_000);
      child.stderr.on('data', (c: Buffer) => {
        stderr += c.toString();
        const m = /Callgate \(dev\) on (http:\/\/\S+)/.exec(stderr);
        if (m) {
          clearTimeout(timer);
          resolve(m[1]!);
        }
      });
      child.on('close', () => reject(new Error(`serve exited early: ${stderr}`)));
    });
    const key = /^\s+(cgk_\S+)$/m.exec(stderr)?.[1];
    assert.ok(key && API_KEY_RE.test(key), 'the dev API key is printed on stderr');
    assert.ok(!stdout.includes(key), 'the key is not in the JSON log on stdout');

    const health = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5000) });
    assert.equal(health.status, 200);
    const minted = await fetch(`${url}/v1/tokens`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ sub: 'alice', rooms: { lobby: ['join'] } }),
      signal: AbortSignal.timeout(5000),
    });
    assert.equal(minted.status, 201);
    const { token } = (await minted.json()) as { token: string };
    assert.equal(decodeProtectedHeader(token).typ, 'at+jwt');

    child.kill('SIGTERM');
    let timer: NodeJS.Timeout | undefined;
    const code = await Promise.race([
      exited,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('no exit after SIGTERM')), 20_000);
      }),
    ]).finally(() => clearTimeout(timer));
    assert.equal(code, 0);
    assert.match(stderr, /SIGTERM: draining connections/);
    assert.ok(!stdout.includes(token), 'the token is not logged');

    // A second start on the same directory prints no key: it exists already.
    const again = await spawnCli(['tenant', 'list', '--data-dir', dir]);
    assert.equal(again.stdout.split('\t')[0], 'default');
  });
});
