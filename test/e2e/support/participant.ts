/**
 * One person in a demo call: a browser context (its own storage, like a separate browser) with
 * the demo page, driven through its real controls. What the tests read comes from the DOM and
 * the <video> elements; `window.__callgate` only adds ids and counters the page does not show.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';

/** What `window.__callgate` holds during a call (apps/demo/public/app.js). */
export interface CallgateSnapshot {
  joined: boolean;
  room?: string;
  relayOnly?: boolean;
  signalState?: string;
  peerId?: string | null;
  sessionId?: string | null;
  peerIds: string[];
  peers?: Record<
    string,
    {
      name: string;
      connectionState: string | null;
      candidateType: string | null;
      relayProtocol: string | null;
      dataChannel: string | null;
      videoWidth: number;
      videoHeight: number;
    }
  >;
  tokenExpiresAt?: number;
  refreshCount?: number;
  messages?: Array<{ from: string; name: string; text: string; at: number }>;
}

/** A tile of the grid as the DOM shows it. */
export interface TileView {
  peerId: string;
  name: string;
  state: string;
  stateText: string;
  pathText: string;
  candidateType: string;
  videoWidth: number;
  videoHeight: number;
  paused: boolean;
}

/** The selected candidate pair of one RTCPeerConnection, read by the test itself. */
export interface PairView {
  connectionState: string;
  iceTransportPolicy: string | undefined;
  localCandidateType: string | null;
  remoteCandidateType: string | null;
  localAddress: string | null;
}

export class Participant {
  /** Console errors, page errors and failed requests, for failure messages. */
  readonly problems: string[] = [];
  readonly log: string[] = [];

  private constructor(
    readonly name: string,
    readonly context: BrowserContext,
    readonly page: Page,
  ) {}

  /**
   * Opens the demo at 1280x800 and joins `room` through the form.
   *
   * @example
   * const ada = await Participant.join(browser, server.url, { name: 'Ada', room: 'r1' });
   */
  static async join(
    browser: Browser,
    baseUrl: string,
    options: {
      name: string;
      room: string;
      relayOnly?: boolean;
      ttlSeconds?: number;
      /** Tokens from a browser session (`?session=1`) instead of /dev/token. */
      session?: boolean;
    },
  ): Promise<Participant> {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    const p = new Participant(options.name, context, page);
    page.on('console', (m) => {
      const line = `[${m.type()}] ${m.text()}`;
      p.log.push(line);
      if (m.type() === 'error') p.problems.push(line);
    });
    page.on('pageerror', (e) => p.problems.push(`[pageerror] ${e.message}`));
    page.on('requestfailed', (r) =>
      p.problems.push(`[requestfailed] ${r.url()} ${r.failure()?.errorText ?? ''}`),
    );
    // tsx (esbuild, keepNames) wraps named functions in the callbacks below in `__name(...)`,
    // which the page does not have: give it an identity one.
    await page.addInitScript({ content: 'globalThis.__name = (fn) => fn;' });
    // Test instrumentation, not the app's: keep every RTCPeerConnection so the test can run
    // getStats() itself instead of trusting the page's own reading.
    await page.addInitScript(() => {
      const Native = window.RTCPeerConnection;
      const all: RTCPeerConnection[] = [];
      Object.defineProperty(window, '__e2ePeerConnections', { value: all });
      window.RTCPeerConnection = class extends Native {
        constructor(config?: RTCConfiguration) {
          super(config);
          all.push(this);
          const n = all.length;
          const log = (what: string) => console.debug(`pc${n} ${what}`);
          this.addEventListener('signalingstatechange', () =>
            log(`signaling ${this.signalingState}`),
          );
          this.addEventListener('connectionstatechange', () =>
            log(`connection ${this.connectionState}`),
          );
          this.addEventListener('icegatheringstatechange', () =>
            log(`gathering ${this.iceGatheringState}`),
          );
          this.addEventListener('negotiationneeded', () => log('negotiationneeded'));
          this.addEventListener('icecandidate', (e) =>
            log(`candidate ${e.candidate?.type ?? 'end'}`),
          );
        }
      } as typeof RTCPeerConnection;
    });
    const params = new URLSearchParams();
    if (options.ttlSeconds !== undefined) params.set('ttl', String(options.ttlSeconds));
    if (options.session) params.set('session', '1');
    const query = params.toString() === '' ? '' : `?${params}`;
    await page.goto(`${baseUrl}/demo/${query}`, { waitUntil: 'load', timeout: 15_000 });
    await page.getByLabel('Your name').fill(options.name);
    await page.getByLabel('Room', { exact: true }).fill(options.room);
    await page.getByRole('switch', { name: 'Relay only' }).setChecked(options.relayOnly ?? false);
    await page.getByRole('button', { name: 'Join' }).click();
    await p.waitFor('joined the room', () => window.__callgate?.joined === true, 15_000);
    return p;
  }

  /** `window.__callgate`, copied out of the page. */
  snapshot(): Promise<CallgateSnapshot> {
    return this.page.evaluate(() => JSON.parse(JSON.stringify(window.__callgate)));
  }

  /** The remote tiles (not the local one) as the DOM shows them. */
  remoteTiles(): Promise<TileView[]> {
    return this.page.evaluate(() =>
      Array.from(document.querySelectorAll<HTMLElement>('#grid .tile'))
        .filter((t) => t.dataset.peerId !== 'local')
        .map((t) => {
          const video = t.querySelector('video')!;
          return {
            peerId: t.dataset.peerId ?? '',
            name: t.querySelector('.tile-name')?.textContent ?? '',
            state: t.dataset.state ?? '',
            stateText: t.querySelector('.badge-state')?.textContent ?? '',
            pathText: t.querySelector('.badge-path')?.textContent ?? '',
            candidateType: t.dataset.candidateType ?? '',
            videoWidth: video.videoWidth,
            videoHeight: video.videoHeight,
            paused: video.paused,
          };
        }),
    );
  }

  /**
   * Whether the remote video of `peerId` is really playing: its size, and over about 1.5 s
   * whether `currentTime` advanced and how many frames `requestVideoFrameCallback` saw.
   */
  videoProgress(peerId: string): Promise<{
    width: number;
    height: number;
    advancedBy: number;
    frames: number;
  }> {
    return this.page.evaluate(async (id) => {
      const tile = Array.from(document.querySelectorAll<HTMLElement>('#grid .tile')).find(
        (t) => t.dataset.peerId === id,
      );
      const video = tile?.querySelector('video');
      if (!video) return { width: 0, height: 0, advancedBy: 0, frames: 0 };
      const t0 = video.currentTime;
      let frames = 0;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 1500);
        const onFrame = () => {
          if (++frames >= 5) {
            clearTimeout(timer);
            resolve();
          } else video.requestVideoFrameCallback(onFrame);
        };
        video.requestVideoFrameCallback(onFrame);
      });
      await new Promise((r) => setTimeout(r, 200));
      return {
        width: video.videoWidth,
        height: video.videoHeight,
        advancedBy: video.currentTime - t0,
        frames,
      };
    }, peerId);
  }

  /** The selected candidate pair of every open RTCPeerConnection, from the test's own getStats(). */
  selectedPairs(): Promise<PairView[]> {
    return this.page.evaluate(async () => {
      const all = (window as unknown as { __e2ePeerConnections: RTCPeerConnection[] })
        .__e2ePeerConnections;
      const out: PairView[] = [];
      for (const pc of all) {
        if (pc.connectionState === 'closed') continue;
        const stats = new Map<string, Record<string, unknown>>();
        (await pc.getStats()).forEach((s: Record<string, unknown>) => stats.set(s.id as string, s));
        const transport = [...stats.values()].find(
          (s) => s.type === 'transport' && s.selectedCandidatePairId,
        );
        const pair = transport ? stats.get(transport.selectedCandidatePairId as string) : undefined;
        const local = pair ? stats.get(pair.localCandidateId as string) : undefined;
        const remote = pair ? stats.get(pair.remoteCandidateId as string) : undefined;
        out.push({
          connectionState: pc.connectionState,
          iceTransportPolicy: pc.getConfiguration().iceTransportPolicy,
          localCandidateType: (local?.candidateType as string) ?? null,
          remoteCandidateType: (remote?.candidateType as string) ?? null,
          localAddress: (local?.address as string) ?? null,
        });
      }
      return out;
    });
  }

  /** Types `text` into the chat and presses Send. */
  async sendChat(text: string): Promise<void> {
    const input = this.page.getByLabel('Message', { exact: true });
    await input.fill(text);
    await this.page.getByRole('button', { name: 'Send' }).click();
  }

  /** The chat log as shown: "name: text" per line. */
  chatLines(): Promise<string[]> {
    return this.page.evaluate(() =>
      Array.from(document.querySelectorAll('#chat-log li')).map(
        (li) =>
          `${li.querySelector('strong')?.textContent ?? ''}: ${li.querySelector('.chat-text')?.textContent ?? ''}`,
      ),
    );
  }

  /** The status area's text for one label ("Token refreshes", "Signaling", ...). */
  statusText(label: string): Promise<string> {
    return this.page.evaluate((l) => {
      const dt = Array.from(document.querySelectorAll('.status dt')).find(
        (d) => d.textContent === l,
      );
      return dt?.nextElementSibling?.textContent?.trim() ?? '';
    }, label);
  }

  /**
   * Polls `predicate` in the page until it is true; on timeout the error says what was awaited
   * and shows the page's state and problems.
   */
  async waitFor<A>(
    what: string,
    predicate: (arg: A) => boolean,
    timeoutMs: number,
    arg?: A,
  ): Promise<void> {
    try {
      await this.page.waitForFunction(predicate as (arg: unknown) => boolean, arg, {
        timeout: timeoutMs,
        polling: 200,
      });
    } catch (error) {
      throw await this.explain(
        `${this.name}: timed out after ${timeoutMs} ms waiting until ${what}`,
        error,
      );
    }
  }

  /** An Error with the page's state and problems appended. */
  async explain(message: string, cause?: unknown): Promise<Error> {
    let state = '(page gone)';
    try {
      state = JSON.stringify(await this.snapshot(), null, 1);
    } catch {
      // the page is closed
    }
    return new Error(
      `${message}\n--- window.__callgate ---\n${state}\n--- problems ---\n${this.problems.join('\n')}\n--- console (last 80) ---\n${this.log.slice(-80).join('\n')}`,
      { cause },
    );
  }

  async screenshot(path: string): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    await this.page.screenshot({ path, fullPage: false });
  }

  async close(): Promise<void> {
    await this.context.close().catch(() => {});
  }
}

declare global {
  interface Window {
    __callgate?: CallgateSnapshot;
  }
}
