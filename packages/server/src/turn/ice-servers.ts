/**
 * `RTCIceServer` entries for browsers, from the configured STUN/TURN URLs (RFC 7064, RFC 7065)
 * and one set of TURN REST credentials.
 */
import type { TurnCredentials } from './mint-turn-credentials.js';

/** One entry of `RTCConfiguration.iceServers` (W3C webrtc-pc §4.2.4). */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

// RFC 7064 §3.1 / RFC 7065 §3.1:
//   stunURI = scheme ":" host [ ":" port ]
//   turnURI = scheme ":" host [ ":" port ] [ "?transport=" transport ]
// host is an IP-literal in brackets, an IPv4 address or a DNS name (a reg-name without
// percent-encoding: browsers reject anything fancier). No "//", no userinfo, no path.
const URL_RE =
  /^(stuns?|turns?):(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d{1,5}))?(?:\?(.*))?$/;
const IPV4_RE = /^\d{1,3}(?:\.\d{1,3}){3}$/;

/**
 * Checks one configured ICE server URL: scheme `stun`, `stuns`, `turn` or `turns`, a host, an
 * optional port 1..65535 and, for TURN only, an optional `?transport=udp|tcp`. Returns a
 * message describing the problem, or `null` when the URL is fine (config validation reports the
 * message with its dotted path).
 *
 * @example
 * validateTurnUrl('turn:turn.example.com:3478?transport=udp'); // null
 * validateTurnUrl('turn://turn.example.com');                  // 'must not contain "//" ...'
 */
export function validateTurnUrl(url: string): string | null {
  if (typeof url !== 'string' || url.length === 0) return 'must be a non-empty string';
  if (url.length > 256) return 'must be at most 256 characters';
  const scheme = /^([A-Za-z]+):/.exec(url)?.[1];
  if (scheme === undefined || !['stun', 'stuns', 'turn', 'turns'].includes(scheme)) {
    return 'must start with stun:, stuns:, turn: or turns:';
  }
  if (url.startsWith(`${scheme}://`)) {
    return `must not contain "//" (write ${scheme}:host:port, RFC 7064/7065)`;
  }
  const match = URL_RE.exec(url);
  if (!match) return 'must be <scheme>:<host>[:<port>][?transport=udp|tcp]';
  const [, , host = '', port, query] = match;
  if (host.startsWith('[')) {
    if (!/^\[[0-9A-Fa-f:]*:[0-9A-Fa-f:.]*\]$/.test(host)) return 'has a malformed IPv6 literal';
  } else if (IPV4_RE.test(host) && host.split('.').some((octet) => Number(octet) > 255)) {
    return 'has a malformed IPv4 address';
  }
  if (port !== undefined && (Number(port) < 1 || Number(port) > 65535)) {
    return 'port must be 1..65535';
  }
  if (query !== undefined) {
    if (scheme === 'stun' || scheme === 'stuns') return 'a stun: URL takes no query (RFC 7064)';
    if (query !== 'transport=udp' && query !== 'transport=tcp') {
      return 'the only query allowed is ?transport=udp or ?transport=tcp';
    }
  }
  return null;
}

/**
 * Builds `iceServers` for `new RTCPeerConnection({ iceServers })`: one entry with all `stun:`
 * and `stuns:` URLs and no credentials, then one entry with all `turn:` and `turns:` URLs and
 * the TURN REST credentials. Entries without URLs are left out; URL order is kept. Throws
 * `TypeError` for an invalid URL (config validation should have refused it already).
 *
 * @example
 * buildIceServers(creds, ['stun:turn.example.com:3478', 'turn:turn.example.com:3478?transport=udp']);
 * // [ { urls: ['stun:turn.example.com:3478'] },
 * //   { urls: ['turn:turn.example.com:3478?transport=udp'], username: '1767229200:abc', credential: '...' } ]
 */
const validUrls = new Set<string>();

export function buildIceServers(
  creds: Pick<TurnCredentials, 'username' | 'credential'>,
  urls: readonly string[],
): IceServer[] {
  const stun: string[] = [];
  const turn: string[] = [];
  urls.forEach((url, index) => {
    // The configured URLs come here for every welcome and refresh: each is validated once.
    if (!validUrls.has(url)) {
      const problem = validateTurnUrl(url);
      if (problem !== null) throw new TypeError(`"urls[${index}]" ${problem}`);
      if (validUrls.size < 256) validUrls.add(url);
    }
    (url.startsWith('turn') ? turn : stun).push(url);
  });
  const servers: IceServer[] = [];
  if (stun.length > 0) servers.push({ urls: stun });
  if (turn.length > 0) {
    servers.push({ urls: turn, username: creds.username, credential: creds.credential });
  }
  return servers;
}
