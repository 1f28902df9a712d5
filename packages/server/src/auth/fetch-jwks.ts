import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { UTF8 } from './verify-jws.js';
import {
  AddressPolicyError,
  classifyAddress,
  guardedLookup,
  isLocalhostName,
  systemLookupAll,
  type LookupAll,
} from '../util/address-policy.js';

export interface FetchJwksOptions {
  /** Whole request, connect to last byte. */
  timeoutMs: number;
  /** Larger bodies are aborted as soon as they pass this (catalogue C42). */
  maxBytes: number;
  /** Loopback hosts (and `http:` to them) are allowed: `dev` or `allowInsecureLoopback`. */
  allowLoopback: boolean;
  /** Name resolution, injectable for tests; every resolved address is checked. */
  lookupAll?: LookupAll;
}

/** Why a JWKS could not be fetched. `reason` is safe to log and never holds response bytes. */
export class JwksFetchError extends Error {
  readonly reason: string;
  constructor(reason: string, options?: { cause?: unknown }) {
    super(`JWKS fetch failed: ${reason}`, options);
    this.name = 'JwksFetchError';
    this.reason = reason;
  }
}

/**
 * GETs a JWKS document and returns its parsed JSON, refusing everything a key server has no
 * reason to do: redirects (a 3xx is a failure, never followed: the configured URL is the trust
 * anchor), any status but 200, bodies over `maxBytes` (aborted mid-stream, and at once when
 * `Content-Length` says so), anything slower than `timeoutMs`, non-JSON, and connections to
 * addresses the outbound policy refuses (checked on the address actually connected to, so DNS
 * rebinding cannot reach a private address; catalogue C40). No cookies, no credentials, no
 * compression.
 *
 * Node's own `http`/`https` rather than `fetch`: it takes a `lookup` hook, so the address
 * check happens at connect time, and it never follows redirects by itself.
 *
 * @example
 * ```ts
 * const jwks = await fetchJwks('https://id.example.com/.well-known/jwks.json', {
 *   timeoutMs: 5000, maxBytes: 256 * 1024, allowLoopback: false,
 * });
 * ```
 */
export function fetchJwks(uri: string, options: FetchJwksOptions): Promise<unknown> {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    return Promise.reject(new JwksFetchError('invalid URL', { cause: err }));
  }
  const host = url.hostname;
  const literal = classifyAddress(host);
  const loopback = literal === 'loopback' || (literal === undefined && isLocalhostName(host));
  if (literal === 'private' || (loopback && !options.allowLoopback))
    return Promise.reject(new JwksFetchError(`address ${host} is not allowed`));
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback))
    return Promise.reject(new JwksFetchError('only https is allowed'));

  return new Promise((resolve, reject) => {
    let settled = false;
    const finish = (err: JwksFetchError | undefined, value?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) {
        req.destroy();
        reject(err);
      } else resolve(value);
    };
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(url, {
      method: 'GET',
      headers: { accept: 'application/jwk-set+json, application/json', 'user-agent': 'callgate' },
      agent: false,
      lookup: guardedLookup(options.allowLoopback, options.lookupAll ?? systemLookupAll),
    });
    const timer = setTimeout(
      () => finish(new JwksFetchError(`no complete response within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    timer.unref();
    req.on('error', (err: NodeJS.ErrnoException) =>
      finish(
        new JwksFetchError(
          err instanceof AddressPolicyError ? err.message : (err.code ?? err.message),
          { cause: err },
        ),
      ),
    );
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400)
        return finish(new JwksFetchError(`HTTP ${status}: redirects are refused`));
      if (status !== 200) return finish(new JwksFetchError(`HTTP ${status}`));
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > options.maxBytes)
        return finish(new JwksFetchError(`response over ${options.maxBytes} bytes`));
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > options.maxBytes)
          return finish(new JwksFetchError(`response over ${options.maxBytes} bytes`));
        chunks.push(chunk);
      });
      res.on('error', (err) => finish(new JwksFetchError('response error', { cause: err })));
      res.on('aborted', () => finish(new JwksFetchError('response aborted')));
      res.on('end', () => {
        if (settled) return;
        let json: unknown;
        try {
          json = JSON.parse(UTF8.decode(Buffer.concat(chunks))) as unknown;
        } catch {
          return finish(new JwksFetchError('response is not JSON'));
        }
        finish(undefined, json);
      });
    });
    req.end();
  });
}
