// Types for stats.mjs (the harness is plain JavaScript; its tests are TypeScript).
export interface Summary {
  n: number;
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
}
export declare class Samples {
  count: number;
  add(ms: number): void;
  reset(): void;
  summary(): Summary;
}
export declare function bucketOf(us: number): number;
export declare function round(x: number, digits?: number): number;
