/**
 * A hand-made JWKS server on 127.0.0.1 port 0 that counts its requests and can misbehave on
 * demand (catalogue C36, C41, C42), plus a signer for tokens "from" it.
 */
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { signCompact } from './jws.js';

export type JwksMode =
  | 'ok'
  | 'status-500'
  | 'not-json'
  | 'keys-not-a-list'
  | 'redirect'
  | 'hang'
  | 'huge'
  | 'private-members';

export interface JwksServer {
  /** `http://127.0.0.1:<port>`: the issuer of its tokens. */
  issuer: string;
  jwksUri: string;
  /** Requests received so far. */
  requests: number;
  mode: JwksMode;
  /** For `huge`: the latest such response, its bytes written and when it closed. */
  huge: { bytesWritten: number; closed: Promise<void> } | undefined;
  /** Where `redirect` points. */
  redirectTo: string;
  readonly kid: string;
  readonly privateKey: KeyObject;
  /** Signs a token with this server's key (`kid` in the header unless overridden). */
  sign(payload: Record<string, unknown>, header?: Record<string, unknown>): string;
  /** Replaces the published key set (rotation). */
  publish(keys: unknown[]): void;
  publicJwk(): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startJwksServer(options: { kid?: string } = {}): Promise<JwksServer> {
  const kid = options.kid ?? 'key-1';
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pub = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  let published: unknown[] = [pub];
  const sockets = new Set<Socket>();
  const server: Server = createServer((req, res: ServerResponse) => {
    state.requests++;
    switch (state.mode) {
      case 'ok':
        return json(res, 200, { keys: published });
      case 'status-500':
        return json(res, 500, { error: 'boom' });
      case 'not-json':
        res.writeHead(200, { 'content-type': 'application/json' });
        return res.end('<html>not json</html>');
      case 'keys-not-a-list':
        return json(res, 200, { keys: 'x' });
      case 'private-members':
        return json(res, 200, {
          keys: [{ ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256' }],
        });
      case 'redirect':
        res.writeHead(302, { location: state.redirectTo });
        return res.end();
      case 'hang':
        return; // never answers
      case 'huge': {
        // 50 MB of a syntactically endless JSON array, no Content-Length, written as fast as
        // the client reads.
        res.writeHead(200, { 'content-type': 'application/json' });
        res.write('{"keys":[');
        const chunk = Buffer.from(`${JSON.stringify(pub)},`.repeat(64));
        const huge = {
          bytesWritten: 0,
          closed: new Promise<void>((resolve) => res.on('close', () => resolve())),
        };
        state.huge = huge;
        const pump = () => {
          while (huge.bytesWritten < 50 * 1024 * 1024 && !res.destroyed) {
            huge.bytesWritten += chunk.length;
            if (!res.write(chunk)) return void res.once('drain', pump);
          }
          res.end(']}');
        };
        return pump();
      }
    }
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const state: JwksServer = {
    issuer,
    jwksUri: `${issuer}/jwks.json`,
    requests: 0,
    mode: 'ok',
    huge: undefined,
    redirectTo: `${issuer}/elsewhere`,
    kid,
    privateKey,
    sign(payload, header = {}) {
      return signCompact(
        { alg: 'RS256', typ: 'at+jwt', kid, ...header },
        payload,
        'RS256',
        privateKey,
      );
    },
    publish(keys) {
      published = keys;
    },
    publicJwk: () => ({ ...pub }),
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}
