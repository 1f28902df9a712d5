/**
 * Helpers for the security suite (test/security): raw HTTP upgrades and byte-level WebSocket
 * frames (what a hostile client sends and `ws` would refuse to produce), and tokens signed by
 * hand with a running server's own key.
 */
import { connect, type Socket } from 'node:net';
import { request } from 'node:http';
import { randomBytes } from 'node:crypto';
import assert from 'node:assert/strict';
import type { TestServer } from './test-server.js';
import { TestClient } from './ws-client.js';
import { randomId } from '../../src/util/random-id.js';
import { signCompact, type RawAlg } from './jws.js';

export const ALL_PERMS = ['join', 'publish', 'send', 'presence'];

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The headers of a well-formed upgrade to /v1/signal, without a token. */
export const UPGRADE_HEADERS: Record<string, string> = {
  connection: 'Upgrade',
  upgrade: 'websocket',
  'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
  'sec-websocket-version': '13',
};

export interface RawAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An upgrade request through node:http; resolves with the status (101 included) and headers. */
export function rawUpgrade(
  port: number,
  headers: Record<string, string>,
  method = 'GET',
  path = '/v1/signal',
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers });
    req.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode!, headers: res.headers, body: '' });
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Writes raw bytes to the server and collects everything it answers until it closes the
 * connection (or `timeoutMs` passes). `writes` may be spaced out by `gapMs` (slowloris).
 */
export function rawExchange(
  port: number,
  writes: Array<string | Buffer>,
  options: { gapMs?: number; timeoutMs?: number } = {},
): Promise<{ data: Buffer; closedByServer: boolean; ms: number }> {
  const started = Date.now();
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ data: Buffer.concat(chunks), closedByServer, ms: Date.now() - started });
    };
    const timer = setTimeout(() => finish(false), options.timeoutMs ?? 5000);
    socket.on('data', (c) => chunks.push(c));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', async () => {
      for (const w of writes) {
        if (done || socket.destroyed) return;
        socket.write(w);
        if (options.gapMs) await sleep(options.gapMs);
      }
    });
  });
}

/** The status code of the first HTTP response line in `data`, or 0. */
export function statusOf(data: Buffer): number {
  const m = /^HTTP\/1\.1 (\d{3})/.exec(data.toString('latin1'));
  return m ? Number(m[1]) : 0;
}

/**
 * A raw WebSocket connection (RFC 6455) after a successful handshake, for frames `ws` would not
 * send: fragments, RSV bits, bad UTF-8. Collects the server's frames and its close.
 */
export class RawWs {
  readonly socket: Socket;
  #buf = Buffer.alloc(0);
  readonly texts: string[] = [];
  /** Called after every text frame or close frame the server sends. */
  onFrame: (() => void) | undefined;
  close: { code: number; reason: string } | undefined;
  readonly ended: Promise<void>;

  private constructor(socket: Socket) {
    this.socket = socket;
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  /** Upgrades with `bearer.<token>`; rejects unless the server answers 101. */
  static open(port: number, token: string, extraHeaders: Record<string, string> = {}) {
    return new Promise<RawWs>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      const key = randomBytes(16).toString('base64');
      const head = [
        'GET /v1/signal HTTP/1.1',
        `Host: 127.0.0.1:${port}`,
        'Connection: Upgrade',
        'Upgrade: websocket',
        `Sec-WebSocket-Key: ${key}`,
        'Sec-WebSocket-Version: 13',
        `Sec-WebSocket-Protocol: callgate.v1, bearer.${token}`,
        ...Object.entries(extraHeaders).map(([k, v]) => `${k}: ${v}`),
        '',
        '',
      ].join('\r\n');
      let pending = Buffer.alloc(0);
      const onData = (c: Buffer) => {
        pending = Buffer.concat([pending, c]);
        const end = pending.indexOf('\r\n\r\n');
        if (end === -1) return;
        socket.off('data', onData);
        const status = statusOf(pending);
        if (status !== 101) {
          socket.destroy();
          return reject(new Error(`upgrade refused: ${status}`));
        }
        const ws = new RawWs(socket);
        socket.on('data', (d) => ws.#onData(d));
        ws.#onData(pending.subarray(end + 4));
        resolve(ws);
      };
      socket.on('data', onData);
      socket.on('error', reject);
      socket.write(head);
    });
  }

  #onData(d: Buffer): void {
    this.#buf = Buffer.concat([this.#buf, d]);
    for (;;) {
      if (this.#buf.length < 2) return;
      const op = this.#buf[0]! & 0x0f;
      let len = this.#buf[1]! & 0x7f;
      let off = 2;
      if (len === 126) {
        if (this.#buf.length < 4) return;
        len = this.#buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        if (this.#buf.length < 10) return;
        len = Number(this.#buf.readBigUInt64BE(2));
        off = 10;
      }
      if (this.#buf.length < off + len) return;
      const payload = this.#buf.subarray(off, off + len);
      this.#buf = this.#buf.subarray(off + len);
      if (op === 1) this.texts.push(payload.toString('utf8'));
      else if (op === 8)
        this.close = {
          code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
          reason: payload.subarray(2).toString('utf8'),
        };
      if (op === 1 || op === 8) this.onFrame?.();
    }
  }

  /** Sends one masked frame: `fin`, `opcode`, optional RSV1, payload. */
  frame(
    opcode: number,
    payload: Buffer | string,
    options: { fin?: boolean; rsv1?: boolean; unmasked?: boolean } = {},
  ) {
    this.socket.write(encodeFrame(opcode, payload, options));
  }

  /** Waits until the server's close frame or the socket end; returns the close (if any). */
  async closed(timeoutMs = 5000): Promise<{ code: number; reason: string } | undefined> {
    await Promise.race([this.ended, sleep(timeoutMs)]);
    return this.close;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Encodes one client frame (always masked, RFC 6455 §5.3). */
export function encodeFrame(
  opcode: number,
  payload: Buffer | string,
  options: { fin?: boolean; rsv1?: boolean; unmasked?: boolean } = {},
): Buffer {
  const data = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
  const fin = options.fin ?? true;
  const b0 = (fin ? 0x80 : 0) | (options.rsv1 ? 0x40 : 0) | opcode;
  let header: Buffer;
  const maskBit = options.unmasked ? 0 : 0x80;
  if (data.length < 126) header = Buffer.from([b0, maskBit | data.length]);
  else if (data.length < 65536) {
    header = Buffer.alloc(4);
    header[0] = b0;
    header[1] = maskBit | 126;
    header.writeUInt16BE(data.length, 2);
  } else {
    header = Buffer.alloc(10);
    header[0] = b0;
    header[1] = maskBit | 127;
    header.writeBigUInt64BE(BigInt(data.length), 2);
  }
  if (options.unmasked) return Buffer.concat([header, data]);
  const mask = randomBytes(4);
  const masked = Buffer.alloc(data.length);
  for (let i = 0; i < data.length; i++) masked[i] = data[i]! ^ mask[i & 3]!;
  return Buffer.concat([header, mask, masked]);
}

/** A valid claim set for `server`'s issuer, tenant and audience; `undefined` removes a claim. */
export function claimsFor(
  server: TestServer,
  over: Record<string, unknown> = {},
): Record<string, unknown> {
  const now = Math.floor(server.app.services.clock.now() / 1000);
  const ttl = server.config.auth.accessTokenTtlSeconds;
  const c: Record<string, unknown> = {
    iss: server.app.services.issuer,
    aud: server.config.auth.audience,
    sub: `u-${randomId(6)}`,
    tid: server.tenant,
    sid: randomId(),
    jti: randomId(),
    iat: now,
    nbf: now,
    exp: now + ttl,
    rooms: { lobby: ALL_PERMS },
    kind: 'user',
    ...over,
  };
  for (const k of Object.keys(c)) if (c[k] === undefined) delete c[k];
  return c;
}

/** Signs by hand with the server's current key (whatever the header says). */
export function signAsServer(
  server: TestServer,
  claimsOver: Record<string, unknown> = {},
  headerOver: Record<string, unknown> = {},
): string {
  const k = server.app.services.keyring.signingKey();
  const header: Record<string, unknown> = { alg: k.alg, kid: k.kid, typ: 'at+jwt', ...headerOver };
  for (const h of Object.keys(header)) if (header[h] === undefined) delete header[h];
  return signCompact(header, claimsFor(server, claimsOver), k.alg as RawAlg, k.key);
}

/** Asserts the client was closed with exactly `code` and `reason` (and never opened a session). */
export async function assertClosed(
  client: TestClient,
  code: number,
  reason: string,
  message?: string,
  timeoutMs = 5000,
): Promise<void> {
  const closed = await Promise.race([
    client.closed,
    sleep(timeoutMs).then(() => ({ code: -1, reason: `still open after ${timeoutMs} ms` })),
  ]);
  if (closed.code === -1) client.ws.terminate();
  assert.deepEqual(closed, { code, reason }, message);
}

// RFC 6455 §4.1: subprotocol values are tokens; anything else must travel in the query.
const SUBPROTOCOL_SAFE = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * Presents `token` everywhere the server accepts one and asserts the same refusal from the one
 * policy: the WebSocket handshake completes only to close with 4401 (4403 for `token_revoked`)
 * and the reason code, and `POST /v1/turn/credentials` answers 401 with the code and a
 * `WWW-Authenticate: Bearer` challenge. When `detail` is given, the server's `ws_auth_failed`
 * log line must carry it (which check fired).
 */
export async function assertTokenRefused(
  server: TestServer,
  token: string,
  reason: string,
  detail?: string | RegExp,
): Promise<void> {
  const viaQuery = !SUBPROTOCOL_SAFE.test(token);
  const before = server.logs.length;
  const c = new TestClient(server.wsUrl, token, viaQuery ? { query: true, noProtocol: true } : {});
  await assertClosed(c, reason === 'token_revoked' ? 4403 : 4401, reason, `ws: ${reason}`);
  if (detail !== undefined) {
    const lines = server.logs
      .slice(before)
      .map((l) => JSON.parse(l) as { event?: string; detail?: string; code?: string })
      .filter((l) => l.event === 'ws_auth_failed');
    assert.equal(lines.length, 1, 'one auth-failure log line');
    if (typeof detail === 'string') assert.equal(lines[0]!.detail, detail);
    else assert.match(lines[0]!.detail ?? '', detail);
  }
  // The HTTP path (no whitespace or non-Latin-1 can ride in a header).
  if (/^[\x21-\x7e]*$/.test(token) && token.length < 12_000) {
    const res = await fetch(`${server.url}/v1/turn/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    const body = (await res.json()) as { error?: { code: string } };
    if (token === '') {
      assert.equal(res.status, 401);
      assert.equal(body.error?.code, 'token_missing');
    } else {
      assert.equal(res.status, 401, `http: ${reason}`);
      assert.equal(body.error?.code, reason, 'http: the same code');
      assert.match(res.headers.get('www-authenticate') ?? '', /^Bearer /);
    }
  }
}
