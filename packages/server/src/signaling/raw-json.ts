/**
 * The source text of one member of a JSON object, so that a relayed `data` value is copied as
 * the client wrote it instead of being serialized again (signaling-core.ts `messageFrame`).
 *
 * `text` must be JSON that `JSON.parse` has already accepted: the scan below relies on that
 * and checks only what it needs to find member boundaries. It returns undefined — and the
 * caller serializes the parsed value instead — whenever the answer would not be certain: the
 * root is not an object, or any member name contains an escape (so `"d\u0061ta"` cannot hide
 * from the name comparison). With duplicate names the last one wins, as in `JSON.parse`.
 *
 * @example
 * ```ts
 * rawMember('{"type":"send","data": {"a" : [1, 2]}}', 'data'); // '{"a" : [1, 2]}'
 * ```
 */
export function rawMember(text: string, name: string): string | undefined {
  const n = text.length;
  let i = skipSpace(text, 0);
  if (text.charCodeAt(i) !== OPEN_BRACE) return undefined;
  i = skipSpace(text, i + 1);
  if (text.charCodeAt(i) === CLOSE_BRACE) return undefined;
  let found: string | undefined;
  // The next backslash at or after the current member name (-1: none in the rest of the text).
  let escape = text.indexOf('\\', i);
  while (i < n) {
    if (text.charCodeAt(i) !== QUOTE) return undefined;
    const keyEnd = stringEnd(text, i);
    if (keyEnd < 0) return undefined;
    // Compared in place (no slice per member): an escape anywhere in the name gives up.
    if (escape >= 0 && escape <= i) escape = text.indexOf('\\', i + 1);
    if (escape >= 0 && escape < keyEnd) return undefined;
    const isName = keyEnd - i - 2 === name.length && text.startsWith(name, i + 1);
    i = skipSpace(text, keyEnd);
    if (text.charCodeAt(i) !== COLON) return undefined;
    const start = skipSpace(text, i + 1);
    const end = valueEnd(text, start);
    if (end < 0) return undefined;
    if (isName) found = text.slice(start, end);
    i = skipSpace(text, end);
    const c = text.charCodeAt(i);
    if (c === CLOSE_BRACE) return found;
    if (c !== COMMA) return undefined;
    i = skipSpace(text, i + 1);
  }
  return undefined;
}

const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

/** The first index at or after `i` that is not JSON whitespace (RFC 8259 §2). */
function skipSpace(text: string, i: number): number {
  for (;;) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) return i;
    i++;
  }
}

/** The index just past the string that opens at `i` (a quote), or -1. */
function stringEnd(text: string, i: number): number {
  let from = i + 1;
  for (;;) {
    const q = text.indexOf('"', from);
    if (q < 0) return -1;
    // The quote closes the string unless an odd number of backslashes precedes it.
    let b = 0;
    while (text.charCodeAt(q - 1 - b) === BACKSLASH) b++;
    if ((b & 1) === 0) return q + 1;
    from = q + 1;
  }
}

/** The index just past the value that starts at `i`, or -1. */
function valueEnd(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c === QUOTE) return stringEnd(text, i);
  if (c === OPEN_BRACE || c === OPEN_BRACKET) {
    let depth = 0;
    const n = text.length;
    let j = i;
    while (j < n) {
      const d = text.charCodeAt(j);
      if (d === QUOTE) {
        j = stringEnd(text, j);
        if (j < 0) return -1;
        continue;
      }
      if (d === OPEN_BRACE || d === OPEN_BRACKET) depth++;
      else if (d === CLOSE_BRACE || d === CLOSE_BRACKET) {
        depth--;
        if (depth === 0) return j + 1;
      }
      j++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter or whitespace.
  let j = i;
  for (;;) {
    const d = text.charCodeAt(j);
    if (
      Number.isNaN(d) ||
      d === COMMA ||
      d === CLOSE_BRACE ||
      d === CLOSE_BRACKET ||
      d === 0x20 ||
      d === 0x0a ||
      d === 0x0d ||
      d === 0x09
    )
      return j === i ? -1 : j;
    j++;
  }
}
