/**
 * Issue 5 in a real browser: the demo page served by a dev-mode server, two and three Chromium
 * pages (each its own browser context with a fake camera) calling each other through the SDK.
 * Everything asserted is read from the DOM, the <video> elements and the test's own getStats();
 * `window.__callgate` supplies ids and counters only.
 *
 * Screenshots of the calls land in test-output/e2e/ (gitignored).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser } from 'playwright-core';
import { launchChromium } from './support/chromium.js';
import { buildSdk, startDemoServer, startRelayedDemo } from './support/demo-server.js';
import { Participant } from './support/participant.js';

const OUTPUT = fileURLToPath(new URL('../../test-output/e2e/', import.meta.url));
/** Token lifetime asked of /dev/token (?ttl=): the SDK refreshes at 80%, about 9.6 s in. */
const TTL_SECONDS = 12;
const CONNECT_MS = 30_000;

const room = (label: string) => `e2e-${label}-${randomBytes(4).toString('hex')}`;

describe('demo page in Chromium', { timeout: 900_000 }, () => {
  let browser: Browser;
  const open: Participant[] = [];

  before(
    async () => {
      await buildSdk();
      browser = await launchChromium();
    },
    { timeout: 900_000 }, // a first run may apt-get install chromium
  );
  after(async () => {
    for (const p of open.splice(0)) await p.close();
    await browser?.close();
  });

  async function enter(
    baseUrl: string,
    options: Parameters<typeof Participant.join>[2],
  ): Promise<Participant> {
    const p = await Participant.join(browser, baseUrl, options);
    open.push(p);
    return p;
  }

  /** Waits until `p` shows `count` remote tiles, each connected with a decoded picture. */
  async function waitForRemoteVideos(p: Participant, count: number): Promise<void> {
    await p.waitFor(
      `${count} remote tile(s) are connected and show video`,
      (n) => {
        const tiles = Array.from(document.querySelectorAll<HTMLElement>('#grid .tile')).filter(
          (t) => t.dataset.peerId !== 'local',
        );
        return (
          tiles.length === n &&
          tiles.every(
            (t) =>
              t.dataset.state === 'connected' && (t.querySelector('video')?.videoWidth ?? 0) > 0,
          )
        );
      },
      CONNECT_MS,
      count,
    );
  }

  /** Asserts that `viewer` shows `sender`'s video with frames advancing. */
  async function assertPlaying(viewer: Participant, senderPeerId: string): Promise<void> {
    const progress = await viewer.videoProgress(senderPeerId);
    assert.ok(progress.width > 0 && progress.height > 0, `${viewer.name}: video has no size`);
    assert.ok(
      progress.advancedBy > 0 && progress.frames >= 2,
      `${viewer.name}: video of ${senderPeerId} is not advancing: ${JSON.stringify(progress)}`,
    );
  }

  async function peerIdOf(p: Participant): Promise<string> {
    const id = (await p.snapshot()).peerId;
    assert.ok(id, `${p.name} has no peer id`);
    return id;
  }

  function assertNoProblems(...people: Participant[]): void {
    for (const p of people)
      assert.deepEqual(
        p.problems.filter((line) => !/favicon/.test(line)),
        [],
        `${p.name} logged problems`,
      );
  }

  test(
    'two pages: video both ways, a data-channel message, a token refresh mid-call',
    { timeout: 120_000 },
    async (t) => {
      const server = await startDemoServer();
      t.after(() => server.close());
      const name = room('pair');
      const ada = await enter(server.url, { name: 'Ada', room: name, ttlSeconds: TTL_SECONDS });
      const grace = await enter(server.url, { name: 'Grace', room: name, ttlSeconds: TTL_SECONDS });
      t.after(() => Promise.all([ada.close(), grace.close()]));

      await waitForRemoteVideos(ada, 1);
      await waitForRemoteVideos(grace, 1);
      const adaId = await peerIdOf(ada);
      const graceId = await peerIdOf(grace);

      // Each shows the other: the tile names the other person and carries their peer id.
      const [adaSees] = await ada.remoteTiles();
      const [graceSees] = await grace.remoteTiles();
      assert.equal(adaSees?.peerId, graceId);
      assert.equal(adaSees?.name, 'Grace');
      assert.equal(adaSees?.stateText, 'connected');
      assert.equal(graceSees?.peerId, adaId);
      assert.equal(graceSees?.name, 'Ada');
      await assertPlaying(ada, graceId);
      await assertPlaying(grace, adaId);

      // The path badge and the test's own getStats() agree on a direct path.
      await ada.waitFor(
        'the path badge says direct',
        () =>
          Array.from(document.querySelectorAll<HTMLElement>('#grid .tile')).some(
            (t) => t.dataset.path === 'direct',
          ),
        10_000,
      );
      const [pair] = await ada.selectedPairs();
      assert.ok(pair, 'Ada has no open RTCPeerConnection');
      assert.equal(pair.connectionState, 'connected');
      assert.notEqual(pair.localCandidateType, 'relay');
      assert.equal((await ada.remoteTiles())[0]?.candidateType, pair.localCandidateType);

      // A data-channel message crosses, shown in the chat and recorded with its sender.
      await ada.waitFor(
        'the chat can send',
        () => !(document.getElementById('chat-send') as HTMLButtonElement).disabled,
        10_000,
      );
      await ada.sendChat('Hello from Ada over the data channel');
      await grace.waitFor(
        'the chat message arrived',
        () => document.querySelector('#chat-log')?.textContent?.includes('Hello from Ada') === true,
        10_000,
      );
      assert.deepEqual(await grace.chatLines(), ['Ada: Hello from Ada over the data channel']);
      const received = (await grace.snapshot()).messages ?? [];
      assert.deepEqual(
        received.map((m) => [m.from, m.name, m.text]),
        [[adaId, 'Ada', 'Hello from Ada over the data channel']],
      );

      // A silent token refresh: the counter moves, the expiry moves later, the call stays up.
      const before = await Promise.all([ada.snapshot(), grace.snapshot()]);
      for (const p of [ada, grace]) await p.page.evaluate(watchTiles);
      for (const p of [ada, grace])
        await p.waitFor(
          'a token refresh is shown',
          () => Number(document.getElementById('status-refreshes')?.dataset.count) >= 1,
          TTL_SECONDS * 1000 + 10_000,
        );
      for (const [i, p] of [ada, grace].entries()) {
        const now = await p.snapshot();
        assert.ok((now.refreshCount ?? 0) >= 1);
        assert.match(await p.statusText('Token refreshes'), /^[1-9]\d* \(last /);
        assert.ok(
          (now.tokenExpiresAt ?? 0) > (before[i]!.tokenExpiresAt ?? 0),
          `${p.name}: the expiry did not move`,
        );
        assert.equal(now.peerId, before[i]!.peerId, `${p.name}: the peer id changed`);
        assert.equal(now.signalState, 'connected');
        assert.equal(await p.statusText('Signaling'), 'connected');
        const changes = await p.page.evaluate(
          () => (window as unknown as { __e2eTileChanges: string[] }).__e2eTileChanges,
        );
        assert.deepEqual(changes, [], `${p.name}: the call wobbled during the refresh`);
      }
      const [adaAfter] = await ada.remoteTiles();
      assert.equal(adaAfter?.peerId, graceId);
      assert.equal(adaAfter?.state, 'connected');
      assert.equal((await ada.selectedPairs())[0]?.connectionState, 'connected');
      await assertPlaying(ada, graceId);
      await assertPlaying(grace, adaId);

      await ada.screenshot(join(OUTPUT, 'demo-two-pages.png'));
      assertNoProblems(ada, grace);
    },
  );

  test('relay only: the call goes through a real coturn', { timeout: 120_000 }, async (t) => {
    const relayed = await startRelayedDemo();
    t.after(() => relayed.close());
    const url = relayed.server.url;
    const name = room('relay');
    const ada = await enter(url, { name: 'Ada', room: name, relayOnly: true });
    const grace = await enter(url, { name: 'Grace', room: name, relayOnly: true });
    t.after(() => Promise.all([ada.close(), grace.close()]));

    await waitForRemoteVideos(ada, 1);
    await waitForRemoteVideos(grace, 1);
    const adaId = await peerIdOf(ada);
    const graceId = await peerIdOf(grace);
    await assertPlaying(ada, graceId);
    await assertPlaying(grace, adaId);

    for (const p of [ada, grace]) {
      const pairs = await p.selectedPairs();
      assert.equal(pairs.length, 1, `${p.name}: one peer connection`);
      assert.equal(pairs[0]!.iceTransportPolicy, 'relay');
      assert.equal(pairs[0]!.connectionState, 'connected');
      assert.equal(pairs[0]!.localCandidateType, 'relay', `${p.name}: ${JSON.stringify(pairs)}`);
      // The page's badge says the same.
      await p.waitFor(
        'the path badge says relayed',
        () =>
          Array.from(document.querySelectorAll<HTMLElement>('#grid .tile')).some(
            (tile) => tile.dataset.candidateType === 'relay',
          ),
        10_000,
      );
      const [tile] = await p.remoteTiles();
      assert.match(tile?.pathText ?? '', /^relayed · TURN\/udp/);
      const snap = await p.snapshot();
      assert.equal(snap.relayOnly, true);
      assert.equal(Object.values(snap.peers ?? {})[0]?.candidateType, 'relay');
    }
    // coturn saw the allocations.
    assert.match(relayed.coturn.readLog(), /ALLOCATE/);
    await ada.screenshot(join(OUTPUT, 'demo-relay-only.png'));

    // The switch in the status panel, mid-call: each side rebuilds its connection with the
    // other policy; the signaling peers stay the same. Both off: a direct path.
    for (const p of [ada, grace]) {
      const relaySwitch = p.page.getByRole('switch', { name: 'Relay only', exact: true });
      assert.equal(await relaySwitch.getAttribute('aria-checked'), 'true');
      await relaySwitch.click();
      assert.equal(await relaySwitch.getAttribute('aria-checked'), 'false');
    }
    await waitForRemoteVideos(ada, 1);
    await waitForRemoteVideos(grace, 1);
    for (const [p, other] of [
      [ada, graceId],
      [grace, adaId],
    ] as const) {
      await p.waitFor(
        'the path badge says direct',
        () =>
          Array.from(document.querySelectorAll<HTMLElement>('#grid .tile')).some(
            (tile) => tile.dataset.path === 'direct',
          ),
        10_000,
      );
      const pairs = await p.selectedPairs();
      assert.equal(pairs.length, 1, `${p.name}: one open peer connection after the switch`);
      assert.equal(pairs[0]!.iceTransportPolicy, 'all');
      assert.notEqual(pairs[0]!.localCandidateType, 'relay');
      assert.notEqual(pairs[0]!.remoteCandidateType, 'relay');
      assert.equal((await p.remoteTiles())[0]?.peerId, other);
      assert.equal((await p.snapshot()).relayOnly, false);
      await assertPlaying(p, other);
    }
    assert.equal(await peerIdOf(ada), adaId);
    assert.equal(await peerIdOf(grace), graceId);
    assertNoProblems(ada, grace);
  });

  test(
    'three pages form a full mesh; a page that closes disappears from the others',
    { timeout: 120_000 },
    async (t) => {
      const server = await startDemoServer();
      t.after(() => server.close());
      const name = room('mesh');
      const ada = await enter(server.url, { name: 'Ada', room: name });
      const grace = await enter(server.url, { name: 'Grace', room: name });
      const linus = await enter(server.url, { name: 'Linus', room: name });
      t.after(() => Promise.all([ada.close(), grace.close(), linus.close()]));
      const people = [ada, grace, linus];
      for (const p of people) await waitForRemoteVideos(p, 2);
      const ids = await Promise.all(people.map(peerIdOf));
      for (const [i, p] of people.entries()) {
        const others = ids.filter((_, j) => j !== i).sort();
        const tiles = await p.remoteTiles();
        assert.deepEqual(tiles.map((tile) => tile.peerId).sort(), others);
        for (const other of others) await assertPlaying(p, other);
      }
      await grace.sendChat('Hi both, the mesh works');
      await ada.waitFor(
        'the chat message arrived',
        () => document.querySelector('#chat-log')?.textContent?.includes('mesh works') === true,
        10_000,
      );
      await ada.screenshot(join(OUTPUT, 'demo-mesh.png'));

      // Linus closes his tab: the others drop his tile and keep each other.
      const linusId = ids[2]!;
      await linus.page.close({ runBeforeUnload: true });
      for (const p of [ada, grace]) {
        await p.waitFor(
          `the tile of ${linusId} is gone`,
          (id) =>
            !Array.from(document.querySelectorAll<HTMLElement>('#grid .tile')).some(
              (tile) => tile.dataset.peerId === id,
            ),
          15_000,
          linusId,
        );
        const tiles = await p.remoteTiles();
        assert.equal(tiles.length, 1);
        assert.equal(tiles[0]!.state, 'connected');
        assert.ok(!(await p.snapshot()).peerIds.includes(linusId));
      }
      await assertPlaying(ada, ids[1]!);
      await assertPlaying(grace, ids[0]!);
      assertNoProblems(ada, grace);
    },
  );
});

/** Test instrumentation: records every tile state change and removal from now on. */
function watchTiles(): void {
  const changes: string[] = [];
  Object.defineProperty(window, '__e2eTileChanges', { value: changes, configurable: true });
  const grid = document.getElementById('grid')!;
  new MutationObserver((records) => {
    for (const r of records) {
      if (
        r.type === 'attributes' &&
        r.target instanceof HTMLElement &&
        r.target.classList.contains('tile') &&
        r.oldValue !== r.target.dataset.state
      )
        changes.push(`${r.target.dataset.peerId} state ${r.oldValue} -> ${r.target.dataset.state}`);
      for (const node of Array.from(r.removedNodes))
        if (node instanceof HTMLElement) changes.push(`${node.dataset.peerId} removed`);
    }
  }).observe(grid, {
    subtree: true,
    childList: true,
    attributes: true,
    attributeFilter: ['data-state'],
    attributeOldValue: true,
  });
}
