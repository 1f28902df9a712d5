import type { ParseError, ParseErrorCode } from './messages.js';

/** Internal to the parsers (not exported from the package). */

/** Own properties only: an inherited (or polluted) `Object.prototype` key is never read. */
export function own(obj: Record<string, unknown>, key: string): unknown {
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
