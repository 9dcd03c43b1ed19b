// The two messages the zygote reads, checked by hand there (no zod in the process every fork copies).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseChildReport, parseCommand } from '../../worker-image/src/fork/zygote-protocol.ts';

describe('fork protocol: what the zygote reads', () => {
  it('takes a well-formed run command and nothing else, saying why', () => {
    assert.deepEqual(parseCommand('{"type":"run","id":"7","className":"A::B","args":[1,{"x":2}]}'), {
      ok: true, value: { type: 'run', id: '7', className: 'A::B', args: [1, { x: 2 }] },
    });
    const bad: [string, RegExp][] = [
      ['not json', /not JSON/],
      ['[1,2]', /not a JSON object/],
      ['{"type":"stop"}', /unknown command type "stop"/],
      ['{"type":"run","id":"","className":"A","args":[]}', /needs id, className .* and args/],
      ['{"type":"run","id":"1","className":"A","args":{}}', /needs id, className .* and args/],
    ];
    for (const [line, reason] of bad) {
      const r = parseCommand(line);
      assert.equal(r.ok, false, line);
      if (!r.ok) assert.match(r.reason, reason, line);
    }
  });

  it('takes a child report with a result, or an error with name, message and stack', () => {
    assert.deepEqual(parseChildReport('{"type":"result","result":{"ok":true},"rssBytes":1024}'), {
      ok: true, value: { type: 'result', result: { ok: true }, rssBytes: 1024 },
    });
    const error = { name: 'TypeError', message: 'boom', stack: ['at x (a.js:1:1)'] };
    assert.deepEqual(parseChildReport(JSON.stringify({ type: 'result', result: { ok: false, error }, rssBytes: 1 })), {
      ok: true, value: { type: 'result', result: { ok: false, error }, rssBytes: 1 },
    });
    for (const line of [
      '{"type":"result","result":{"ok":true},"rssBytes":-1}',
      '{"type":"result","result":{"ok":false,"error":{"name":"E","message":"m","stack":[1]}},"rssBytes":1}',
      '{"type":"result","result":{"ok":"yes"},"rssBytes":1}',
      '{"type":"done","result":{"ok":true},"rssBytes":1}',
    ]) assert.equal(parseChildReport(line).ok, false, line);
  });
});
