/**
 * docs/configuration.md documents every key of CONFIG_KEYS with its default and environment
 * variable, and no key that no longer exists.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { CONFIG_KEYS, envName } from '../../../src/config/schema.js';

const DOC = new URL('../../../../../docs/configuration.md', import.meta.url);
// | `server.port` | `8080` | `CALLGATE_SERVER_PORT` | description |
const ROW =
  /^\|\s*`([A-Za-z.]+)`\s*\|\s*([^|]*?)\s*\|\s*`(CALLGATE_[A-Z_]+)`\s*\|\s*(.*?)\s*\|\s*$/;

/** How a default is written in the doc: in backticks, lists in JSON-ish flow style. */
function formatDefault(value: unknown): string {
  if (value === undefined) return '(none)';
  if (Array.isArray(value)) return '`[' + value.map((v) => JSON.stringify(v)).join(', ') + ']`';
  return '`' + String(value) + '`';
}

function documented(): Map<string, { defaultCell: string; env: string; description: string }[]> {
  const rows = new Map<string, { defaultCell: string; env: string; description: string }[]>();
  for (const line of readFileSync(DOC, 'utf8').split('\n')) {
    const m = ROW.exec(line);
    if (!m) continue;
    const [, key, defaultCell, env, description] = m as unknown as string[];
    const list = rows.get(key!) ?? [];
    list.push({ defaultCell: defaultCell!, env: env!, description: description! });
    rows.set(key!, list);
  }
  return rows;
}

test('every configuration key is documented once with its default and environment variable', () => {
  const rows = documented();
  const missing: string[] = [];
  for (const [key, spec] of Object.entries(CONFIG_KEYS)) {
    const found = rows.get(key);
    if (!found) {
      missing.push(key);
      continue;
    }
    assert.equal(found.length, 1, `${key} is documented ${found.length} times`);
    const row = found[0]!;
    assert.equal(row.defaultCell, formatDefault(spec.default), `${key}: default`);
    assert.equal(row.env, envName(key), `${key}: environment variable`);
    assert.ok(row.description.length >= 10, `${key}: description`);
  }
  assert.deepEqual(missing, [], 'keys missing from docs/configuration.md');
});

test('docs/configuration.md lists no key that does not exist', () => {
  const stale = [...documented().keys()].filter((key) => !Object.hasOwn(CONFIG_KEYS, key));
  assert.deepEqual(stale, []);
});

test('the documented environment variables are the ones the loader reads', () => {
  const text = readFileSync(DOC, 'utf8');
  const known = new Set([...Object.keys(CONFIG_KEYS).map(envName), 'CALLGATE_CONFIG']);
  // Every CALLGATE_* name mentioned anywhere on the page exists, except the deliberate typo in
  // the error example.
  const mentioned = new Set(text.match(/CALLGATE_[A-Z_]+/g) ?? []);
  mentioned.delete('CALLGATE_SERVR_PORT');
  const unknown = [...mentioned].filter((n) => !known.has(n));
  assert.deepEqual(unknown, []);
});
