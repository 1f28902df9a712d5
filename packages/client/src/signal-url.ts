/** The signaling path of `callgate.v1` (design.md "Connect"). */
export const SIGNAL_PATH = '/v1/signal';

/**
 * Normalises the `url` option: a `ws:`/`wss:` URL of `/v1/signal`, or a base URL whose empty
 * path gets `/v1/signal` appended. `http:`/`https:` become `ws:`/`wss:`. Throws a `TypeError`
 * naming the option for anything else.
 *
 * @example
 * ```ts
 * signalUrl('wss://callgate.example'); // 'wss://callgate.example/v1/signal'
 * signalUrl('https://callgate.example/'); // 'wss://callgate.example/v1/signal'
 * signalUrl('wss://example.com/rtc/v1/signal'); // unchanged
 * ```
 */
export function signalUrl(input: string): string {
  let url: URL;
  try {
    url = new URL(input);
  } catch (cause) {
    throw new TypeError('"url" option must be an absolute ws:, wss:, http: or https: URL', {
      cause,
    });
  }
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new TypeError('"url" option must be an absolute ws:, wss:, http: or https: URL');
  }
  if (url.hash !== '') throw new TypeError('"url" option must not have a fragment');
  if (url.pathname === '' || url.pathname === '/') url.pathname = SIGNAL_PATH;
  return url.toString();
}
