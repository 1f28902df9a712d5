/**
 * `auth.trustedIssuers`: external OpenID providers whose access tokens Callgate accepts
 * (docs/external-issuers.md). This file holds the item type and its validator; the loader runs
 * the validator for every list item and {@link trustedIssuerProblems} across the list.
 */
import {
  grantRoom,
  MAX_ROOMS_PER_TOKEN,
  PERMISSIONS,
  TOKEN_KINDS,
  isPermission,
  isPlainObject,
  isRoomName,
  isTenantName,
  isTokenKind,
  type Permission,
  type RoomGrants,
  type TokenKind,
} from '@callgate/protocol';
import { ASYMMETRIC_ALGORITHMS, type SigningAlgorithm } from './schema.js';
import { classifyAddress, isLocalhostName } from '../util/address-policy.js';
import type { ConfigIssue } from './config.js';

/** A claim: a top-level name (`"org_id"`, `"https://example.com/rooms"`) or a nested path. */
export type ClaimPath = readonly string[];

/** Where the tenant of a token comes from. */
export type TenantMapping =
  | { readonly from: 'value'; readonly value: string }
  | { readonly from: 'claim'; readonly claim: ClaimPath; readonly prefix: string };

/** Where the room grants of a token come from. Nothing else ever grants a room. */
export type RoomsMapping =
  | { readonly from: 'none' }
  | { readonly from: 'grant'; readonly grant: Readonly<RoomGrants> }
  | { readonly from: 'claim-map'; readonly claim: ClaimPath }
  | {
      readonly from: 'claim-list';
      readonly claim: ClaimPath;
      readonly permissions: readonly Permission[];
      readonly prefix: string;
    };

/** One claim copied into the peer's public metadata (`md`) under `as`. */
export interface MetadataMapping {
  readonly claim: ClaimPath;
  readonly as: string;
}

/** One validated entry of `auth.trustedIssuers`. */
export interface TrustedIssuerConfig {
  /** Compared with `iss` exactly (no trailing-slash or case normalization). */
  readonly issuer: string;
  readonly jwksUri: string;
  /** Required in `aud` (string, or an array containing it). */
  readonly audience: string;
  readonly algorithms: readonly SigningAlgorithm[];
  /** When set, the header `typ` must be this (RFC 9068 providers: `at+jwt`). */
  readonly typ: string | undefined;
  readonly tenant: TenantMapping;
  readonly rooms: RoomsMapping;
  readonly metadata: readonly MetadataMapping[];
  readonly sessionIdClaim: ClaimPath;
  readonly kind: TokenKind;
  /** Oldest `iat` accepted, and the longest a connection lives on one of these tokens. */
  readonly maxTokenAgeSeconds: number;
  /** Allow `http://` and loopback hosts in `jwksUri` (tests; `dev` allows it too). */
  readonly allowInsecureLoopback: boolean;
  readonly jwksTimeoutMs: number;
  /** At most one JWKS request per this interval (catalogue C36). */
  readonly jwksCooldownMs: number;
  /** A key set older than this is refetched before use; past it without a refetch, fail closed. */
  readonly jwksCacheMaxAgeSeconds: number;
  /** Larger JWKS responses are aborted (catalogue C42). */
  readonly jwksMaxBytes: number;
}

const FIELDS = [
  'issuer',
  'jwksUri',
  'audience',
  'algorithms',
  'typ',
  'tenant',
  'rooms',
  'metadata',
  'sessionId',
  'kind',
  'maxTokenAgeSeconds',
  'allowInsecureLoopback',
  'jwksTimeoutMs',
  'jwksCooldownMs',
  'jwksCacheMaxAgeSeconds',
  'jwksMaxBytes',
] as const;

const INTEGERS = {
  maxTokenAgeSeconds: { default: 3600, min: 30, max: 86_400 },
  jwksTimeoutMs: { default: 5000, min: 100, max: 60_000 },
  jwksCooldownMs: { default: 30_000, min: 100, max: 3_600_000 },
  jwksCacheMaxAgeSeconds: { default: 600, min: 10, max: 86_400 },
  jwksMaxBytes: { default: 256 * 1024, min: 1024, max: 4 * 1024 * 1024 },
} as const;

const TENANT_PREFIX = /^[a-z0-9][a-z0-9_-]{0,31}$/;

type Fail = (message: string, path: string) => undefined;

/**
 * Validates one `auth.trustedIssuers` item, reporting every problem with its path
 * (`auth.trustedIssuers[0].rooms.grant.lobby[1]`). The URL policy, which depends on `dev`, is
 * checked afterwards by {@link trustedIssuerProblems}.
 *
 * @example
 * ```ts
 * parseTrustedIssuer(
 *   { issuer: 'https://id.example.com/', jwksUri: 'https://id.example.com/jwks.json',
 *     audience: 'https://callgate.example.com', tenant: { value: 'acme' } },
 *   'auth.trustedIssuers[0]', fail,
 * );
 * ```
 */
export function parseTrustedIssuer(
  raw: unknown,
  path: string,
  fail: Fail,
): TrustedIssuerConfig | undefined {
  if (!isPlainObject(raw)) return fail('must be a mapping', path);
  let ok = true;
  const bad = (message: string, at: string): undefined => {
    ok = false;
    return fail(message, `${path}.${at}`);
  };
  for (const k of Object.keys(raw))
    if (!(FIELDS as readonly string[]).includes(k))
      bad(`unknown field (known: ${FIELDS.join(', ')})`, k);

  const str = (k: string, required: boolean): string | undefined => {
    const v = raw[k];
    if (v === undefined) return required ? bad('is required', k) : undefined;
    if (typeof v !== 'string' || v === '') return bad('must be a non-empty string', k);
    return v;
  };
  const issuer = str('issuer', true);
  const jwksUri = str('jwksUri', true);
  const audience = str('audience', true);
  const typ = str('typ', false);

  let algorithms: SigningAlgorithm[] = ['RS256'];
  if (raw.algorithms !== undefined) {
    if (!Array.isArray(raw.algorithms) || raw.algorithms.length === 0)
      bad(`must be a non-empty list of ${ASYMMETRIC_ALGORITHMS.join(', ')}`, 'algorithms');
    else {
      algorithms = [];
      raw.algorithms.forEach((a: unknown, i) => {
        if (typeof a === 'string' && (ASYMMETRIC_ALGORITHMS as readonly string[]).includes(a))
          algorithms.push(a as SigningAlgorithm);
        else
          bad(
            `must be one of ${ASYMMETRIC_ALGORITHMS.join(', ')} (asymmetric only)`,
            `algorithms[${i}]`,
          );
      });
    }
  }

  const tenant = parseTenant(raw.tenant, bad);
  const rooms = parseRooms(raw.rooms, bad);
  const metadata = parseMetadata(raw.metadata, bad);
  let sessionIdClaim: ClaimPath = ['sid'];
  if (raw.sessionId !== undefined) {
    if (!isPlainObject(raw.sessionId) || Object.keys(raw.sessionId).join() !== 'claim')
      bad('must be { claim: NAME }', 'sessionId');
    else sessionIdClaim = parseClaimPath(raw.sessionId.claim, 'sessionId.claim', bad) ?? ['sid'];
  }
  let kind: TokenKind = 'user';
  if (raw.kind !== undefined) {
    if (isTokenKind(raw.kind)) kind = raw.kind;
    else bad(`must be one of ${TOKEN_KINDS.join(', ')}`, 'kind');
  }
  let allowInsecureLoopback = false;
  if (raw.allowInsecureLoopback !== undefined) {
    if (typeof raw.allowInsecureLoopback === 'boolean')
      allowInsecureLoopback = raw.allowInsecureLoopback;
    else bad('must be true or false', 'allowInsecureLoopback');
  }
  const ints = {} as Record<keyof typeof INTEGERS, number>;
  for (const [k, spec] of Object.entries(INTEGERS) as Array<
    [keyof typeof INTEGERS, (typeof INTEGERS)[keyof typeof INTEGERS]]
  >) {
    const v = raw[k];
    ints[k] = spec.default;
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < spec.min || v > spec.max)
      bad(`must be an integer from ${spec.min} to ${spec.max}`, k);
    else ints[k] = v;
  }

  if (
    !ok ||
    issuer === undefined ||
    jwksUri === undefined ||
    audience === undefined ||
    tenant === undefined ||
    rooms === undefined ||
    metadata === undefined
  )
    return undefined;
  return {
    issuer,
    jwksUri,
    audience,
    algorithms,
    typ,
    tenant,
    rooms,
    metadata,
    sessionIdClaim,
    kind,
    allowInsecureLoopback,
    ...ints,
  };
}

function parseClaimPath(v: unknown, at: string, bad: Fail): ClaimPath | undefined {
  if (typeof v === 'string' && v !== '') return [v];
  if (Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string' && s !== ''))
    return v as string[];
  return bad('must be a claim name, or a list of names for a nested claim', at);
}

function parseTenant(v: unknown, bad: Fail): TenantMapping | undefined {
  if (v === undefined) return bad('is required: { value: TENANT } or { claim: NAME }', 'tenant');
  if (!isPlainObject(v)) return bad('must be { value: TENANT } or { claim: NAME }', 'tenant');
  const keys = Object.keys(v).sort().join();
  if (keys === 'value') {
    if (!isTenantName(v.value))
      return bad('must be a tenant name (a-z, 0-9, _ and -, 1..63 chars)', 'tenant.value');
    return { from: 'value', value: v.value };
  }
  if (keys === 'claim' || keys === 'claim,prefix') {
    const claim = parseClaimPath(v.claim, 'tenant.claim', bad);
    const prefix = v.prefix ?? '';
    if (prefix !== '' && (typeof prefix !== 'string' || !TENANT_PREFIX.test(prefix)))
      return bad('must be 1..32 characters of a-z, 0-9, _ and -', 'tenant.prefix');
    return claim && { from: 'claim', claim, prefix: prefix as string };
  }
  return bad('must be { value: TENANT } or { claim: NAME, prefix?: TEXT }', 'tenant');
}

function parsePermissions(v: unknown, at: string, bad: Fail): Permission[] | undefined {
  if (!Array.isArray(v) || v.length === 0)
    return bad(`must be a non-empty list of ${PERMISSIONS.join(', ')}`, at);
  const out: Permission[] = [];
  let ok = true;
  v.forEach((p: unknown, i) => {
    if (isPermission(p)) out.push(p);
    else ok = bad(`must be one of ${PERMISSIONS.join(', ')}`, `${at}[${i}]`) ?? false;
  });
  return ok ? [...new Set(out)] : undefined;
}

function parseRooms(v: unknown, bad: Fail): RoomsMapping | undefined {
  if (v === undefined) return { from: 'none' };
  const shapes =
    'must be { grant: { ROOM: [PERMS] } }, { claim: NAME } (a claim holding { ROOM: [PERMS] }) or { claim: NAME, permissions: [PERMS], prefix?: TEXT } (a claim listing room names)';
  if (!isPlainObject(v)) return bad(shapes, 'rooms');
  const keys = Object.keys(v).sort().join();
  if (keys === 'grant') {
    if (!isPlainObject(v.grant))
      return bad('must map room names to permission lists', 'rooms.grant');
    const entries = Object.entries(v.grant);
    if (entries.length > MAX_ROOMS_PER_TOKEN)
      return bad(`must name at most ${MAX_ROOMS_PER_TOKEN} rooms`, 'rooms.grant');
    const grant: RoomGrants = {};
    let ok = true;
    for (const [room, perms] of entries) {
      if (!isRoomName(room)) {
        ok =
          bad('room names are 1..128 characters of [A-Za-z0-9._:-]', `rooms.grant.${room}`) ??
          false;
        continue;
      }
      const p = parsePermissions(perms, `rooms.grant.${room}`, bad);
      if (p) grantRoom(grant, room, p);
      else ok = false;
    }
    return ok ? { from: 'grant', grant } : undefined;
  }
  if (keys === 'claim') {
    const claim = parseClaimPath(v.claim, 'rooms.claim', bad);
    return claim && { from: 'claim-map', claim };
  }
  if (keys === 'claim,permissions' || keys === 'claim,permissions,prefix') {
    const claim = parseClaimPath(v.claim, 'rooms.claim', bad);
    const permissions = parsePermissions(v.permissions, 'rooms.permissions', bad);
    const prefix = v.prefix ?? '';
    if (typeof prefix !== 'string') return bad('must be a string', 'rooms.prefix');
    return claim && permissions && { from: 'claim-list', claim, permissions, prefix };
  }
  return bad(shapes, 'rooms');
}

function parseMetadata(v: unknown, bad: Fail): MetadataMapping[] | undefined {
  if (v === undefined) return [];
  if (!Array.isArray(v)) return bad('must be a list of claim names or { claim, as }', 'metadata');
  const out: MetadataMapping[] = [];
  let ok = true;
  v.forEach((item: unknown, i) => {
    const at = `metadata[${i}]`;
    if (typeof item === 'string' && item !== '') out.push({ claim: [item], as: item });
    else if (
      isPlainObject(item) &&
      ['as,claim', 'claim'].includes(Object.keys(item).sort().join())
    ) {
      const claim = parseClaimPath(item.claim, `${at}.claim`, bad);
      const as = item.as ?? (claim?.length === 1 ? claim[0] : undefined);
      if (typeof as !== 'string' || as === '')
        ok = bad('needs "as" (the metadata key) for a nested claim', `${at}.as`) ?? false;
      else if (claim) out.push({ claim, as });
      else ok = false;
    } else ok = bad('must be a claim name or { claim, as }', at) ?? false;
  });
  const seen = new Set<string>();
  for (const m of out) {
    if (seen.has(m.as)) ok = bad(`metadata key "${m.as}" is mapped twice`, 'metadata') ?? false;
    seen.add(m.as);
  }
  return ok ? out : undefined;
}

/**
 * Why a JWKS URL may not be used, or undefined when it may (catalogue C40, RFC 8725 §3.10):
 * `https` only; never a literal private, link-local or otherwise non-public address; a
 * loopback host (and then `http` too) only when `allowLoopback` (`dev`, or the issuer's
 * `allowInsecureLoopback`). Names are resolved and checked at startup and again on every
 * connection (see `util/address-policy.ts`).
 */
export function jwksUriProblem(uri: string, allowLoopback: boolean): string | undefined {
  let u: URL;
  try {
    u = new URL(uri);
  } catch {
    return 'must be an absolute https URL';
  }
  if (u.username !== '' || u.password !== '') return 'must not carry credentials';
  if (u.hash !== '') return 'must not have a fragment';
  const host = u.hostname;
  const literal = classifyAddress(host);
  const loopback = literal === 'loopback' || (literal === undefined && isLocalhostName(host));
  if (literal === 'private')
    return `must not point at a private, link-local or reserved address (${host})`;
  if (loopback && !allowLoopback)
    return `must not point at a loopback host (${host}) unless dev is on or allowInsecureLoopback is true`;
  if (u.protocol === 'https:') return undefined;
  if (u.protocol === 'http:')
    return loopback
      ? undefined
      : 'must be https (http is allowed only for a loopback host with dev or allowInsecureLoopback)';
  return 'must be an https URL';
}

/**
 * Checks across the list, once `dev` and `auth.issuer` are known: the JWKS URL policy, one
 * entry per issuer, and no entry for Callgate's own issuer (whose tokens use the keyring).
 */
export function trustedIssuerProblems(
  issuers: readonly TrustedIssuerConfig[],
  context: { dev: boolean; ownIssuer: string | undefined },
): ConfigIssue[] {
  const issues: ConfigIssue[] = [];
  const seen = new Set<string>();
  issuers.forEach((t, i) => {
    const path = `auth.trustedIssuers[${i}]`;
    const problem = jwksUriProblem(t.jwksUri, context.dev || t.allowInsecureLoopback);
    if (problem) issues.push({ path: `${path}.jwksUri`, message: problem });
    if (seen.has(t.issuer))
      issues.push({ path: `${path}.issuer`, message: 'is listed twice: one entry per issuer' });
    seen.add(t.issuer);
    if (t.issuer === context.ownIssuer)
      issues.push({
        path: `${path}.issuer`,
        message: "is Callgate's own auth.issuer: its tokens are verified with the keyring",
      });
  });
  return issues;
}
