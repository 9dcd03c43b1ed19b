// A run's timeline as an SVG line chart: queue depth (left axis) and desired and ready replicas, and the
// arrival rate in jobs/s when the samples carry it (right axis), over time. A pure function, written by
// hand, so that the demo and the benchmarks draw the same chart.

export interface TimelineSample {
  /** Seconds since the start of the run. */
  t: number;
  /** Jobs waiting in the pool's queues. */
  depth: number;
  /** The Deployment's spec.replicas (what the operator wants). */
  desired: number;
  /** The Deployment's status.readyReplicas. */
  ready: number;
  /** Jobs enqueued per second around `t` (right axis); drawn when any sample has it. */
  arrivalRate?: number;
}

const escapeXml = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
const fmt = (n: number): string => (Number.isInteger(n) ? String(n) : n.toFixed(1));

/** An SVG document (a string) charting `samples`; an empty list gives an empty, still well-formed chart. */
export function timelineSvg(samples: readonly TimelineSample[], title = 'forkpool timeline'): string {
  const W = 800;
  const H = 360;
  const left = 60;
  const right = 50;
  const top = 40;
  const bottom = 50;
  const pw = W - left - right;
  const ph = H - top - bottom;
  const tMax = Math.max(1, ...samples.map((s) => s.t));
  // Headroom above the highest value, so that a series at its peak does not hide in the frame.
  const dMax = Math.ceil(Math.max(1, ...samples.map((s) => s.depth)) * 1.1);
  const rMax = Math.max(1, ...samples.map((s) => Math.max(s.desired, s.ready, s.arrivalRate ?? 0))) + 1;
  const x = (t: number): number => left + (t / tMax) * pw;
  const yDepth = (d: number): number => top + ph - (d / dMax) * ph;
  const yRep = (r: number): number => top + ph - (r / rMax) * ph;
  const line = (pick: (s: TimelineSample) => number, y: (v: number) => number, step: boolean): string => {
    const pts: string[] = [];
    samples.forEach((s, i) => {
      const prev = samples[i - 1];
      if (step && prev !== undefined) pts.push(`${x(s.t).toFixed(1)},${y(pick(prev)).toFixed(1)}`);
      pts.push(`${x(s.t).toFixed(1)},${y(pick(s)).toFixed(1)}`);
    });
    return pts.join(' ');
  };
  const series = [
    { id: 'depth', label: 'queue depth (left axis)', color: '#1f77b4', points: line((s) => s.depth, yDepth, false), dash: '' },
    { id: 'ready', label: 'ready replicas (right axis)', color: '#2ca02c', points: line((s) => s.ready, yRep, true), dash: '' },
    { id: 'desired', label: 'desired replicas (right axis)', color: '#d62728', points: line((s) => s.desired, yRep, true), dash: '6 3' },
  ];
  if (samples.some((s) => s.arrivalRate !== undefined)) {
    series.push({ id: 'arrivals', label: 'arrivals, jobs/s (right axis)', color: '#ff7f0e', points: line((s) => s.arrivalRate ?? 0, yRep, false), dash: '2 2' });
  }
  const ticks = [0, 0.25, 0.5, 0.75, 1];
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<title>${escapeXml(title)}</title>`);
  out.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="20" text-anchor="middle" font-size="14">${escapeXml(title)}</text>`);
  for (const f of ticks) {
    const y = top + ph - f * ph;
    out.push(`<line x1="${left}" y1="${y}" x2="${left + pw}" y2="${y}" stroke="#e0e0e0"/>`);
    out.push(`<text x="${left - 6}" y="${y + 4}" text-anchor="end">${fmt(Math.round(f * dMax))}</text>`);
    out.push(`<text x="${left + pw + 6}" y="${y + 4}">${fmt(Math.round(f * rMax * 10) / 10)}</text>`);
    const tx = left + f * pw;
    out.push(`<text x="${tx}" y="${top + ph + 16}" text-anchor="middle">${fmt(Math.round(f * tMax * 10) / 10)}</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${pw}" height="${ph}" fill="none" stroke="#000000"/>`);
  out.push(`<text x="${left + pw / 2}" y="${H - 22}" text-anchor="middle">seconds</text>`);
  series.forEach((s, i) => {
    out.push(`<polyline id="${s.id}" fill="none" stroke="${s.color}" stroke-width="2"${s.dash !== '' ? ` stroke-dasharray="${s.dash}"` : ''} points="${s.points}"/>`);
    const lx = left + i * (series.length > 3 ? 180 : 230);
    out.push(`<line x1="${lx}" y1="${H - 8}" x2="${lx + 20}" y2="${H - 8}" stroke="${s.color}" stroke-width="2"/>`);
    out.push(`<text x="${lx + 25}" y="${H - 4}">${escapeXml(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
