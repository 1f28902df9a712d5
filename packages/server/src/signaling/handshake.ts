import { BEARER_PREFIX, PROTOCOL, RESUME_PREFIX, isHttpToken } from '@callgate/protocol';
import type { UpgradeRequest } from './fast-upgrade.js';

/** A refusal before the WebSocket exists: an HTTP status (design.md "Handshake"). */
export interface HandshakeRefusal {
  status: 400 | 403 | 404 | 405 | 426 | 429 | 503;
  code: string;
  headers?: Record<string, string>;
}

/** What the upgrade request offered, once its shape is known to be sound. */
export interface HandshakeOffer {
  /** `Sec-WebSocket-Key`, checked for shape (RFC 6455 §4.2.1 item 5). */
  key: string;
  /** The token, or undefined (missing: reported as 4401 `token_missing` after the upgrade). */
  token: string | undefined;
  resumeToken: string | undefined;
  /** Whether `callgate.v1` was offered (a `?token=` client may offer no subprotocol at all). */
  protocolOffered: boolean;
}

const WS_KEY = /^[A-Za-z0-9+/]{22}==$/;

/**
 * Checks the shape of an upgrade request (RFC 6455 §4.2.1) and extracts the credentials,
 * without looking at their validity. Order and statuses follow design.md; the Origin and
 * rate checks happen before this, in the server.
 */
export function inspectUpgrade(
  req: Pick<UpgradeRequest, 'method' | 'rawHeaders'>,
  query: URLSearchParams,
  allowQueryToken: boolean,
): HandshakeRefusal | HandshakeOffer {
  if (req.method !== 'GET')
    return { status: 405, code: 'method_not_allowed', headers: { allow: 'GET' } };
  const h = readUpgradeHeaders(req.rawHeaders);
  if (h === undefined) return { status: 400, code: 'bad_request' };
  if (h.upgrade?.toLowerCase() !== 'websocket') return { status: 400, code: 'bad_request' };
  const key = h.key?.trim() ?? '';
  if (!WS_KEY.test(key)) return { status: 400, code: 'bad_request' };
  if (h.version?.trim() !== '13')
    return { status: 400, code: 'bad_request', headers: { 'sec-websocket-version': '13' } };

  let bearer: string | undefined;
  let resumeToken: string | undefined;
  let protocolOffered = false;
  const header = h.protocol;
  if (header !== undefined) {
    // The list grammar of RFC 7230 §7 (as `ws` parses it too): no empty element, no repeated
    // entry; refused with a coded body.
    const seen = new Set<string>();
    for (const raw of header.split(',')) {
      const p = raw.trim();
      if (p === '' || seen.has(p) || !isHttpToken(p)) return { status: 400, code: 'bad_request' };
      seen.add(p);
      if (p === PROTOCOL) protocolOffered = true;
      else if (p.startsWith(BEARER_PREFIX)) {
        if (bearer !== undefined) return { status: 400, code: 'bad_request' };
        bearer = p.slice(BEARER_PREFIX.length);
      } else if (p.startsWith(RESUME_PREFIX)) {
        if (resumeToken !== undefined) return { status: 400, code: 'bad_request' };
        resumeToken = p.slice(RESUME_PREFIX.length);
      }
    }
    // A client that sends subprotocols must speak ours, or the browser would fail the
    // handshake anyway when we select none (RFC 6455 §4.1, step 6 of the client).
    if (!protocolOffered) return { status: 400, code: 'bad_request' };
  }

  const queryTokens = query.getAll('token');
  if (queryTokens.length > 1) return { status: 400, code: 'bad_request' };
  const queryToken = allowQueryToken ? queryTokens[0] : undefined;
  // A token in both places is refused: which one would be meant is a guess (design.md).
  if (bearer !== undefined && queryTokens.length > 0) return { status: 400, code: 'bad_request' };
  const queryResume = query.get('resume') ?? undefined;
  return {
    key,
    token: bearer ?? (queryToken === '' ? undefined : queryToken),
    resumeToken: resumeToken ?? queryResume,
    protocolOffered,
  };
}

/** The headers of an upgrade request that {@link inspectUpgrade} looks at. */
interface UpgradeHeaders {
  upgrade: string | undefined;
  key: string | undefined;
  version: string | undefined;
  /** Every `Sec-WebSocket-Protocol` line, joined with ", " (one list, RFC 7230 §3.2.2). */
  protocol: string | undefined;
}

/**
 * Reads the upgrade headers from `rawHeaders` in one pass, without building `req.headers`
 * (which lower-cases and merges every header of the request: more work than all the shape
 * checks). `Upgrade`, `Sec-WebSocket-Key` and `Sec-WebSocket-Version` may appear once
 * (RFC 6455 §4.1, §11.3): a repeated one is undefined, and the request is refused.
 */
function readUpgradeHeaders(raw: readonly string[]): UpgradeHeaders | undefined {
  const h: UpgradeHeaders = {
    upgrade: undefined,
    key: undefined,
    version: undefined,
    protocol: undefined,
  };
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i] as string;
    // Only names of these lengths can match: most headers are skipped without lower-casing.
    if (!UPGRADE_HEADER_LENGTHS.has(name.length)) continue;
    const lower = name.toLowerCase();
    const value = raw[i + 1] as string;
    if (lower === 'sec-websocket-protocol') {
      h.protocol = h.protocol === undefined ? value : `${h.protocol}, ${value}`;
      continue;
    }
    const field = SINGLE_UPGRADE_HEADERS.get(lower);
    if (field === undefined) continue;
    if (h[field] !== undefined) return undefined;
    h[field] = value;
  }
  return h;
}

/** The upgrade headers that may appear once, by lower-case name. */
const SINGLE_UPGRADE_HEADERS = new Map<string, 'upgrade' | 'key' | 'version'>([
  ['upgrade', 'upgrade'],
  ['sec-websocket-key', 'key'],
  ['sec-websocket-version', 'version'],
]);
const UPGRADE_HEADER_LENGTHS = new Set(
  [...SINGLE_UPGRADE_HEADERS.keys(), 'sec-websocket-protocol'].map((n) => n.length),
);

/** Writes a plain HTTP refusal on the raw upgrade socket and ends it. */
export function refuseUpgrade(
  socket: { writable: boolean; end(data: string): void; destroy(): void },
  refusal: HandshakeRefusal,
): void {
  if (!socket.writable) return socket.destroy();
  const body = JSON.stringify({
    error: { code: refusal.code, message: REASONS[refusal.status] ?? 'Refused' },
  });
  const headers = {
    connection: 'close',
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(body)),
    'cache-control': 'no-store',
    ...refusal.headers,
  };
  socket.end(
    `HTTP/1.1 ${refusal.status} ${REASONS[refusal.status] ?? 'Refused'}\r\n` +
      Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}`)
        .join('\r\n') +
      `\r\n\r\n${body}`,
  );
}

const REASONS: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  426: 'Upgrade Required',
  429: 'Too Many Requests',
  503: 'Service Unavailable',
};
