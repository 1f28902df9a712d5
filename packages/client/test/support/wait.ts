import type { CallgateClient, ClientEvents } from '../../src/index.js';

/** Polls `predicate` on the real event loop (the client may run on a manual clock). */
export async function eventually(
  predicate: () => boolean,
  what = 'condition',
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** Lets pending I/O and promise callbacks run for `ms` of real time. */
export function settle(ms = 30): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export type Recorded = {
  [K in keyof ClientEvents]: { event: K; payload: ClientEvents[K] };
}[keyof ClientEvents];

/** Records every event of a client, in order. */
export function record(client: CallgateClient): Recorded[] {
  const out: Recorded[] = [];
  const names: Array<keyof ClientEvents> = [
    'state',
    'welcome',
    'presence',
    'message',
    'tokenExpiring',
    'error',
    'iceServers',
    'peerJoined',
    'peerLeft',
    'rejoined',
    'closed',
  ];
  for (const event of names)
    client.on(event, (payload) => out.push({ event, payload } as Recorded));
  return out;
}

/** The payloads of one event type among recorded ones. */
export function payloads<K extends keyof ClientEvents>(
  events: Recorded[],
  event: K,
): Array<ClientEvents[K]> {
  return events.filter((e) => e.event === event).map((e) => e.payload as ClientEvents[K]);
}

/** Resolves with the next `event` of `client`. */
export function nextEvent<K extends keyof ClientEvents>(
  client: CallgateClient,
  event: K,
  timeoutMs = 3000,
): Promise<ClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const off = client.once(event, (payload) => {
      clearTimeout(timer);
      resolve(payload);
    });
  });
}
