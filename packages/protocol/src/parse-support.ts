import type { ParseError, ParseErrorCode } from './messages.js';

/** Internal to the package (not exported from it): the parsers and identity.ts. */

/** Own properties only: an inherited (or polluted) `Object.prototype` key is never read. */
export function own<T>(obj: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** A field error, thrown inside a parser and turned into a result at its top. */
export class Invalid {
  constructor(
    readonly code: ParseErrorCode,
    readonly message: string,
    readonly field: string,
  ) {}
}

export function failure(
  code: ParseErrorCode,
  message: string,
  field?: string,
  id?: string,
): { ok: false; error: ParseError } {
  const error: ParseError = { code, message };
  if (field !== undefined) error.field = field;
  if (id !== undefined) error.id = id;
  return { ok: false, error };
}

/** A frame's text as JSON (an already-parsed value passes through); never throws. */
export function decodeFrame(
  input: unknown,
): { ok: true; value: unknown } | { ok: false; error: ParseError } {
  if (typeof input !== 'string') return { ok: true, value: input };
  try {
    return { ok: true, value: JSON.parse(input) as unknown };
  } catch {
    return failure('bad_request', 'The message is not valid JSON');
  }
}
