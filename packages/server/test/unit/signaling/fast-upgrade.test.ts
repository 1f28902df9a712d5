import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import {
  interceptUpgrades,
  parseUpgradeHead,
  MAX_FAST_HEAD_BYTES,
  type FastUpgradeRequest,
} from '../../../src/signaling/fast-upgrade.js';

const PATH = '/v1/signal';
const BASE =
  'Host: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n';

/** Heads the fast path reads: each must come out exactly as Node's parser reads it. */
const ACCEPTED = [
  `GET ${PATH} HTTP/1.1\r\n${BASE}\r\n`,
  `GET ${PATH}?token=a.b.c&resume=x HTTP/1.1\r\n${BASE}\r\n`,
  `GET ${PATH} HTTP/1.1\r\n${BASE}Sec-WebSocket-Protocol: callgate.v1, bearer.a.b.c\r\n\r\n`,
  `GET ${PATH} HTTP/1.1\r\nhost: x\r\nupgrade:websocket\r\nconnection: keep-alive,  UPGRADE \r\n` +
    `X-Blank:\r\nX-Tabs:\t v \t\r\nX-Obs: caf\xe9\r\nOrigin: https://a.example\r\n` +
    `Origin: https://b.example\r\n\r\n`,
  `GET ${PATH} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n`, // no Host
];

/** Heads left to Node's parser: the fast path answers undefined for each. */
const REFUSED: [string, string][] = [
  ['another path', `GET /v1/signalx HTTP/1.1\r\n${BASE}\r\n`],
  ['another route', `GET /healthz HTTP/1.1\r\n${BASE}\r\n`],
  ['a fragment-less odd target', `GET ${PATH}#x HTTP/1.1\r\n${BASE}\r\n`],
  ['absolute form', `GET http://h${PATH} HTTP/1.1\r\n${BASE}\r\n`],
  ['POST', `POST ${PATH} HTTP/1.1\r\n${BASE}\r\n`],
  ['HTTP/1.0', `GET ${PATH} HTTP/1.0\r\n${BASE}\r\n`],
  ['two spaces', `GET  ${PATH} HTTP/1.1\r\n${BASE}\r\n`],
  ['no Upgrade header', `GET ${PATH} HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n\r\n`],
  [
    'no upgrade token',
    `GET ${PATH} HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgradex\r\n\r\n`,
  ],
  ['a body length', `GET ${PATH} HTTP/1.1\r\n${BASE}Content-Length: 0\r\n\r\n`],
  ['chunked', `GET ${PATH} HTTP/1.1\r\n${BASE}Transfer-Encoding: chunked\r\n\r\n`],
  ['a control character', `GET ${PATH} HTTP/1.1\r\n${BASE}X-A: a\x01b\r\n\r\n`],
  ['DEL', `GET ${PATH} HTTP/1.1\r\n${BASE}X-A: a\x7fb\r\n\r\n`],
  ['a bare LF', `GET ${PATH} HTTP/1.1\r\n${BASE}X-A: a\nb\r\n\r\n`],
  ['a folded line', `GET ${PATH} HTTP/1.1\r\n${BASE}X-A: a\r\n b\r\n\r\n`],
  ['a space before the colon', `GET ${PATH} HTTP/1.1\r\n${BASE}X-A : a\r\n\r\n`],
  ['no colon', `GET ${PATH} HTTP/1.1\r\n${BASE}X-A\r\n\r\n`],
  ['an empty name', `GET ${PATH} HTTP/1.1\r\n${BASE}: a\r\n\r\n`],
  ['a non-ASCII target', `GET ${PATH}?a=\xe9 HTTP/1.1\r\n${BASE}\r\n`],
  ['an incomplete head', `GET ${PATH} HTTP/1.1\r\n${BASE}`],
  [
    'many headers',
    `GET ${PATH} HTTP/1.1\r\n${BASE}${Array.from({ length: 64 }, (_, i) => `X-${i}: v\r\n`).join('')}\r\n`,
  ],
  [
    'a head past the size limit',
    `GET ${PATH} HTTP/1.1\r\n${BASE}X-Big: ${'a'.repeat(MAX_FAST_HEAD_BYTES)}\r\n\r\n`,
  ],
];

/** What Node's HTTP server reads for `head`: url and rawHeaders at `upgrade`. */
async function nodeReads(head: string): Promise<{ url: string; rawHeaders: string[] }> {
  const server = createServer();
  const seen = new Promise<IncomingMessage>((resolve) => server.on('upgrade', resolve));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const c = connect((server.address() as AddressInfo).port, '127.0.0.1');
  c.on('error', () => {});
  c.write(Buffer.from(head, 'latin1'));
  try {
    const req = await seen;
    req.socket.destroy();
    return { url: req.url ?? '', rawHeaders: req.rawHeaders };
  } finally {
    c.destroy();
    await new Promise((r) => server.close(r));
  }
}

test('every head the fast path reads comes out as Node reads it (url, rawHeaders)', async () => {
  for (const head of ACCEPTED) {
    const bytes = Buffer.from(head + 'extra', 'latin1');
    const fast = parseUpgradeHead(bytes, PATH);
    assert.ok(fast, JSON.stringify(head));
    assert.deepEqual({ url: fast.url, rawHeaders: fast.rawHeaders }, await nodeReads(head), head);
    assert.equal(bytes.subarray(fast.end).toString(), 'extra');
  }
});

test('anything unusual is left to Node: the fast path answers undefined', () => {
  for (const [what, head] of REFUSED)
    assert.equal(parseUpgradeHead(Buffer.from(head, 'latin1'), PATH), undefined, what);
});

/** A server with interception on; records what reached the fast path and Node's `upgrade`. */
async function interceptingServer(headersTimeoutMs = 5000) {
  const server: Server = createServer((_req, res) => res.end('http'));
  const fast: FastUpgradeRequest[] = [];
  const remotes: (string | undefined)[] = [];
  const viaNode: IncomingMessage[] = [];
  const reply = (socket: Socket) => socket.end('HTTP/1.1 418 Teapot\r\ncontent-length: 0\r\n\r\n');
  server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    viaNode.push(req);
    reply(socket);
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) =>
    socket.end(`HTTP/1.1 ${err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400} x\r\n\r\n`),
  );
  const stop = interceptUpgrades(server, {
    path: PATH,
    headersTimeoutMs,
    onUpgrade(req, socket, head) {
      fast.push(req);
      remotes.push(req.socket.remoteAddress);
      assert.equal(head.toString(), 'tail');
      reply(socket);
    },
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    fast,
    remotes,
    viaNode,
    /** Writes `parts` one by one (a pause between them) and resolves with the whole answer. */
    exchange(parts: string[]): Promise<string> {
      return new Promise((resolve, reject) => {
        const c = connect(port, '127.0.0.1');
        let answer = '';
        c.on('data', (d) => (answer += d.toString('latin1')));
        c.on('error', reject);
        c.on('close', () => resolve(answer));
        c.on('connect', async () => {
          for (const p of parts) {
            c.write(Buffer.from(p, 'latin1'));
            await new Promise((r) => setTimeout(r, 30));
          }
        });
        setTimeout(() => c.destroy(), 3000).unref();
      });
    },
    async close() {
      stop();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

test('a plain upgrade is read by the fast path; its remote address and headers are there', async () => {
  const s = await interceptingServer();
  try {
    const head = `GET ${PATH}?x=1 HTTP/1.1\r\n${BASE}Origin: https://a\r\nOrigin: https://b\r\n\r\ntail`;
    assert.match(await s.exchange([head]), /^HTTP\/1.1 418/);
    assert.equal(s.fast.length, 1);
    assert.equal(s.viaNode.length, 0);
    const req = s.fast[0]!;
    assert.equal(req.method, 'GET');
    assert.equal(req.url, `${PATH}?x=1`);
    assert.equal(req.headers.origin, 'https://a, https://b');
    assert.equal(req.headers['sec-websocket-version'], '13');
    assert.deepEqual(s.remotes, ['127.0.0.1']);
  } finally {
    await s.close();
  }
});

test('headers named like Object.prototype members are headers like any other (as in Node)', async () => {
  const s = await interceptingServer();
  try {
    const head = `GET ${PATH} HTTP/1.1\r\n${BASE}Constructor: c\r\n__proto__: p\r\n\r\ntail`;
    assert.match(await s.exchange([head]), /^HTTP\/1.1 418/);
    const req = s.fast[0]!;
    assert.equal(req.headers.constructor, 'c');
    assert.equal(req.headers['__proto__'], 'p');
    assert.equal(Object.getPrototypeOf(req.headers), null);
    assert.equal(req.headers.origin, undefined);
  } finally {
    await s.close();
  }
});

test('other requests reach Node unchanged: HTTP with keep-alive, split heads, odd upgrades', async () => {
  const s = await interceptingServer();
  try {
    // Two requests on one keep-alive connection: the first bytes were put back for Node.
    const two = await s.exchange([
      'GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n',
    ]);
    assert.equal(two.match(/HTTP\/1.1 200/g)?.length, 2);
    // An upgrade whose head arrives in two writes, and one with a body length.
    const split = `GET ${PATH} HTTP/1.1\r\n${BASE}\r\n`;
    assert.match(await s.exchange([split.slice(0, 20), split.slice(20)]), /^HTTP\/1.1 418/);
    assert.match(
      await s.exchange([`GET ${PATH} HTTP/1.1\r\n${BASE}Content-Length: 0\r\n\r\n`]),
      /^HTTP\/1.1 418/,
    );
    assert.equal(s.viaNode.length, 2);
    assert.equal(s.fast.length, 0);
    // Garbage still gets Node's 400.
    assert.match(await s.exchange(['NOT HTTP\r\n\r\n']), /^HTTP\/1.1 400/);
  } finally {
    await s.close();
  }
});

test('a client that sends nothing is answered 408 after the headers timeout', async () => {
  const s = await interceptingServer(200);
  try {
    const t0 = Date.now();
    assert.match(await s.exchange([]), /^HTTP\/1.1 408/);
    assert.ok(Date.now() - t0 < 2000);
  } finally {
    await s.close();
  }
});
