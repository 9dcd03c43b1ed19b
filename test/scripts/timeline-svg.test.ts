import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { timelineSvg, type TimelineSample } from '../../scripts/timeline-svg.ts';

/** A small XML well-formedness check: every tag closes in order, attributes are quoted, no stray `<` or `&`. */
function assertWellFormed(xml: string): void {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let pos = 0;
  let roots = 0;
  for (let m = tag.exec(xml); m !== null; m = tag.exec(xml)) {
    const text = xml.slice(pos, m.index);
    assert.ok(!text.includes('<'), `stray '<' before ${m[0]}`);
    assert.ok(!/&(?!amp;|lt;|gt;|quot;|apos;)/.test(text), `unescaped '&' in ${JSON.stringify(text)}`);
    pos = m.index + m[0].length;
    const [, close, name = '', , selfClose] = m;
    if (close === '/') assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else if (selfClose !== '/') {
      if (stack.length === 0) roots++;
      stack.push(name);
    } else if (stack.length === 0) roots++;
  }
  assert.equal(xml.slice(pos).trim(), '', 'text after the root element');
  assert.deepEqual(stack, [], 'unclosed elements');
  assert.equal(roots, 1, 'one root element');
}

describe('timelineSvg', () => {
  const samples: TimelineSample[] = [
    { t: 0, depth: 0, desired: 0, ready: 0 },
    { t: 1, depth: 500, desired: 0, ready: 0 },
    { t: 2.5, depth: 420, desired: 4, ready: 1 },
    { t: 4, depth: 100, desired: 4, ready: 4 },
    { t: 6, depth: 0, desired: 4, ready: 4 },
    { t: 12, depth: 0, desired: 0, ready: 0 },
  ];

  it('is a well-formed SVG document with the depth, desired and ready series', () => {
    const svg = timelineSvg(samples, 'burst <1> & co');
    assertWellFormed(svg);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    for (const id of ['depth', 'desired', 'ready']) {
      const m = new RegExp(`<polyline id="${id}"[^>]* points="([^"]*)"`).exec(svg);
      assert.ok(m, `series ${id}`);
      const points = (m[1] ?? '').split(' ');
      assert.ok(points.length >= samples.length, `${id} has a point per sample`);
      for (const p of points) assert.match(p, /^\d+(\.\d)?,\d+(\.\d)?$/);
    }
    assert.match(svg, /queue depth/);
    assert.match(svg, /desired replicas/);
    assert.match(svg, /ready replicas/);
    assert.match(svg, /burst &lt;1&gt; &amp; co/);
  });

  it('draws the highest depth near the top of the plot (with headroom) and zero at the bottom', () => {
    const svg = timelineSvg(samples);
    const pts = (/<polyline id="depth"[^>]* points="([^"]*)"/.exec(svg)?.[1] ?? '').split(' ').map((p) => Number(p.split(',')[1]));
    const top = Math.min(...pts);
    assert.ok(top > 40 && top < 70, `peak at y=${top}`); // below the top margin (40), within 10 % headroom
    assert.equal(Math.max(...pts), 310); // 360 - the bottom margin
  });

  it('draws the arrival rate only when the samples carry it', () => {
    assert.doesNotMatch(timelineSvg(samples), /id="arrivals"/);
    const svg = timelineSvg(samples.map((s, i) => ({ ...s, arrivalRate: i })), 'with arrivals');
    assertWellFormed(svg);
    assert.match(svg, /<polyline id="arrivals"/);
    assert.match(svg, /arrivals, jobs\/s/);
  });

  it('is well-formed with no samples', () => {
    assertWellFormed(timelineSvg([]));
  });
});
