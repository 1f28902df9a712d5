/**
 * Hand-built compact JWS for attack tests: jose's SignJWT refuses to produce most of what an
 * attacker sends (`alg: none`, unknown `crit`, DER signatures), so these helpers sign raw bytes.
 */
import { createHmac, sign as cryptoSign, type KeyObject } from 'node:crypto';

/** base64url of a JSON value (or of raw bytes/text). */
export function b64url(value: unknown): string {
  if (Buffer.isBuffer(value)) return value.toString('base64url');
  if (typeof value === 'string') return Buffer.from(value, 'utf8').toString('base64url');
  return Buffer.from(JSON.stringify(value), 'utf8').toString('base64url');
}

/** `b64(header).b64(payload)`: the JWS signing input (RFC 7515 §5.1). */
export function signingInput(header: unknown, payload: unknown): string {
  return `${b64url(header)}.${b64url(payload)}`;
}

export type RawAlg = 'RS256' | 'ES256' | 'EdDSA' | 'HS256';

/**
 * Signs `header.payload` with the given key and algorithm, whatever the header says.
 * `ecdsaDer` produces the DER signature form instead of JWS's R‖S (catalogue A7).
 */
export function signCompact(
  header: unknown,
  payload: unknown,
  alg: RawAlg,
  key: KeyObject | string | Buffer,
  options: { ecdsaDer?: boolean } = {},
): string {
  const input = signingInput(header, payload);
  let sig: Buffer;
  if (alg === 'HS256')
    sig = createHmac('sha256', key as string | Buffer)
      .update(input)
      .digest();
  else if (alg === 'RS256') sig = cryptoSign('sha256', Buffer.from(input), key as KeyObject);
  else if (alg === 'ES256')
    sig = cryptoSign('sha256', Buffer.from(input), {
      key: key as KeyObject,
      dsaEncoding: options.ecdsaDer ? 'der' : 'ieee-p1363',
    });
  else sig = cryptoSign(null, Buffer.from(input), key as KeyObject);
  return `${input}.${sig.toString('base64url')}`;
}

/** Replaces the payload of a signed compact JWS, keeping header and signature (catalogue B28). */
export function withPayload(token: string, payload: unknown): string {
  const [h, , s] = token.split('.');
  return `${h}.${b64url(payload)}.${s}`;
}

/** The decoded JSON of one segment of a compact JWS. */
export function decodeSegment(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}
