import type { IncomingMessage, ServerResponse } from 'node:http';
import { CallgateError } from '@callgate/protocol';
import { sendError } from './respond.js';

export interface RouteContext {
  req: IncomingMessage;
  res: ServerResponse;
  params: Record<string, string>;
  url: URL;
  /** The client address (socket address, or X-Forwarded-For when trusted). */
  remoteAddress: string;
}

export type RouteHandler = (ctx: RouteContext) => Promise<void> | void;

interface Route {
  method: string;
  segments: string[];
  handler: RouteHandler;
}

/**
 * A small exact-match router: `/v1/rooms/:room/peers`. Unknown paths get 404 `not_found`, known
 * paths with another method 405 `method_not_allowed` with an `Allow` header.
 */
export class Router {
  readonly #routes: Route[] = [];

  add(method: string | string[], pattern: string, handler: RouteHandler): this {
    for (const m of Array.isArray(method) ? method : [method])
      this.#routes.push({ method: m, segments: pattern.split('/').filter(Boolean), handler });
    return this;
  }

  /** Finds and runs the handler; returns false when no route path matched (404 sent). */
  async dispatch(
    req: IncomingMessage,
    res: ServerResponse,
    url: URL,
    remoteAddress: string,
  ): Promise<void> {
    const parts = url.pathname.split('/').filter(Boolean);
    const allowed: string[] = [];
    for (const route of this.#routes) {
      const params = match(route.segments, parts);
      if (params === null) continue;
      if (route.method !== req.method && !(route.method === 'GET' && req.method === 'HEAD')) {
        allowed.push(route.method);
        continue;
      }
      await route.handler({ req, res, params, url, remoteAddress });
      return;
    }
    if (allowed.length > 0)
      sendError(res, 'method_not_allowed', { allow: [...new Set(allowed)].join(', ') });
    else sendError(res, 'not_found');
  }
}

function match(pattern: string[], parts: string[]): Record<string, string> | null {
  if (pattern.length !== parts.length) return null;
  const params: Record<string, string> = {};
  for (let i = 0; i < pattern.length; i++) {
    const p = pattern[i]!;
    const v = parts[i]!;
    if (p.startsWith(':')) {
      let decoded: string;
      try {
        decoded = decodeURIComponent(v);
      } catch {
        throw new CallgateError('bad_request', 'Malformed percent-encoding in the path');
      }
      params[p.slice(1)] = decoded;
    } else if (p !== v) return null;
  }
  return params;
}
