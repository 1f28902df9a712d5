/** An injectable clock: milliseconds since the epoch. Expiry logic takes one so tests need no sleeping. */
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** Seconds since the epoch, as JWT claims count them. */
export function nowSeconds(clock: Clock): number {
  return Math.floor(clock.now() / 1000);
}
