/**
 * Debian's Chromium for the browser tests, driven by playwright-core. No browser is ever
 * downloaded: the tests use /usr/bin/chromium, install Debian's package when it is missing and
 * the tests run as root, and otherwise fail with the exact command to run. They never skip.
 */
import { chromium, type Browser } from 'playwright-core';
import { aptInstall, isExecutable } from '../../../packages/server/test/support/debian-package.js';

export const CHROMIUM_PATH = '/usr/bin/chromium';

/** The command a developer runs when the tests cannot install Chromium by themselves. */
export const CHROMIUM_INSTALL_COMMAND = 'sudo apt-get update && sudo apt-get install -y chromium';

/**
 * Flags for a headless Chromium on a machine without network access beyond loopback:
 *
 * - fake camera and microphone (a test pattern and a beep) and no permission prompt;
 * - no GPU, no QUIC, no first-run, background networking, component updates or sync: each would
 *   try to reach Google's hosts, which this machine cannot;
 * - `--allow-loopback-in-peer-connection`: ICE also gathers 127.0.0.1 host candidates, so a
 *   direct call connects even on a machine whose only interface is loopback;
 * - autoplay with sound without a gesture, so a remote tile never falls back to muted.
 *
 * Playwright's `launch()` gives every browser a fresh temporary `--user-data-dir` and removes
 * it on `close()`.
 */
export const CHROMIUM_ARGS = [
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--allow-loopback-in-peer-connection',
  '--autoplay-policy=no-user-gesture-required',
] as const;

let installing: Promise<string> | undefined;

/** The path of Debian's Chromium, installing the package once when missing and running as root. */
export function ensureChromium(): Promise<string> {
  installing ??= (async () => {
    if (isExecutable(CHROMIUM_PATH)) return CHROMIUM_PATH;
    await aptInstall({ name: 'chromium', installCommand: CHROMIUM_INSTALL_COMMAND });
    if (!isExecutable(CHROMIUM_PATH))
      throw new Error(
        `chromium installed but ${CHROMIUM_PATH} is missing. Run: ${CHROMIUM_INSTALL_COMMAND}`,
      );
    return CHROMIUM_PATH;
  })();
  return installing;
}

/**
 * Starts headless Chromium with {@link CHROMIUM_ARGS}.
 *
 * @example
 * const browser = await launchChromium();
 * after(() => browser.close());
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = await ensureChromium();
  return chromium.launch({
    executablePath,
    headless: true,
    args: [...CHROMIUM_ARGS],
    timeout: 30_000,
  });
}
