/**
 * docs/errors.md documents exactly the codes of ErrorCodes, each with its HTTP status and close
 * code (the fastify pattern: a code missing from the docs, or a documented code that no longer
 * exists, fails the build).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ErrorCodes } from '@callgate/protocol';

const DOC = new URL('../../../../../docs/errors.md', import.meta.url);
// | `code` | 401 | 4401 | meaning | action |
const ROW =
  /^\|\s*`([^`]+)`\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*([^|]*?)\s*\|\s*$/;

interface DocRow {
  status: string;
  close: string;
  meaning: string;
  action: string;
  line: number;
}

function documented(): Map<string, DocRow[]> {
  const rows = new Map<string, DocRow[]>();
  readFileSync(DOC, 'utf8')
    .split('\n')
    .forEach((text, i) => {
      const m = ROW.exec(text);
      if (!m) return;
      const [, code, status, close, meaning, action] = m as unknown as string[];
      const list = rows.get(code!) ?? [];
      list.push({
        status: status!,
        close: close!,
        meaning: meaning!,
        action: action!,
        line: i + 1,
      });
      rows.set(code!, list);
    });
  return rows;
}

test('every error code is documented once, with its HTTP status and close code', () => {
  const rows = documented();
  const missing: string[] = [];
  for (const [code, spec] of Object.entries(ErrorCodes)) {
    const found = rows.get(code);
    if (!found) {
      missing.push(code);
      continue;
    }
    assert.equal(found.length, 1, `${code} is documented ${found.length} times`);
    const row = found[0]!;
    assert.equal(
      row.status,
      String(spec.status),
      `${code}: HTTP status (docs/errors.md:${row.line})`,
    );
    assert.equal(
      row.close,
      spec.close === null ? '—' : String(spec.close),
      `${code}: close code (docs/errors.md:${row.line})`,
    );
    assert.ok(row.meaning.length >= 10, `${code}: meaning is empty`);
    assert.ok(row.action.length >= 4, `${code}: what the client should do is empty`);
  }
  assert.deepEqual(missing, [], 'codes missing from docs/errors.md');
});

test('docs/errors.md lists no code that does not exist', () => {
  const stale = [...documented().keys()].filter((code) => !Object.hasOwn(ErrorCodes, code));
  assert.deepEqual(stale, []);
});
