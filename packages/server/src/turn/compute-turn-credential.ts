import { createHmac, type KeyObject } from 'node:crypto';

/**
 * The TURN REST password function (draft-uberti-behave-turn-rest-00 §2.2):
 * `base64(HMAC-SHA1(secret, username))` over the whole username, standard base64 with padding,
 * exactly what coturn's `use-auth-secret` recomputes (a hex or base64url digest gets 401).
 *
 * This is the bare primitive, with no policy: `mintTurnCredentials()` checks the secret's
 * strength and the username's format. A string secret is keyed as its UTF-8 bytes, as coturn
 * reads `static-auth-secret=` from its config file; a secret `KeyObject` holds those bytes.
 *
 * @example
 * computeTurnCredential('north-hill-secret-0123456789abcdef', '1700003600:sess_1'); // 28-char base64
 */
export function computeTurnCredential(
  secret: string | Uint8Array | KeyObject,
  username: string | Uint8Array,
): string {
  return createHmac('sha1', secret).update(username).digest('base64');
}
