/**
 * The coturn configuration that matches Callgate's TURN settings (design.md "TURN
 * credentials"), printed by `callgate coturn-config`. Written against coturn 4.6.1 (Debian
 * bookworm's package); every option below exists there.
 */
import { TURN_SECRET_MIN_BYTES } from './mint-turn-credentials.js';

/** Options of {@link renderCoturnConfig}. */
export interface RenderCoturnConfigOptions {
  /** `turn.secrets`, newest (the signing one) first. Each at least 32 bytes, no whitespace. */
  secrets: readonly string[];
  /** The TURN realm (coturn requires one in REST mode). */
  realm: string;
  /** UDP/TCP listening port; default 3478 (RFC 8489 §7.2.1). */
  listeningPort?: number;
  /** Extra lines appended verbatim after the baseline (one option per line). */
  extraLines?: readonly string[];
}

/**
 * Peers the relay must never reach: private, loopback, link-local and other special-purpose
 * ranges (IANA IPv4/IPv6 Special-Purpose Address Registries), so a TURN credential cannot be
 * used to probe the relay's own network (the "TURN as SSRF" class of attacks). coturn takes
 * ranges as `first-last`, not CIDR. Multicast is refused by `no-multicast-peers`; the
 * unspecified address (0.0.0.0, ::) is always refused by coturn.
 */
export const DENIED_PEER_RANGES: readonly string[] = [
  '0.0.0.0-0.255.255.255', // 0.0.0.0/8 "this network"
  '10.0.0.0-10.255.255.255', // 10/8 private (RFC 1918)
  '100.64.0.0-100.127.255.255', // 100.64/10 carrier-grade NAT (RFC 6598)
  '127.0.0.0-127.255.255.255', // 127/8 loopback
  '169.254.0.0-169.254.255.255', // 169.254/16 link-local, cloud metadata endpoints
  '172.16.0.0-172.31.255.255', // 172.16/12 private (RFC 1918)
  '192.0.0.0-192.0.0.255', // 192.0.0/24 IETF protocol assignments
  '192.0.2.0-192.0.2.255', // 192.0.2/24 TEST-NET-1
  '192.88.99.0-192.88.99.255', // 192.88.99/24 6to4 relay anycast (deprecated)
  '192.168.0.0-192.168.255.255', // 192.168/16 private (RFC 1918)
  '198.18.0.0-198.19.255.255', // 198.18/15 benchmarking
  '198.51.100.0-198.51.100.255', // 198.51.100/24 TEST-NET-2
  '203.0.113.0-203.0.113.255', // 203.0.113/24 TEST-NET-3
  '240.0.0.0-255.255.255.255', // 240/4 reserved, and the broadcast address
  '::1', // IPv6 loopback
  '::ffff:0.0.0.0-::ffff:255.255.255.255', // IPv4-mapped: would reach the IPv4 ranges above
  '64:ff9b::-64:ff9b::ffff:ffff', // NAT64 well-known prefix: likewise
  '64:ff9b:1::-64:ff9b:1:ffff:ffff:ffff:ffff:ffff', // local-use NAT64 (RFC 8215)
  '100::-100::ffff:ffff:ffff:ffff', // discard-only (RFC 6666)
  '2001::-2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff', // IETF protocol assignments, Teredo
  '2001:db8::-2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', // documentation
  '2002::-2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff', // 6to4: embeds an IPv4 address
  'fc00::-fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', // fc00::/7 unique local
  'fe80::-febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff', // fe80::/10 link-local
];

// coturn's config reader (mainrelay.c read_config_file) splits "name value" at the first run of
// spaces, tabs or '=', strips one pair of '"', trims trailing whitespace and treats a line that
// starts with '#' as a comment. A value made of printable ASCII without spaces, quotes or
// backslashes, not starting with '=' or '#', survives that unchanged.
const SAFE_VALUE_RE = /^[\x21-\x7e]+$/;
const UNSAFE_START_RE = /^[=#"]/;

/**
 * Renders coturn 4.6.1 configuration lines for Callgate's TURN REST credentials plus a hardened
 * baseline. The output contains the secrets: write it to a file readable only by coturn.
 * Throws `TypeError`/`RangeError` naming the option on misuse (never echoing a secret).
 *
 * @example
 * const text = renderCoturnConfig({ secrets: config.turn.secrets, realm: 'turn.example.com' });
 * await writeFile('/etc/turnserver.conf', text, { mode: 0o600 });
 */
export function renderCoturnConfig(options: RenderCoturnConfigOptions): string {
  const { secrets, realm, listeningPort = 3478, extraLines = [] } = options;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new TypeError('"secrets" option must be a non-empty array of strings');
  }
  secrets.forEach((secret: unknown, i) => {
    if (typeof secret !== 'string' || !SAFE_VALUE_RE.test(secret) || /["'\\]/.test(secret)) {
      throw new TypeError(
        `"secrets[${i}]" must be printable ASCII without whitespace, quotes or backslashes`,
      );
    }
    if (UNSAFE_START_RE.test(secret)) {
      throw new TypeError(`"secrets[${i}]" must not start with "=", "#" or a quote`);
    }
    if (secret.length < TURN_SECRET_MIN_BYTES) {
      throw new RangeError(`"secrets[${i}]" must be at least ${TURN_SECRET_MIN_BYTES} bytes`);
    }
    if (secret.length > 512) throw new RangeError(`"secrets[${i}]" must be at most 512 bytes`);
    if (secrets.indexOf(secret) !== i) throw new TypeError(`"secrets[${i}]" is a duplicate`);
  });
  // coturn refuses realms with whitespace, quotes or backslashes (is_secure_string).
  if (
    typeof realm !== 'string' ||
    realm.length > 127 ||
    !SAFE_VALUE_RE.test(realm) ||
    /["'\\]/.test(realm) ||
    UNSAFE_START_RE.test(realm)
  ) {
    throw new TypeError(
      '"realm" option must be 1..127 printable ASCII characters without whitespace or quotes',
    );
  }
  if (!Number.isInteger(listeningPort) || listeningPort < 1 || listeningPort > 65535) {
    throw new RangeError('"listeningPort" option must be an integer from 1 to 65535');
  }
  extraLines.forEach((line, i) => {
    if (typeof line !== 'string' || /[\r\n]/.test(line)) {
      throw new TypeError(`"extraLines[${i}]" must be a single line`);
    }
  });

  const lines = [
    '# Generated by `callgate coturn-config` for coturn 4.6.1.',
    '# SENSITIVE: contains the TURN REST shared secrets. Keep this file readable only by coturn.',
    '',
    '# TURN REST credentials (draft-uberti-behave-turn-rest-00): username "<expiry>:<id>",',
    '# password base64(HMAC-SHA1(secret, username)). Every secret is accepted; the newest comes',
    '# first because Callgate signs with it. To rotate: add the new secret here, reload coturn,',
    '# make it primary in Callgate, wait one TTL, then remove the old one here.',
    'use-auth-secret',
    ...secrets.map((secret) => `static-auth-secret=${secret}`),
    `realm=${realm}`,
    '',
    `listening-port=${listeningPort}`,
    '',
    '# Hardened baseline.',
    '# FINGERPRINT on every message, so STUN is told apart from media (RFC 8489 §14.7).',
    'fingerprint',
    '# A nonce lives 10 minutes; then the client re-authenticates after a 438 (RFC 8489 §9.2).',
    'stale-nonce=600',
    '# At most 12 simultaneous allocations per user; coturn counts the part after the expiry,',
    '# i.e. per Callgate session across credential refreshes (486 past it). A mesh call with a',
    '# few peers and ICE restarts fits; a leaked credential cannot open hundreds.',
    'user-quota=12',
    '# At most 1200 allocations on this relay in total (about 100 sessions at the per-user cap).',
    'total-quota=1200',
    '# coturn counts BYTES per second, per allocation and per direction: 1250000 B/s = 10 Mbit/s,',
    '# several times a 1080p video call, a low ceiling for a relay abused as a bandwidth pump.',
    'max-bps=1250000',
    '# Browsers only ever ask for UDP allocations; TCP relaying (RFC 6062) is attack surface only.',
    'no-tcp-relay',
    '# Never relay to multicast, loopback, private or other special-purpose addresses.',
    'no-multicast-peers',
    ...DENIED_PEER_RANGES.map((range) => `denied-peer-ip=${range}`),
    '# No telnet admin CLI (it is on by default, on 127.0.0.1:5766).',
    'no-cli',
    '# TLS 1.2 or later on turns: listeners.',
    'no-tlsv1',
    'no-tlsv1_1',
  ];
  if (extraLines.length > 0) lines.push('', '# Extra lines.', ...extraLines);
  return `${lines.join('\n')}\n`;
}
