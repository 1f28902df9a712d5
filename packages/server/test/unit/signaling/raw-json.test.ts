import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { rawMember } from '../../../src/signaling/raw-json.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);
const SEED = Number(process.env.FUZZ_SEED ?? 42);

/** JSON text of `members` (in order, duplicates allowed) with whitespace from `ws` between tokens. */
function objectText(members: Array<[string, unknown]>, ws: string[]): string {
  let k = 0;
  const w = () => ws[k++ % ws.length] ?? '';
  return (
    `${w()}{${w()}` +
    members
      .map(
        ([name, v]) => `${JSON.stringify(name)}${w()}:${w()}${JSON.stringify(v, null, w())}${w()}`,
      )
      .join(`,${w()}`) +
    `}${w()}`
  );
}

const whitespace = fc.array(fc.constantFrom('', ' ', '\n', '\t', '\r\n', '  '), {
  minLength: 1,
  maxLength: 8,
});
const names = fc.oneof(
  fc.constantFrom('data', 'type', 'to', 'id', 'dat', 'data ', 'x"data', '\\data', 'da\nta'),
  fc.string({ maxLength: 6 }),
);

test('rawMember returns exactly the text JSON.parse reads for the member', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(names, fc.jsonValue({ maxDepth: 4 })), { maxLength: 6 }),
      whitespace,
      (members, ws) => {
        const text = objectText(members, ws);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const raw = rawMember(text, 'data');
        if (raw === undefined) {
          // Only when there is no `data` member, or a member name had an escape in it.
          const escaped = members.some(([n]) => JSON.stringify(n).includes('\\'));
          assert.ok(!Object.hasOwn(parsed, 'data') || escaped, text);
        } else assert.deepEqual(JSON.parse(raw), parsed.data, text);
      },
    ),
    { numRuns: RUNS, seed: SEED },
  );
});

test('rawMember: the last duplicate wins, as in JSON.parse', () => {
  assert.equal(rawMember('{"data":1,"x":{"data":2},"data":[3, "}"]}', 'data'), '[3, "}"]');
  assert.equal(rawMember('{"data":"a\\"b\\\\","to":"x"}', 'data'), '"a\\"b\\\\"');
  assert.equal(rawMember(' { "data" : null } ', 'data'), 'null');
  assert.equal(rawMember('{"data":-1.5e+3}', 'data'), '-1.5e+3');
});

test('rawMember gives up (undefined) rather than guess', () => {
  // An escaped name could spell `data`: the caller serializes the parsed value instead.
  assert.equal(rawMember('{"data":1,"d\\u0061ta":2}', 'data'), undefined);
  assert.equal(rawMember('[{"data":1}]', 'data'), undefined);
  assert.equal(rawMember('"data"', 'data'), undefined);
  assert.equal(rawMember('{}', 'data'), undefined);
  assert.equal(rawMember('{"type":"send"}', 'data'), undefined);
});
