import { parseArgs, type ParseArgsConfig } from 'node:util';

/** A usage error: exit code 2 with the message. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** Options every command takes (design.md "CLI"). */
export const COMMON_OPTIONS = {
  config: { type: 'string' },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const satisfies ParseArgsConfig['options'];

type Options = NonNullable<ParseArgsConfig['options']>;
type Parsed<O extends Options> = ReturnType<
  typeof parseArgs<{
    args: string[];
    options: typeof COMMON_OPTIONS & O;
    allowPositionals: true;
    strict: true;
  }>
>;

/**
 * `node:util` parseArgs with the common options; a parse failure is a usage error (exit 2).
 *
 * Ids Callgate generates are base64url, so one in 64 starts with `-` (a key's `kid`, a TURN
 * secret id): an argument of three or more characters that starts with a single `-` is taken
 * as a value — positional, or the value of the option before it — never as grouped short flags
 * (the only short flag is `-h`). `callgate keys revoke -Xy3...` works without `--`.
 */
export function parse<O extends Options>(argv: string[], options: O): Parsed<O> {
  const held = new Map<string, string>();
  const args = argv.map((a) => {
    if (!/^-[^-]./.test(a)) return a;
    const slot = `\u0000value${held.size}`;
    held.set(slot, a);
    return slot;
  });
  let parsed: Parsed<O>;
  try {
    parsed = parseArgs({
      args,
      options: { ...COMMON_OPTIONS, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  if (held.size === 0) return parsed;
  const back = (v: unknown): unknown =>
    typeof v === 'string' ? (held.get(v) ?? v) : Array.isArray(v) ? v.map(back) : v;
  const values = parsed.values as Record<string, unknown>;
  for (const k of Object.keys(values)) values[k] = back(values[k]);
  return { ...parsed, positionals: parsed.positionals.map((p) => held.get(p) ?? p) };
}
