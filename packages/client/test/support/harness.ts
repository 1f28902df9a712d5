import { WebSocket } from 'ws';
import {
  createClient,
  type CallgateClient,
  type ClientOptions,
  type GetToken,
} from '../../src/index.js';
import { FakeServer } from './fake-server.js';
import { ManualClock } from './manual-clock.js';
import { eventually, record, type Recorded } from './wait.js';

export interface Harness {
  fake: FakeServer;
  clock: ManualClock;
  client: CallgateClient;
  events: Recorded[];
  /** Every `getToken` call's reason, in order; tokens are `tok1`, `tok2`, ... */
  tokenCalls: string[];
  close(): Promise<void>;
}

/**
 * A client on a manual clock (random fixed at 0.5) against a fresh fake server; tokens are
 * numbered so a test can tell a new token from a reused one.
 */
export async function harness(options: Partial<ClientOptions> = {}): Promise<Harness> {
  const fake = await FakeServer.start();
  const clock = new ManualClock();
  // Server and client clocks agree unless a test says otherwise: every time is exact.
  fake.serverTime = () => clock.now();
  const tokenCalls: string[] = [];
  const getToken: GetToken = async ({ reason }) => {
    tokenCalls.push(reason);
    return `tok${tokenCalls.length}`;
  };
  const client = createClient({
    url: fake.url,
    getToken,
    WebSocket,
    clock,
    random: () => 0.5,
    reconnect: { initialDelayMs: 100, maxDelayMs: 1000, factor: 2, jitter: 0.5 },
    ...options,
  });
  const events = record(client);
  return {
    fake,
    clock,
    client,
    events,
    tokenCalls,
    async close() {
      const closing = client.close();
      clock.advance(5000);
      await closing;
      await fake.close();
    },
  };
}

/** Connects the harness client and waits for the server-side connection. */
export async function connected(h: Harness) {
  const welcome = await h.client.connect();
  const conn = h.fake.last;
  await eventually(() => conn.welcome !== undefined, 'welcome');
  return { welcome, conn };
}
