// Runs the benchmark suite in smoke mode against Callgate (and the bare server that bounds the
// generator in connects and open-loop latency, needing no install): every scenario for about a
// second with tiny N, so CI proves the harness, the generator and the server still work
// together. It checks that every scenario produced figures, never what the figures are
// (BENCHMARKS.md holds those; they are not asserted in `npm test`).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;

test('bench --smoke runs every scenario against Callgate', { timeout: 150_000 }, async () => {
  const out = mkdtempSync(join(tmpdir(), 'callgate-bench-smoke-'));
  try {
    const child = spawn(
      process.execPath,
      [
        'bench/run.mjs',
        '--smoke',
        '--servers=callgate,ceiling',
        // Two fan-out rounds for every server at both sizes (the option overrides the rounds
        // table), so that merging rounds is exercised too.
        '--fanout-rounds=2',
        '--source',
        '--no-install',
        `--out=${out}`,
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), 140_000);
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    clearTimeout(timer);
    assert.equal(code, 0, output);

    const file = readdirSync(out).find((f) => f.endsWith('.json'));
    assert.ok(file, 'a results file is written');
    const results = JSON.parse(readFileSync(join(out, file), 'utf8')) as {
      mode: string;
      errors: unknown[];
      steps: {
        scenario: string;
        server: string;
        seconds: number;
        also?: string[];
        failed?: boolean;
      }[];
      machine: {
        pauses?: { before?: Record<string, unknown>; after?: Record<string, unknown> };
        speed?: { before?: Record<string, unknown>; after?: Record<string, unknown> };
      };
      scenarios: Record<
        string,
        { callgate?: Record<string, unknown>; ceiling?: Record<string, unknown> }
      >;
    };
    assert.equal(results.mode, 'smoke');
    assert.deepEqual(results.errors, []);
    const num = (scenario: string, field: string): number => {
      const v = results.scenarios[scenario]?.callgate?.[field];
      assert.equal(typeof v, 'number', `${scenario}.${field}`);
      return v as number;
    };
    assert.ok(num('connect', 'connections') > 0);
    assert.equal(num('connect', 'failed'), 0);
    // The re-warm's connections were open through the measured round (smoke: 20), all of them.
    assert.equal(num('connect', 'openBefore'), 20);
    assert.equal(results.scenarios.connect?.callgate?.rewarmFailed, undefined);
    assert.ok(num('connect', 'serverPageFaultsPerConnection') >= 0);
    // CPU per connection, server and generator, each with its kernel share within it.
    assert.ok(
      num('connect', 'serverSystemUsPerConnection') <= num('connect', 'serverUsPerConnection'),
    );
    assert.ok(
      num('connect', 'generatorSystemUsPerConnection') <=
        num('connect', 'generatorUsPerConnection'),
    );
    assert.ok(Number(results.scenarios.connect?.ceiling?.connections) > 0, 'the ceiling ran');
    assert.ok(
      Number(results.scenarios.openloop_500?.ceiling?.received) > 0,
      'the bare server relayed the open loop',
    );
    // The host-pause probe ran on both CPUs, before and after the scenarios.
    for (const when of ['before', 'after'] as const) {
      const p = results.machine.pauses?.[when];
      assert.ok(p && Object.keys(p).length >= 1, `pauses ${when}`);
      for (const v of Object.values(p))
        assert.equal(typeof (v as { lostMsPerSecond?: unknown }).lostMsPerSecond, 'number');
    }
    // So did the speed probe: positive times for each of its four pieces of work.
    for (const when of ['before', 'after'] as const) {
      const p = results.machine.speed?.[when];
      assert.ok(p && Object.keys(p).length >= 1, `speed ${when}`);
      for (const v of Object.values(p) as Record<string, number | undefined>[])
        for (const k of ['rs256VerifyUs', 'jsonRoundTripUs', 'memoryLoadNs', 'syscallUs'])
          assert.ok((v[k] ?? 0) > 0, `${k} ${when}`);
    }
    const steps = results.scenarios.memory?.callgate?.steps;
    assert.ok(Array.isArray(steps) && steps.length === 2, 'two memory steps');
    for (const k of ['relay', 'openloop_200', 'openloop_500', 'fanout_10', 'fanout_100'])
      assert.ok(num(k, 'received') > 0, `${k} delivered messages`);
    // Fan-out's two rounds: every window kept, and its figures are the median window's.
    for (const k of ['fanout_10', 'fanout_100']) {
      const f = results.scenarios[k]?.callgate as
        | {
            rounds?: number;
            perSecond?: number;
            deliveriesPerSecond?: number;
            serverUsPerMessage?: number;
            serverUsPerDelivery?: number;
            windows?: { perSecond: number }[];
          }
        | undefined;
      assert.equal(f?.rounds, 2, `${k} rounds`);
      assert.equal(f.windows?.length, 6, `${k} windows of both rounds`);
      const rates = f.windows.map((w) => w.perSecond).sort((x, y) => x - y);
      assert.equal(f.perSecond, rates[3], `${k} the median window`);
      assert.equal(f.deliveriesPerSecond, f.perSecond, `${k} deliveries/s is the median's`);
      assert.equal(f.serverUsPerDelivery, f.serverUsPerMessage, `${k} µs/delivery, the median's`);
    }
    // Rounds per server (smoke: three at 500/s for Callgate, one for the bare server, which
    // falls in the middle sweep rather than first or last); every step's time is recorded.
    // The lower rate has no steps of its own: each server's middle round measures it too.
    const rounds500 = results.steps.filter((st) => st.scenario === 'openloop_500');
    assert.deepEqual(
      rounds500.map((st) => `${st.server}${st.also ? ` + ${st.also.join()}` : ''}`),
      ['callgate', 'callgate + openloop_200', 'ceiling + openloop_200', 'callgate'],
    );
    assert.equal(results.steps.filter((st) => st.scenario === 'openloop_200').length, 0);
    assert.ok(results.steps.every((st) => st.seconds > 0 && st.failed === undefined));
    // Four windows per round at the top rate (smoke's `windowsPer`), three at the lower one.
    const ol500 = results.scenarios.openloop_500;
    assert.equal(ol500?.callgate?.rounds, 3);
    assert.equal((ol500?.callgate?.windows as unknown[] | undefined)?.length, 12);
    assert.equal(ol500?.ceiling?.rounds, undefined);
    assert.equal((ol500?.ceiling?.windows as unknown[] | undefined)?.length, 4);
    for (const server of ['callgate', 'ceiling'] as const) {
      const ol200 = results.scenarios.openloop_200?.[server];
      assert.equal(ol200?.rate, 200, `openloop_200 ${server}`);
      assert.equal(ol200?.rounds, undefined);
      assert.equal((ol200?.windows as unknown[] | undefined)?.length, 3);
    }
    // Scenario 1's two sweeps: one at the start of the run, one right before the memory
    // scenario, which runs last.
    const names = results.steps.map((st) => `${st.scenario} ${st.server}`);
    const firstMemory = names.indexOf('memory callgate');
    assert.deepEqual(names.slice(0, 2), ['connect callgate', 'connect ceiling']);
    assert.deepEqual(names.slice(firstMemory - 2, firstMemory), [
      'connect callgate',
      'connect ceiling',
    ]);
    assert.equal(results.scenarios.connect?.callgate?.rounds, 2);
    // The open loop's latency split: from the actual send, and how late the generator sent. A
    // message's latency from its actual send is at most that from its scheduled one.
    const ol = results.scenarios.openloop_500?.callgate as
      Record<string, { n: number; p50: number; p99: number } | undefined> | undefined;
    const [sched, path, late] = [ol?.latencyMs, ol?.pathMs, ol?.sendLatenessMs];
    assert.ok(sched && path && late, 'open loop latency, path and send lateness');
    assert.ok(path.n > 0 && late.n > 0, 'open loop path and lateness sampled');
    assert.ok(path.p50 <= sched.p50 + 0.001, `path p50 ${path.p50} > latency p50 ${sched.p50}`);
    assert.ok(path.p99 <= sched.p99 + 0.001, `path p99 ${path.p99} > latency p99 ${sched.p99}`);
    assert.ok(late.p50 >= 0, 'sent no earlier than scheduled');
    // The generator sends without `id`, as to PeerJS and Socket.IO: fire and forget, no ack.
    assert.equal(num('relay', 'acks'), 0, 'id-less sends are not acknowledged');
    assert.ok(num('turn', 'ok') > 0, 'TURN credentials served');
    assert.equal(num('turn', 'non2xx'), 0);
    assert.ok(num('mint', 'ok') > 0, 'tokens minted');
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
