import { BlockList, isIP } from 'node:net';
import { lookup as dnsLookup } from 'node:dns';

/** What an address is, for the outbound-request policy (catalogue C40, OWASP SSRF). */
export type AddressClass = 'public' | 'loopback' | 'private';

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

// Everything that is not a globally routable unicast address: RFC 6890 special-purpose ranges,
// private (RFC 1918, RFC 4193), shared (RFC 6598), link-local (where cloud metadata services
// live: 169.254.169.254, fd00:ec2::254), multicast, documentation and reserved ranges, and the
// IPv6 forms that embed an IPv4 address (NAT64, 6to4, Teredo), which could smuggle one of the
// above past an IPv4-only check. IPv4-mapped addresses (`::ffff:a.b.c.d`) need no entry:
// BlockList checks them as the IPv4 address they carry (and an entry for `::ffff:0:0/96`
// would match every IPv4 address).
const NON_PUBLIC = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv4');
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['64:ff9b::', 96],
  ['64:ff9b:1::', 48],
  ['100::', 64],
  ['2001::', 32],
  ['2001:db8::', 32],
  ['2002::', 16],
  ['fc00::', 7],
  ['fe80::', 10],
  ['fec0::', 10],
  ['ff00::', 8],
] as const)
  NON_PUBLIC.addSubnet(net, prefix, 'ipv6');

/**
 * Classifies a literal IP address. IPv4-mapped IPv6 (`::ffff:127.0.0.1`) is classified as the
 * IPv4 address it carries. Not an IP address: `undefined`.
 *
 * @example
 * ```ts
 * classifyAddress('169.254.169.254'); // 'private'
 * classifyAddress('::1');             // 'loopback'
 * ```
 */
export function classifyAddress(address: string): AddressClass | undefined {
  const bare = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address;
  const family = isIP(bare);
  if (family === 0) return undefined;
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  if (mapped) return classifyAddress(mapped[1]!);
  if (LOOPBACK.check(bare, type)) return 'loopback';
  return NON_PUBLIC.check(bare, type) ? 'private' : 'public';
}

/** `localhost` and `*.localhost` always resolve to loopback (RFC 6761 §6.3). */
export function isLocalhostName(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/\.$/, '');
  return h === 'localhost' || h.endsWith('.localhost');
}

/** May an outbound request go to this address? Public always; loopback only when allowed. */
export function isAllowedAddress(address: string, allowLoopback: boolean): boolean {
  const c = classifyAddress(address);
  return c === 'public' || (c === 'loopback' && allowLoopback);
}

/** `dns.lookup`'s shape with `{ all: true }`. */
export type LookupAll = (hostname: string) => Promise<Array<{ address: string; family: number }>>;

export const systemLookupAll: LookupAll = (hostname) =>
  new Promise((resolve, reject) =>
    dnsLookup(hostname, { all: true, verbatim: true }, (err, addresses) =>
      err ? reject(err) : resolve(addresses),
    ),
  );

/** Thrown when a host name resolves to an address the policy refuses. */
export class AddressPolicyError extends Error {
  readonly code = 'ERR_ADDRESS_REFUSED';
  constructor(message: string) {
    super(message);
    this.name = 'AddressPolicyError';
  }
}

type LookupCallback = (
  err: NodeJS.ErrnoException | null,
  address: string | Array<{ address: string; family: number }>,
  family?: number,
) => void;

/**
 * A `lookup` for `http.request` that refuses, at connect time, a name resolving to any address
 * the policy forbids. Checking the address actually connected to (not only the one seen at
 * startup) is what defeats DNS rebinding: a name that resolved to a public address at startup
 * and to 169.254.169.254 later is refused later. A name resolving to a mix is refused whole.
 */
export function guardedLookup(allowLoopback: boolean, lookupAll: LookupAll = systemLookupAll) {
  return (hostname: string, options: { all?: boolean } | number, callback: LookupCallback) => {
    lookupAll(hostname).then(
      (addresses) => {
        const bad = addresses.find((a) => !isAllowedAddress(a.address, allowLoopback));
        if (addresses.length === 0 || bad !== undefined) {
          callback(
            new AddressPolicyError(
              `${hostname} resolves to ${bad?.address ?? 'nothing'}, which is not a public address`,
            ),
            '',
          );
          return;
        }
        if (typeof options === 'object' && options.all) callback(null, addresses);
        else callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, ''),
    );
  };
}
