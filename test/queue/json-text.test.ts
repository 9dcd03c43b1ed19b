// Editing a JSON object's text without parsing its values: every byte not edited is kept.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { memberText, objectMembers, withMembers, type JsonPrimitive } from '../../queue/src/json-text.ts';
import { seeded } from '../helpers/seeded.ts';

/** A random JSON value of at most `depth` levels, with the strings and numbers a scanner could trip on. */
function randomJson(random: () => number, depth: number): string {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
  const strings = ['""', '"}"', '"]"', '"\\""', '"\\\\"', '"a\\\\\\"b"', '"{\\"x\\":1}"', '"\\u00e9\\/"', '"é€😀"', '","', '":"'];
  const scalars = [...strings, '0', '-0.0', '1.0', '12345678901234567891', '1e400', '1E+2', 'true', 'false', 'null'];
  if (depth === 0 || random() < 0.3) return pick(scalars);
  const n = Math.floor(random() * 4);
  const space = (): string => pick(['', '', ' ', '\n  ']);
  if (random() < 0.5) return `[${space()}${Array.from({ length: n }, () => randomJson(random, depth - 1)).join(`,${space()}`)}${space()}]`;
  return `{${space()}${Array.from({ length: n }, (_, i) => `"k${i}${pick(['', '}', ']', '\\"', ':'])}"${space()}:${space()}${randomJson(random, depth - 1)}`).join(`,${space()}`)}${space()}}`;
}

describe('json-text', () => {
  it('finds the top-level members of an object, past strings and nesting', () => {
    const text = ' { "a" : "}\\"{" , "b":[{"c":"]"}],"c":{"d":[1,{}]},"n":-1.50e+3 } ';
    const members = objectMembers(text);
    assert.deepEqual(members?.map((m) => [m.key, text.slice(m.valueStart, m.valueEnd)]), [
      ['a', '"}\\"{"'], ['b', '[{"c":"]"}]'], ['c', '{"d":[1,{}]}'], ['n', '-1.50e+3'],
    ]);
    assert.equal(text.slice(members?.[0]?.start), '"a" : "}\\"{" , "b":[{"c":"]"}],"c":{"d":[1,{}]},"n":-1.50e+3 } ');
    assert.deepEqual(objectMembers('{}'), []);
    assert.deepEqual(objectMembers(' { } '), []);
    assert.deepEqual(objectMembers('{"\\u0061\\"":1}')?.map((m) => m.key), ['a"']);
  });

  it('says when the text is not an object', () => {
    for (const text of ['', '[1]', '"x"', '12', '{"a":1', '{"a":1}x', '{a:1}', '{"a" 1}', '{"a":1,}', '{"a":"1}', '{"a":[1}']) {
      assert.equal(objectMembers(text), undefined, text);
    }
    assert.throws(() => withMembers('[1]', { a: 1 }), /not the text of a JSON object/);
  });

  it('agrees with JSON.parse on the members of random objects', () => {
    const random = seeded(15);
    for (let i = 0; i < 2000; i++) {
      const text = `{${Array.from({ length: 1 + Math.floor(random() * 4) }, (_, j) => `"m${j}":${randomJson(random, 4)}`).join(',')}}`;
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const members = objectMembers(text);
      assert.deepEqual(members?.map((m) => m.key), Object.keys(parsed), text);
      for (const m of members ?? []) assert.deepEqual(JSON.parse(text.slice(m.valueStart, m.valueEnd)), parsed[m.key], text);
    }
  });

  it('gives a member\'s text as written, the last one when a key repeats', () => {
    const text = '{"class":"Fail","args":[12345678901234567891,1.0,{"2":1,"a":2.50}],"class":"Again"}';
    assert.equal(memberText(text, 'args'), '[12345678901234567891,1.0,{"2":1,"a":2.50}]');
    assert.equal(memberText(text, 'class'), '"Again"');
    assert.equal(memberText(text, 'queue'), undefined);
    assert.equal(memberText('not json', 'a'), undefined);
  });

  it('sets members and keeps every other byte: numbers as written, keys in their order, spacing', () => {
    const payload = '{"class":"Fail","args":[12345678901234567891,1.0,1e400,"\\u00e9\\/",{"2":1,"a":2.50}]}';
    const cases: [string, string, Record<string, JsonPrimitive>, string][] = [
      ['adds at the end', payload, { queue: 'q', forkpool_attempt: 1 }, `${payload.slice(0, -1)},"queue":"q","forkpool_attempt":1}`],
      ['replaces in place', '{"class":"X","queue":"old","args":[1.0],"forkpool_attempt":1}', { queue: 'q', forkpool_attempt: 2 },
        '{"class":"X","queue":"q","args":[1.0],"forkpool_attempt":2}'],
      ['drops a repeat of a key it sets', '{"a":1,"b":1.0,"a":2,"c":3,"a":4}', { a: 5 }, '{"a":5,"b":1.0,"c":3}'],
      ['an empty object', ' { } ', { a: 'x', b: 2 }, ' { "a":"x","b":2} '],
      ['keeps spacing', '{ "a" : 1.0 ,\n "b" : 2 }\n', { b: 3, c: null }, '{ "a" : 1.0 ,\n "b" : 3,"c":null }\n'],
      ['a key that needs escaping', '{"a":1}', { 'q"\\': true }, '{"a":1,"q\\"\\\\":true}'],
    ];
    for (const [name, text, members, expected] of cases) {
      const out = withMembers(text, members);
      assert.equal(out, expected, name);
      assert.deepEqual(JSON.parse(out), { ...(JSON.parse(text) as object), ...members }, name);
    }
  });
});
