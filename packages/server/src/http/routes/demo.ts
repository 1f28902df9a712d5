import type { ServerResponse } from 'node:http';
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CallgateError } from '@callgate/protocol';
import type { Router } from '../router.js';

/** The repository root, from src/http/routes or dist/http/routes alike. */
const ROOT = fileURLToPath(new URL('../../../../../', import.meta.url));

/** URL prefix → directory. The SDK and protocol are served as built ES modules (an import map in the page). */
const MOUNTS: Array<[string, string]> = [
  ['/demo/lib/protocol/', join(ROOT, 'packages/protocol/dist')],
  ['/demo/lib/client/', join(ROOT, 'packages/client/dist')],
  ['/demo/', join(ROOT, 'apps/demo/public')],
];

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.map': 'application/json',
};

// The page may talk only to this origin (API, WebSocket) and show camera streams.
const csp = (scriptSources: string[] = []) =>
  `default-src 'self'; script-src ${["'self'", ...scriptSources].join(' ')}; style-src 'self'; img-src 'self' data:; media-src 'self' blob: mediastream:; connect-src 'self' ws: wss:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`;
const CSP = csp();

const IMPORT_MAP = /<script type="importmap">([\s\S]*?)<\/script>/g;

/** A CSP hash-source (`'sha256-<base64>'`) of an inline script's text. */
function sha256Source(text = ''): string {
  return `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;
}

/**
 * The CSP for a served file. An HTML page's inline import maps (the browser cannot load one
 * from a file) are allowed by their SHA-256 hash (CSP3 §8.3 hash-source), so `script-src`
 * stays without 'unsafe-inline': no other inline script runs, and an edited map must match.
 */
function cspFor(type: string, body: Buffer): string {
  if (!type.startsWith('text/html')) return CSP;
  const hashes = [...body.toString('utf8').matchAll(IMPORT_MAP)].map((m) => sha256Source(m[1]));
  return hashes.length === 0 ? CSP : csp(hashes);
}

/**
 * Dev mode only: serves the demo call page at `/demo` (apps/demo/public) with the SDK and the
 * protocol package from their build output. Paths are confined to their mount (no `..`).
 */
export function addDemoRoutes(router: Router): void {
  const serve = async (urlPath: string, res: ServerResponse, head: boolean) => {
    for (const [prefix, dir] of MOUNTS) {
      if (!urlPath.startsWith(prefix)) continue;
      const rel = decodeURIComponent(urlPath.slice(prefix.length)) || 'index.html';
      const file = normalize(join(dir, rel));
      if (!file.startsWith(dir + sep)) throw new CallgateError('not_found');
      const type = TYPES[extname(file)];
      if (type === undefined) throw new CallgateError('not_found');
      let body: Buffer;
      try {
        if (!(await stat(file)).isFile()) throw new Error('not a file');
        body = await readFile(file);
      } catch {
        throw new CallgateError(
          'not_found',
          prefix.startsWith('/demo/lib/') ? 'Not built: run npm run build' : undefined,
        );
      }
      res.writeHead(200, {
        'content-type': type,
        'content-length': body.length,
        'cache-control': 'no-cache',
        'x-content-type-options': 'nosniff',
        'content-security-policy': cspFor(type, body),
        'referrer-policy': 'no-referrer',
        // The page asks for camera and microphone on its own origin only.
        'permissions-policy': 'camera=(self), microphone=(self)',
      });
      res.end(head ? undefined : body);
      return;
    }
    throw new CallgateError('not_found');
  };
  // The router folds `/demo` and `/demo/` together; relative URLs in the page need the slash.
  router.add('GET', '/demo', ({ req, res, url }) => {
    if (url.pathname.endsWith('/')) return serve('/demo/index.html', res, req.method === 'HEAD');
    res.writeHead(301, { location: '/demo/' }).end();
  });
  for (const depth of [1, 2, 3, 4, 5]) {
    const pattern = '/demo' + '/:p'.repeat(depth).replace(/:p/g, (_m, i: number) => `:p${i}`);
    router.add('GET', pattern, ({ req, res, url }) =>
      serve(url.pathname, res, req.method === 'HEAD'),
    );
  }
}
