// The line reader between the master, the zygote and the children: whole lines out of any chunking, and work
// in proportion to the bytes read, however long a line is.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LineSplitter } from '../../worker-image/src/line-splitter.ts';

/** Pushes `chunks` through a new splitter and returns every line it gave. */
function split(chunks: readonly Buffer[]): string[] {
  const lines = new LineSplitter();
  return chunks.flatMap((c) => lines.push(c));
}

describe('LineSplitter', () => {
  it('gives whole lines however the stream is cut, and skips empty ones', () => {
    const text = '{"a":1}\n\n{"b":"é€😀"}\n{"c":[1,2]}\n';
    const bytes = Buffer.from(text);
    const expected = ['{"a":1}', '{"b":"é€😀"}', '{"c":[1,2]}'];
    assert.deepEqual(split([bytes]), expected);
    // Every cut into two and into single bytes: a character split between chunks arrives whole.
    for (let i = 0; i <= bytes.length; i++) assert.deepEqual(split([bytes.subarray(0, i), bytes.subarray(i)]), expected, `cut at ${i}`);
    assert.deepEqual(split([...bytes].map((b) => Buffer.from([b]))), expected);
  });

  it('keeps an unfinished line until its newline comes', () => {
    const lines = new LineSplitter();
    assert.deepEqual(lines.push(Buffer.from('{"a":')), []);
    assert.deepEqual(lines.push(Buffer.from('1}\n{"b"')), ['{"a":1}']);
    assert.deepEqual(lines.push(Buffer.from(':2}\n')), ['{"b":2}']);
  });

  it('copies what it keeps: a caller may read into the same buffer again', () => {
    const lines = new LineSplitter();
    const buf = Buffer.alloc(4);
    buf.write('abcd');
    assert.deepEqual(lines.push(buf), []);
    buf.write('ef\n\n');
    assert.deepEqual(lines.push(buf), ['abcdef']);
  });

  it('does bounded work per chunk: a line of N bytes over many chunks costs O(N), not O(N²)', () => {
    const chunk = Buffer.alloc(16 * 1024, 'x');
    const chunks = 1024; // a 16 MB line
    const lines = new LineSplitter();
    let most = 0;
    for (let i = 0; i < chunks; i++) {
      const before = lines.work;
      assert.deepEqual(lines.push(chunk), []);
      most = Math.max(most, lines.work - before);
    }
    // Each chunk of the unfinished line is searched and kept once, whatever came before it.
    assert.ok(most <= 2 * chunk.length, `one chunk cost ${most} bytes of work`);
    const [line] = lines.push(Buffer.from('\n'));
    assert.equal(line?.length, chunks * chunk.length);
    assert.ok(lines.work <= 4 * (chunks * chunk.length + 1), `the line cost ${lines.work} bytes of work`);
  });
});
