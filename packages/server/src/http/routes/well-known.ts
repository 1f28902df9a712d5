import type { Router } from '../router.js';
import type { Services } from '../../services.js';
import { sendJson } from '../respond.js';

/** `GET /.well-known/jwks.json` and `GET /.well-known/openid-configuration` (design.md "Keys and JWKS"). */
export function addWellKnownRoutes(router: Router, services: Services): void {
  router.add('GET', '/.well-known/jwks.json', ({ res }) => {
    sendJson(res, 200, services.keyring.jwks(), { 'cache-control': 'public, max-age=300' });
  });
  router.add('GET', '/.well-known/openid-configuration', ({ res }) => {
    sendJson(
      res,
      200,
      {
        issuer: services.issuer,
        jwks_uri: `${services.publicUrl}/.well-known/jwks.json`,
        token_endpoint: `${services.publicUrl}/v1/tokens`,
        id_token_signing_alg_values_supported: services.config.auth.allowedAlgorithms,
        access_token_signing_alg_values_supported: services.config.auth.allowedAlgorithms,
      },
      { 'cache-control': 'public, max-age=300' },
    );
  });
}
