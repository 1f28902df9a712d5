/**
 * A real OpenID provider (panva's `oidc-provider`) on 127.0.0.1 port 0, issuing RFC 9068 JWT
 * access tokens for one resource indicator: the external issuer of the issue-8 tests.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';

export const CLIENT_ID = 'web';
export const CLIENT_SECRET = 'test-client-secret-0123456789abcdef';
const REDIRECT_URI = 'https://app.test/callback';

export interface TestOidcProviderOptions {
  /** The resource indicator, which becomes the access token's `aud`. */
  resource: string;
  /** `kid` of the provider's signing key (tests make two providers collide on it). */
  kid?: string;
  /** Extra access-token claims, by account id (`sub`; the client id for client_credentials). */
  claims?: (sub: string) => Record<string, unknown>;
  accessTokenTtlSeconds?: number;
}

export interface TestOidcProvider {
  issuer: string;
  jwksUri: string;
  /** The provider's public signing JWK. */
  publicJwk: JWK;
  /** Its private key (tests sign forgeries "from" it). */
  privateKey: KeyObject;
  /** An access token from the client_credentials grant (`sub` is the client id). */
  clientCredentialsToken(): Promise<string>;
  /** Runs the authorization-code flow as `login` (dev interactions, driven by fetch). */
  login(login: string): Promise<{ accessToken: string; idToken: string }>;
  close(): Promise<void>;
}

/** Runs `fn` with oidc-provider's development warnings (printed on import and start) muted. */
async function quietly<T>(fn: () => Promise<T>): Promise<T> {
  const { warn, info } = console;
  console.warn = () => {};
  console.info = () => {};
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}

export async function startOidcProvider(
  options: TestOidcProviderOptions,
): Promise<TestOidcProvider> {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = options.kid ?? 'provider-key-1';
  const privateJwk = { ...privateKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...publicJwk } = privateJwk;
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const ttl = options.accessTokenTtlSeconds ?? 300;

  const provider: Provider = await quietly(async () => {
    const { default: ProviderClass } = await import('oidc-provider');
    return new ProviderClass(issuer, {
      clients: [
        {
          client_id: CLIENT_ID,
          client_secret: CLIENT_SECRET,
          grant_types: ['authorization_code', 'client_credentials'],
          response_types: ['code'],
          redirect_uris: [REDIRECT_URI],
        },
      ],
      jwks: { keys: [privateJwk as never] },
      features: {
        clientCredentials: { enabled: true },
        resourceIndicators: {
          enabled: true,
          defaultResource: () => options.resource,
          useGrantedResource: () => true,
          getResourceServerInfo: () => ({
            scope: 'signal',
            audience: options.resource,
            accessTokenFormat: 'jwt',
            accessTokenTTL: ttl,
            jwt: { sign: { alg: 'RS256' } },
          }),
        },
      },
      pkce: { required: () => false },
      ttl: {
        ClientCredentials: ttl,
        AccessToken: ttl,
        AuthorizationCode: 60,
        IdToken: 3600,
        Interaction: 600,
        Session: 3600,
        Grant: 3600,
      },
      findAccount: (_ctx: KoaContextWithOIDC, sub: string) => ({
        accountId: sub,
        claims: () => ({ sub }),
      }),
      extraTokenClaims: (_ctx: KoaContextWithOIDC, token) => {
        const t = token as { accountId?: string; clientId?: string };
        return options.claims?.(t.accountId ?? t.clientId ?? '') ?? {};
      },
    });
  });
  server.on('request', provider.callback());

  const basic = `Basic ${Buffer.from(`${CLIENT_ID}:${CLIENT_SECRET}`).toString('base64')}`;
  const tokenRequest = async (params: Record<string, string>) => {
    const res = await fetch(`${issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic },
      body: new URLSearchParams(params),
    });
    const body = (await res.json()) as Record<string, string>;
    if (res.status !== 200) throw new Error(`token request failed: ${JSON.stringify(body)}`);
    return body;
  };

  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    publicJwk: publicJwk as JWK,
    privateKey,
    async clientCredentialsToken() {
      const body = await tokenRequest({
        grant_type: 'client_credentials',
        resource: options.resource,
        scope: 'signal',
      });
      return body.access_token!;
    },
    async login(login) {
      // A cookie jar and manual redirects: the provider's development login and consent pages.
      const jar = new Map<string, string>();
      const go = async (url: string, init: RequestInit = {}) => {
        const res = await fetch(new URL(url, issuer), {
          ...init,
          redirect: 'manual',
          headers: {
            ...(init.headers as Record<string, string>),
            cookie: [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
          },
        });
        for (const c of res.headers.getSetCookie()) {
          const pair = c.split(';')[0]!;
          const eq = pair.indexOf('=');
          jar.set(pair.slice(0, eq), pair.slice(eq + 1));
        }
        return res;
      };
      let res = await go(
        `/auth?${new URLSearchParams({
          client_id: CLIENT_ID,
          response_type: 'code',
          scope: 'openid signal',
          redirect_uri: REDIRECT_URI,
          nonce: 'test-nonce',
          resource: options.resource,
        })}`,
      );
      let code: string | null = null;
      for (let step = 0; step < 12 && code === null; step++) {
        const location = res.headers.get('location');
        if (location?.startsWith(REDIRECT_URI)) code = new URL(location).searchParams.get('code');
        else if (location) res = await go(location);
        else {
          const html = await res.text();
          const action = /action="([^"]+)"/.exec(html)?.[1];
          const prompt = /name="prompt" value="(\w+)"/.exec(html)?.[1];
          if (!action || !prompt) throw new Error(`unexpected page: ${res.status}`);
          res = await go(action, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(
              prompt === 'login' ? { prompt, login, password: 'any' } : { prompt },
            ),
          });
        }
      }
      if (code === null) throw new Error('no authorization code');
      const body = await tokenRequest({
        grant_type: 'authorization_code',
        code,
        redirect_uri: REDIRECT_URI,
        resource: options.resource,
      });
      return { accessToken: body.access_token!, idToken: body.id_token! };
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/**
 * Waits until the server has the provider's keys: the startup fetch runs in the background and,
 * on a loaded machine, may time out once; the short cooldown lets the next try come soon.
 */
export async function untilKeysFetched(server: { url: string }, token: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const res = await fetch(`${server.url}/v1/turn/credentials`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
    });
    if (res.status !== 503) return;
    if (Date.now() > deadline) throw new Error('the provider keys were never fetched');
    await new Promise((r) => setTimeout(r, 250));
  }
}
