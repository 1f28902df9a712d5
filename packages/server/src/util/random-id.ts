import { randomBytes } from 'node:crypto';

/**
 * A random, URL-safe opaque id: 16 bytes (128 bits) as 22 base64url characters, so ids cannot
 * be guessed or enumerated (security catalogue E65).
 */
export function randomId(bytes = 16): string {
  // Ids are cut from a 4 KiB pool of CSPRNG output, each byte used once: one randomBytes call
  // per ~250 ids instead of one per id (a connection takes three).
  if (poolOffset + bytes > pool.length) {
    pool = randomBytes(Math.max(POOL_BYTES, bytes));
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return id;
}

const POOL_BYTES = 4096;
let pool = Buffer.alloc(0);
let poolOffset = 0;
