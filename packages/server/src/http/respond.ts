import type { ServerResponse } from 'node:http';
import { CallgateError, type ErrorCode } from '@callgate/protocol';

/** Headers for every response that carries a credential (design.md "HTTP API"). */
export const CREDENTIAL_HEADERS = {
  'cache-control': 'no-store',
  vary: 'Authorization',
  pragma: 'no-cache',
} as const;

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string | number> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(payload),
    'x-content-type-options': 'nosniff',
    ...headers,
  });
  res.end(payload);
}

/** `{"error": {"code", "message", "field"?}}` with the code's HTTP status. */
export function sendError(
  res: ServerResponse,
  error: CallgateError | ErrorCode,
  headers: Record<string, string | number> = {},
): void {
  const err = typeof error === 'string' ? new CallgateError(error) : error;
  res.locals ??= {};
  res.locals.errorCode = err.code;
  sendJson(res, err.status, { error: err.toBody() }, { 'cache-control': 'no-store', ...headers });
}

declare module 'node:http' {
  interface ServerResponse {
    /** Per-request fields for the access log line (never secrets). */
    locals?: { errorCode?: string; tenant?: string; sub?: string; sid?: string; detail?: string };
  }
}
