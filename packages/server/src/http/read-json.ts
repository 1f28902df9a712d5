import type { IncomingMessage } from 'node:http';
import { CallgateError } from '@callgate/protocol';

/**
 * Reads a JSON request body: `Content-Type` must be `application/json` (415 otherwise), at most
 * `maxBytes` (413, and reading stops), valid JSON (400 `bad_request`).
 */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') throw new CallgateError('unsupported_media_type');
  const declared = Number(req.headers['content-length'] ?? '0');
  if (declared > maxBytes) throw new CallgateError('payload_too_large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw new CallgateError('payload_too_large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '')
    throw new CallgateError('bad_request', 'The body is empty; send a JSON object');
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new CallgateError('bad_request', 'The body is not valid JSON');
  }
}
