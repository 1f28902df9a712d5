/**
 * Property-based fuzzing of a real server's WebSocket handshake: arbitrary subprotocol lists
 * (our protocol, good and bad bearer tokens, resume tokens, junk, odd separators), query
 * strings, paths, methods, keys, versions and origins, one raw request per case. Properties:
 * never a crash or hang, never leaked internals or an internal error log line, and every case
 * ends in `welcome`, an HTTP refusal with a coded JSON body, or a close with a documented code
 * and reason. FUZZ_RUNS cases (default 10 000) in 4 lanes seeded FUZZ_SEED..FUZZ_SEED+3.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { startTestServer } from '../support/test-server.js';
import { connectClient } from '../support/ws-client.js';
import { signAsServer, statusOf } from '../support/attack.js';
import {
  FUZZ_CONFIG,
  FUZZ_RUNS,
  FUZZ_SEED,
  KNOWN_ERROR_CODES,
  LEAK,
  checkServerText,
  fuzzLanes,
  noInternalErrors,
} from '../support/fuzz.js';

// Entries a subprotocol list may hold: ours, tokens good and bad, resume, junk, separators.
function protocolEntry(token: string) {
  return fc.oneof(
    {
      weight: 6,
      arbitrary: fc.constantFrom(
        `bearer.${token}`,
        `bearer.${token.slice(0, -5)}AAAAA`,
        `bearer.${token}.x`,
        `bearer.${token.split('.').slice(0, 2).join('.')}.`,
        `resume.${'A'.repeat(43)}`,
        'resume.x',
        'bearer.',
      ),
    },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        'callgate.v1',
        'CALLGATE.V1',
        'callgate.v2',
        '',
        'resume.',
        'bearer',
      ),
    },
    {
      weight: 2,
      arbitrary: fc
        .string({ unit: fc.constantFrom(...'abcXYZ019.-_+/=~!#$%&*^`|'.split('')), maxLength: 40 })
        .map((s) => `bearer.${s}`),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  );
}

// Control characters (CR, LF, NUL included) become '?': the request line must stay one request.
const headerSafe = (s: string) => s.replace(/[^\x20-\xff]/g, '?');

test(
  `fuzz handshakes: subprotocol lists, query strings, keys, versions (${FUZZ_RUNS} cases, seed ${FUZZ_SEED})`,
  { timeout: 300_000 },
  async (t) => {
    const server = await startTestServer({ config: FUZZ_CONFIG });
    t.after(() => server.close());
    const token = signAsServer(server);
    const logsFrom = server.logs.length;
    const outcomes = new Map<string, number>();
    const handshake = fc.record({
      protocols: fc.option(
        fc.tuple(
          fc.oneof(
            // Mostly lists that start like a real client's.
            {
              weight: 3,
              arbitrary: fc
                .array(protocolEntry(token), { maxLength: 3 })
                .map((a) => ['callgate.v1', ...a]),
            },
            { weight: 1, arbitrary: fc.array(protocolEntry(token), { maxLength: 5 }) },
          ),
          fc.oneof(
            { weight: 9, arbitrary: fc.constantFrom(',', ', ') },
            { weight: 1, arbitrary: fc.constantFrom(' , ', ',,') },
          ),
        ),
        { nil: undefined, freq: 5 },
      ),
      query: fc.array(
        fc.tuple(
          fc.constantFrom('token', 'resume', 'x', 'token[]', 'TOKEN', '%74oken', ''),
          fc.oneof(
            fc.constantFrom(
              token,
              encodeURIComponent(token),
              '',
              'garbage',
              `${token}%00`,
              '%',
              '%zz',
            ),
            fc.string({ maxLength: 30 }).map(encodeURIComponent),
          ),
        ),
        { maxLength: 3 },
      ),
      path: fc.oneof(
        { weight: 9, arbitrary: fc.constant('/v1/signal') },
        {
          weight: 1,
          arbitrary: fc.constantFrom(
            '/v1/signal/',
            '/V1/signal',
            '/v1/signal/../signal',
            '//v1/signal',
            '/v1/signal%00',
          ),
        },
      ),
      method: fc.oneof(
        { weight: 9, arbitrary: fc.constant('GET') },
        { weight: 1, arbitrary: fc.constantFrom('POST', 'PUT', 'OPTIONS', 'get') },
      ),
      key: fc.oneof(
        { weight: 9, arbitrary: fc.constant(randomBytes(16).toString('base64')) },
        { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
      ),
      version: fc.oneof(
        { weight: 9, arbitrary: fc.constant('13') },
        { weight: 1, arbitrary: fc.constantFrom('8', '', '13, 8', 'x') },
      ),
      upgrade: fc.oneof(
        { weight: 9, arbitrary: fc.constantFrom('websocket', 'WebSocket') },
        { weight: 1, arbitrary: fc.constantFrom('h2c', '') },
      ),
      origin: fc.option(fc.constantFrom('https://evil.example', 'null', ''), { nil: undefined }),
    });

    type Handshake = typeof handshake extends fc.Arbitrary<infer T> ? T : never;
    await fuzzLanes<Handshake>(handshake, async () => ({
      done: async () => {},
      run: async (h) => {
        const q = h.query.map(([k, v]) => (k === '' ? v : `${k}=${v}`)).join('&');
        const lines = [
          `${h.method} ${h.path}${q ? `?${q}` : ''} HTTP/1.1`,
          `Host: 127.0.0.1:${server.port}`,
          'Connection: Upgrade',
          `Upgrade: ${h.upgrade}`,
          `Sec-WebSocket-Key: ${headerSafe(h.key)}`,
          `Sec-WebSocket-Version: ${h.version}`,
          ...(h.protocols
            ? [`Sec-WebSocket-Protocol: ${headerSafe(h.protocols[0].join(h.protocols[1]))}`]
            : []),
          ...(h.origin !== undefined ? [`Origin: ${h.origin}`] : []),
          '',
          '',
        ];
        const outcome = await new Promise<string>((resolve, reject) => {
          const socket = connect(server.port, '127.0.0.1');
          let buf = Buffer.alloc(0);
          let settled = false;
          const timer = setTimeout(() => {
            socket.destroy();
            reject(new Error(`no outcome within 3 s for ${lines[0]}`));
          }, 3000);
          const settle = (v: string) => {
            if (settled) return;
            settled = true;
            clearTimeout(timer);
            socket.destroy();
            resolve(v);
          };
          socket.on('error', () => settle(buf.length === 0 ? 'reset' : `http ${statusOf(buf)}`));
          socket.on('close', () => {
            const status = statusOf(buf);
            if (status === 101) return settle(closeOutcome(buf) ?? 'closed after 101');
            settle(status ? `http ${status}` : 'closed');
          });
          socket.on('data', (d) => {
            buf = Buffer.concat([buf, d]);
            const status = statusOf(buf);
            const end = buf.indexOf('\r\n\r\n');
            if (end === -1) return;
            if (status === 101) {
              const frames = buf.subarray(end + 4);
              const close = closeOutcome(buf);
              if (close) return settle(close);
              if (frames.length >= 2 && (frames[0]! & 0x0f) === 1) {
                const text = readText(frames);
                if (text !== undefined) {
                  const m = checkServerText(text);
                  assert.equal(m.type, 'welcome', 'the first frame is welcome');
                  return settle('welcome');
                }
              }
              return;
            }
            // An HTTP refusal: wait for the body (Content-Length) or the close.
            const head = buf.subarray(0, end).toString('latin1');
            const len = Number(/content-length: (\d+)/i.exec(head)?.[1] ?? '0');
            if (buf.length >= end + 4 + len) {
              const body = buf.subarray(end + 4, end + 4 + len).toString('utf8');
              assert.doesNotMatch(head + body, LEAK);
              if (len > 0) {
                const parsed = JSON.parse(body) as { error: { code: string } };
                assert.ok(KNOWN_ERROR_CODES.has(parsed.error.code), parsed.error.code);
              }
              settle(`http ${status}`);
            }
          });
          socket.write(lines.join('\r\n'));
        });
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
        assert.match(
          outcome,
          /^(welcome|close (4401|4403|4429) (token_missing|token_malformed|token_invalid|token_expired|token_revoked|too_many_connections)|http (400|403|404|405|426|429|431|503))$/,
          outcome,
        );
      },
    }));
    t.diagnostic(`outcomes ${JSON.stringify(Object.fromEntries(outcomes))}`);
    assert.ok((outcomes.get('welcome') ?? 0) > 0, 'some cases connected');
    assert.ok(
      [...outcomes.keys()].some((o) => o.startsWith('close 4401')),
      'some cases hit the token check',
    );
    noInternalErrors(server, logsFrom);
    const ok = await connectClient(server.wsUrl, signAsServer(server));
    ok.client.close();
  },
);

/** The first server frame after a 101, if it is complete text. */
function readText(frames: Buffer): string | undefined {
  let len = frames[1]! & 0x7f;
  let off = 2;
  if (len === 126) {
    if (frames.length < 4) return undefined;
    len = frames.readUInt16BE(2);
    off = 4;
  }
  if (frames.length < off + len) return undefined;
  return frames.subarray(off, off + len).toString('utf8');
}

/** `close <code> <reason>` when the first frame after the 101 is a complete close frame. */
function closeOutcome(buf: Buffer): string | undefined {
  const end = buf.indexOf('\r\n\r\n');
  const frames = buf.subarray(end + 4);
  if (frames.length < 2 || (frames[0]! & 0x0f) !== 8) return undefined;
  const len = frames[1]! & 0x7f;
  if (frames.length < 2 + len) return undefined;
  const code = len >= 2 ? frames.readUInt16BE(2) : 1005;
  return `close ${code} ${frames.subarray(4, 2 + len).toString('utf8')}`;
}
