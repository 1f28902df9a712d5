import { randomBytes } from 'node:crypto';

/**
 * A random, URL-safe opaque id: 16 bytes (128 bits) as 22 base64url characters, so ids cannot
 * be guessed or enumerated (security catalogue E65).
 */
export function randomId(bytes = 16): string {
  return randomBytes(bytes).toString('base64url');
}
