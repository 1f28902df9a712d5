// Types for procs.mjs (the harness is plain JavaScript; its tests are TypeScript).
import type { ChildProcess } from 'node:child_process';

export declare function canPin(): boolean;
export declare class Child {
  constructor(
    label: string,
    nodeArgs: string[],
    o: { cpu?: string; env?: Record<string, string>; cwd: string },
  );
  readonly label: string;
  readonly proc: ChildProcess;
  readonly pid: number;
  stderr: string;
  closed: boolean;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  send(m: object): void;
  next(type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  request(m: object, type: string, timeoutMs?: number): Promise<Record<string, unknown>>;
  stop(graceMs?: number): Promise<void>;
}
export declare function probeEachCpu(
  label: string,
  script: string,
  args: string[],
  type: string,
  o: { cpus: string[]; cwd: string; timeoutMs: number },
): Promise<Record<string, Record<string, unknown>>>;
export declare function cpuMicros(pid: number): number;
export declare function cpuSplitMicros(pid: number): {
  user: number;
  system: number;
  minorFaults: number;
};
export declare function rssBytes(pid: number): number;
