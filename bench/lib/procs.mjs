// Child processes of a benchmark run: servers and generators, each pinned to a core with
// taskset, each tracked so that every one is stopped by its PID at the end of a scenario, on
// an error, and when the harness itself exits.
import { spawn, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** @type {Set<import('node:child_process').ChildProcess>} */
const live = new Set();

function killAll() {
  for (const c of live)
    if (c.pid !== undefined && c.exitCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
}
process.on('exit', killAll);
for (const sig of /** @type {const} */ (['SIGINT', 'SIGTERM', 'SIGHUP']))
  process.on(sig, () => {
    killAll();
    process.exit(130);
  });

let tasksetOk = /** @type {boolean | undefined} */ (undefined);

/** Whether `taskset` can pin processes here (it is in util-linux, so almost always). */
export function canPin() {
  if (tasksetOk === undefined) {
    try {
      execFileSync('taskset', ['-c', '0', 'true'], { stdio: 'ignore' });
      tasksetOk = true;
    } catch {
      tasksetOk = false;
    }
  }
  return tasksetOk;
}

/**
 * A Node child with an IPC channel, pinned to `cpu` when possible. Messages are awaited with
 * `next(type)`; stderr is kept (last 8 KiB) for error reports.
 */
export class Child {
  /**
   * @param {string} label
   * @param {string[]} nodeArgs  arguments to node (flags and script)
   * @param {{ cpu?: string, env?: Record<string, string>, cwd: string }} o
   */
  constructor(label, nodeArgs, o) {
    this.label = label;
    const pin = o.cpu !== undefined && canPin();
    const cmd = pin ? 'taskset' : process.execPath;
    const args = pin ? ['-c', o.cpu, process.execPath, ...nodeArgs] : nodeArgs;
    this.proc = spawn(cmd, args, {
      cwd: o.cwd,
      env: { ...process.env, ...o.env },
      stdio: ['ignore', process.env.BENCH_STDOUT ? 'inherit' : 'ignore', 'pipe', 'ipc'],
    });
    live.add(this.proc);
    this.stderr = '';
    this.proc.stderr?.on('data', (d) => {
      this.stderr = (this.stderr + d.toString()).slice(-8192);
      if (process.env.BENCH_STDERR) process.stderr.write(d);
    });
    /** @type {Array<{ type: string, resolve: (m: any) => void, reject: (e: Error) => void }>} */
    this.waiters = [];
    /** @type {any[]} */
    this.inbox = [];
    /** Exited, and its IPC channel and stderr drained: no message can come any more. */
    this.closed = false;
    this.exited = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        live.delete(this.proc);
        resolve({ code, signal });
      });
    });
    // Waiters fail on 'close', not 'exit': a child that sends its result and exits at once
    // (the host probes) can be seen to exit before its last message is read from the IPC
    // channel; 'close' comes once that channel and stderr are drained.
    this.proc.on('close', (code, signal) => {
      this.closed = true;
      const err = new Error(
        `${label} exited (${signal ?? code}) ${this.stderr.trim().split('\n').slice(-12).join('\n')}`,
      );
      for (const w of this.waiters.splice(0)) w.reject(err);
    });
    this.proc.on('message', (/** @type {any} */ m) => {
      if (m.type === 'error') {
        const err = new Error(`${label}: ${m.message}`);
        for (const w of this.waiters.splice(0)) w.reject(err);
        return;
      }
      const i = this.waiters.findIndex((w) => w.type === m.type);
      if (i >= 0) this.waiters.splice(i, 1)[0]?.resolve(m);
      else this.inbox.push(m);
    });
  }

  get pid() {
    return /** @type {number} */ (this.proc.pid);
  }

  /**
   * Sends `m` if the channel is open. A child that is exiting can close its end while
   * `connected` still reads true; the write then fails (EPIPE), which is ignored here: its
   * `exited` promise reports the exit.
   *
   * @param {object} m
   */
  send(m) {
    if (this.proc.connected) this.proc.send(m, () => {});
  }

  /**
   * @param {string} type
   * @param {number} [timeoutMs]
   * @returns {Promise<any>}
   */
  next(type, timeoutMs = 60_000) {
    const i = this.inbox.findIndex((m) => m.type === type);
    if (i >= 0) return Promise.resolve(this.inbox.splice(i, 1)[0]);
    if (this.closed)
      return Promise.reject(new Error(`${this.label} has exited: ${this.stderr.slice(-2000)}`));
    return new Promise((resolve, reject) => {
      const w = {
        type,
        resolve: (/** @type {any} */ m) => {
          clearTimeout(t);
          resolve(m);
        },
        reject: (/** @type {Error} */ e) => {
          clearTimeout(t);
          reject(e);
        },
      };
      const t = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`${this.label}: no ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /**
   * @param {object} m
   * @param {string} type
   * @param {number} [timeoutMs]
   */
  request(m, type, timeoutMs) {
    const p = this.next(type, timeoutMs);
    this.send(m);
    return p;
  }

  /** Asks the process to stop, then kills it by PID if it has not exited within `graceMs`. */
  async stop(graceMs = 2000) {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.send({ type: 'stop' });
    const t = setTimeout(() => {
      try {
        process.kill(this.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/**
 * Runs the same `node -e` probe pinned to each CPU in `cpus`, all at once (both busy, as during
 * a scenario), and collects the one `{ type }` message each sends; every probe is stopped by
 * PID afterwards. The probes of the host (pauses.mjs, speed.mjs) are built on it.
 *
 * @param {string} label
 * @param {string} script
 * @param {string[]} args
 * @param {string} type
 * @param {{ cpus: string[], cwd: string, timeoutMs: number }} o
 * @returns {Promise<Record<string, any>>} each CPU's message
 */
export async function probeEachCpu(label, script, args, type, o) {
  const children = o.cpus.map(
    (cpu) => new Child(`${label} on CPU ${cpu}`, ['-e', script, ...args], { cpu, cwd: o.cwd }),
  );
  try {
    const results = await Promise.all(children.map((c) => c.next(type, o.timeoutMs)));
    return Object.fromEntries(o.cpus.map((cpu, i) => [cpu, results[i]]));
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}

/**
 * CPU time (user + system, all threads) of a process in microseconds, from /proc/<pid>/stat.
 *
 * @param {number} pid
 */
export function cpuMicros(pid) {
  const { user, system } = cpuSplitMicros(pid);
  return user + system;
}

/**
 * CPU time of a process in microseconds, user and system (kernel) apart, and its minor page
 * faults so far (all threads), from /proc/<pid>/stat.
 *
 * @param {number} pid
 */
export function cpuSplitMicros(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  // Fields 10, 14 and 15 of proc(5) (minflt, utime, stime), counted from `state` (field 3) here.
  return {
    user: (Number(f[11]) * 1e6) / CLK_TCK,
    system: (Number(f[12]) * 1e6) / CLK_TCK,
    minorFaults: Number(f[7]),
  };
}

/**
 * Resident set size of a process in bytes, from /proc/<pid>/status.
 *
 * @param {number} pid
 */
export function rssBytes(pid) {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(s);
  return m ? Number(m[1]) * 1024 : NaN;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();
