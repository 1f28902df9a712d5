import { CallgateError, roomGrant, type RoomGrants } from '@callgate/protocol';
import type { Services } from '../services.js';
import type { SessionCredentialMatch, SessionFamily, SessionGrants } from '../store/store.js';
import type { SessionCredentialKind } from '../store/store.js';
import type { IssuedAccessToken } from './issue-access-token.js';
import type { MintRequest } from './mint-request.js';
import { newSessionCredential, presentedCredentialHash } from './session-credential.js';
import { loadCsrfSigner, type CsrfSigner } from './csrf-token.js';
import { randomId } from '../util/random-id.js';

/** How long a session grant may wait for its exchange (single use either way). */
export const SESSION_GRANT_TTL_SECONDS = 60;

export interface StartedSession {
  /** The one-time grant (`cgg_...`): the backend hands it to its page. */
  grant: string;
  /** When the grant expires (ms since the epoch). */
  expiresAt: number;
  sessionId: string;
  /** When the session ends at the latest (ms since the epoch). */
  sessionExpiresAt: number;
}

export interface RotatedSession {
  issued: IssuedAccessToken;
  /** The new refresh credential (`cgr_...`), for the HttpOnly cookie only. */
  refresh: string;
  family: SessionFamily;
}

/** Why a family is revoked (reaches the log line). */
export type SessionRevokeReason = 'logout' | 'reuse' | 'revoked';

/** A refresh request's narrowing of the session (RFC 6749 §6: never broader). */
export interface RequestedScope {
  rooms?: RoomGrants;
  ttlSeconds?: number;
}

/**
 * Browser sessions (docs/sessions.md): a family of single-use credentials per session. The
 * backend starts one (a 60 s grant); the page exchanges the grant, then refreshes; every use
 * rotates the credential, and presenting one that was already rotated revokes the whole family
 * (RFC 9700 §4.14.2: of the attacker and the user, one holds a stale credential, and the server
 * cannot tell which). The store keeps hashes only; rotation is a compare-and-swap there.
 *
 * @example
 * ```ts
 * const sessions = createSessionManager(services);
 * const { grant } = await sessions.start('acme', mint);
 * const match = await sessions.find('grant', grant);
 * const { issued, refresh } = await sessions.rotate(match, {});
 * ```
 */
export function createSessionManager(services: Services) {
  const { store, clock, log } = services;
  let csrf: Promise<CsrfSigner> | undefined;
  const csrfSigner = () => (csrf ??= loadCsrfSigner(store));

  const keepRevocationMs = () => {
    const { sessionTtlSeconds, accessTokenTtlSeconds, clockToleranceSeconds } =
      services.config.auth;
    return Math.max(sessionTtlSeconds, accessTokenTtlSeconds + clockToleranceSeconds) * 1000;
  };

  const invalidGrant = (detail: string): never => {
    throw Object.assign(new CallgateError('invalid_grant'), { detail });
  };

  /** Revokes the family and its `sid` (tokens stop verifying), then closes its sockets (4403). */
  async function revoke(family: SessionFamily, reason: SessionRevokeReason): Promise<number> {
    const now = clock.now();
    await store.revokeSessionFamily(family.sessionId, now);
    await services.revocations.add({
      tenant: family.tenant,
      kind: 'sid',
      value: family.sessionId,
      revokedAt: now,
      expiresAt: now + keepRevocationMs(),
    });
    let closed = 0;
    for (const c of services.connections)
      closed += await c.closeSession(family.tenant, family.sessionId, 'token_revoked');
    const line = {
      event: 'session_revoked',
      reason,
      tenant: family.tenant,
      sub: family.grants.sub,
      sid: family.sessionId,
      closed,
    };
    if (reason === 'reuse') log.warn(line, 'refresh credential reused: session revoked');
    else log.info(line, 'session revoked');
    return closed;
  }

  return {
    /** Starts a session for the API key's tenant: a new `sid` and its one-time grant. */
    async start(tenant: string, request: MintRequest): Promise<StartedSession> {
      const now = clock.now();
      const grant = newSessionCredential('grant');
      const grants: SessionGrants = {
        sub: request.sub,
        rooms: request.rooms,
        kind: request.kind,
        ttlSeconds: request.ttlSeconds,
      };
      if (request.metadata !== undefined) grants.metadata = request.metadata;
      const sessionExpiresAt = now + services.config.auth.sessionTtlSeconds * 1000;
      const expiresAt = Math.min(sessionExpiresAt, now + SESSION_GRANT_TTL_SECONDS * 1000);
      const family: SessionFamily = {
        sessionId: randomId(),
        tenant,
        grants,
        currentHash: grant.hash,
        generation: 0,
        createdAt: now,
        lastUsedAt: now,
        expiresAt: sessionExpiresAt,
        idleExpiresAt: expiresAt,
        revokedAt: null,
      };
      await store.createSessionFamily(family);
      log.info(
        { event: 'session_started', tenant, sub: grants.sub, sid: family.sessionId },
        'browser session started',
      );
      return { grant: grant.plaintext, expiresAt, sessionId: family.sessionId, sessionExpiresAt };
    },

    /**
     * The family of a presented credential of `kind`. Malformed (an access JWT at `/refresh`,
     * catalogue B24), of another kind, or unknown: 400 `invalid_grant`. Liveness is judged by
     * {@link rotate}.
     */
    async find(kind: SessionCredentialKind, presented: unknown): Promise<SessionCredentialMatch> {
      const hash = presentedCredentialHash(kind, presented);
      if (hash === null) return invalidGrant(`not a session ${kind} credential`);
      const match = await store.findSessionCredential(hash);
      if (match === null || match.kind !== kind) return invalidGrant(`unknown ${kind} credential`);
      return match;
    },

    /**
     * Spends the presented credential: checks the family is live, detects reuse (and revokes),
     * checks the requested scope, signs a new access token and swaps in a new refresh
     * credential atomically. Throws `invalid_grant` / `invalid_scope`.
     */
    async rotate(match: SessionCredentialMatch, scope: RequestedScope): Promise<RotatedSession> {
      const { family } = match;
      const now = clock.now();
      if (family.revokedAt !== null) return invalidGrant('session revoked');
      if (services.revocations.isRevoked(family.tenant, family.sessionId)) {
        // Revoked by the API (`POST /v1/sessions/{sid}/revoke`): end the family too.
        await store.revokeSessionFamily(family.sessionId, now);
        return invalidGrant('session revoked');
      }
      if (!match.current) {
        await revoke(family, 'reuse');
        return invalidGrant('credential reused');
      }
      if (now >= family.expiresAt) return invalidGrant('session expired');
      if (now >= family.idleExpiresAt)
        return invalidGrant(family.generation === 0 ? 'grant expired' : 'session idle');
      const rooms = narrowRooms(family.grants.rooms, scope.rooms);
      let ttlSeconds = family.grants.ttlSeconds;
      if (scope.ttlSeconds !== undefined) {
        if (scope.ttlSeconds > ttlSeconds)
          throw new CallgateError('invalid_scope', 'A refresh may not ask for a longer lifetime', {
            field: 'ttlSeconds',
          });
        ttlSeconds = scope.ttlSeconds;
      }
      // An access token never outlives its session.
      ttlSeconds = Math.max(1, Math.min(ttlSeconds, Math.floor((family.expiresAt - now) / 1000)));
      // Signed before the swap: a request that loses the race has signed a token it never
      // returns, but a winner never loses its new credential to a signing failure.
      const issued = await services.issueToken({
        tenant: family.tenant,
        sub: family.grants.sub,
        rooms,
        ttlSeconds,
        metadata: family.grants.metadata,
        kind: family.grants.kind,
        sessionId: family.sessionId,
      });
      const refresh = newSessionCredential('refresh');
      const idleExpiresAt = Math.min(
        family.expiresAt,
        now + services.config.auth.sessionIdleSeconds * 1000,
      );
      const updated = await store.rotateSessionCredential({
        sessionId: family.sessionId,
        expectedHash: family.currentHash,
        newHash: refresh.hash,
        now,
        idleExpiresAt,
      });
      if (updated === null) {
        // Another request spent the same credential first: this one presented a rotated
        // credential, which is reuse, however close in time.
        await revoke(family, 'reuse');
        return invalidGrant('credential reused (concurrent)');
      }
      return { issued, refresh: refresh.plaintext, family: updated };
    },

    revoke,

    /** A CSRF token bound to the session. */
    async csrfToken(family: SessionFamily): Promise<string> {
      return (await csrfSigner()).issue(family.tenant, family.sessionId);
    },

    /** True when `token` is the server's CSRF token for this session. */
    async verifyCsrf(family: SessionFamily, token: string): Promise<boolean> {
      return (await csrfSigner()).verify(family.tenant, family.sessionId, token);
    },
  };
}

export type SessionManager = ReturnType<typeof createSessionManager>;

/** The requested rooms when each room and permission is within the session's; else `invalid_scope`. */
function narrowRooms(granted: RoomGrants, requested: RoomGrants | undefined): RoomGrants {
  if (requested === undefined) return granted;
  for (const [room, perms] of Object.entries(requested)) {
    const allowed = roomGrant(granted, room) ?? [];
    for (const p of perms)
      if (!allowed.includes(p))
        throw new CallgateError('invalid_scope', `The session does not grant ${p} in ${room}`, {
          field: `rooms.${room}`,
        });
  }
  return requested;
}
