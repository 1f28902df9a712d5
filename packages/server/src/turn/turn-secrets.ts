import { createHash, randomBytes } from 'node:crypto';
import type { Store } from '../store/store.js';

/** The store setting holding secrets managed by `callgate turn secret` (JSON, newest first). */
export const TURN_SECRETS_SETTING = 'turn.secrets';

export interface StoredTurnSecret {
  secret: string;
  createdAt: number;
}

/** A secret as it may be shown: a fingerprint, never the value. */
export interface TurnSecretInfo {
  id: string;
  createdAt: number | null;
  primary: boolean;
  source: 'config' | 'store';
}

/** A short, stable fingerprint of a secret, for listing and removal. */
export function secretId(secret: string): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 12);
}

/** A new secret: 48 random bytes as base64url (64 characters, safe in coturn's config). */
export function generateTurnSecret(): string {
  return randomBytes(48).toString('base64url');
}

export async function readStoredSecrets(store: Store): Promise<StoredTurnSecret[]> {
  const raw = await store.getSetting(TURN_SECRETS_SETTING);
  if (raw === null) return [];
  const parsed = JSON.parse(raw) as unknown;
  if (!Array.isArray(parsed)) return [];
  return parsed.filter(
    (s): s is StoredTurnSecret =>
      typeof s === 'object' && s !== null && typeof (s as StoredTurnSecret).secret === 'string',
  );
}

export async function writeStoredSecrets(store: Store, secrets: StoredTurnSecret[]): Promise<void> {
  await store.setSetting(TURN_SECRETS_SETTING, JSON.stringify(secrets));
}

/**
 * Zero-config default: when no secret is configured, generate one on first start and keep it
 * in the store, so `callgate coturn-config` and the server agree with no configuration at all.
 * Concurrent first starts agree on one secret (set-if-absent).
 */
export async function ensureStoredSecret(store: Store, now: number): Promise<StoredTurnSecret[]> {
  const existing = await readStoredSecrets(store);
  if (existing.length > 0) return existing;
  const initial = JSON.stringify([{ secret: generateTurnSecret(), createdAt: now }]);
  await store.setSettingIfAbsent(TURN_SECRETS_SETTING, initial);
  return readStoredSecrets(store);
}
