import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ApiKeyRecord, Store } from '../store/store.js';

/** `cgk_<16 hex id>_<43 base64url secret>`: the id is the lookup key, the secret is only hashed. */
const API_KEY_RE = /^cgk_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$/;

export interface NewApiKey {
  record: ApiKeyRecord;
  /** The full key: shown once, never stored. */
  plaintext: string;
}

/** Generates an API key for a tenant. Only the SHA-256 of its 256-bit secret is kept. */
export function generateApiKey(
  tenant: string,
  now: number,
  label: string | null = null,
): NewApiKey {
  const id = randomBytes(8).toString('hex');
  const secret = randomBytes(32).toString('base64url');
  return {
    record: { id, tenant, secretHash: hashSecret(secret), label, createdAt: now, revokedAt: null },
    plaintext: `cgk_${id}_${secret}`,
  };
}

function hashSecret(secret: string): string {
  return createHash('sha256').update(secret).digest('hex');
}

const DUMMY_HASH = Buffer.from(createHash('sha256').update('callgate-dummy').digest('hex'));

/**
 * Resolves a presented API key to its record, or null for a malformed, unknown, revoked key or a
 * wrong secret — the caller answers all of them the same way. The secret is always hashed and
 * compared in constant time, so timing does not tell an unknown id from a wrong secret.
 */
export async function authenticateApiKey(
  store: Store,
  presented: string | undefined,
): Promise<ApiKeyRecord | null> {
  const m = presented === undefined ? null : API_KEY_RE.exec(presented);
  const secretHash = Buffer.from(hashSecret(m?.[2] ?? ''));
  const record = m ? await store.getApiKey(m[1]!) : null;
  const expected = record ? Buffer.from(record.secretHash) : DUMMY_HASH;
  const match = expected.length === secretHash.length && timingSafeEqual(expected, secretHash);
  if (!record || !match || record.revokedAt !== null) return null;
  return record;
}

/** The bearer credential of an `Authorization` header, or undefined. */
export function bearerToken(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const m = /^Bearer[ ]+([^\s]+)[ ]*$/i.exec(header);
  return m?.[1];
}
