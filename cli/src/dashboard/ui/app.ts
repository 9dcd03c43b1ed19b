// The dashboard page's script, served as /app.js: it loads /api/state every 2 seconds and renders it. Everything
// shown is data from Redis, and job data is untrusted, so the DOM is built with textContent only (never
// innerHTML), and the server's Content-Security-Policy allows no inline script, so even a mistake here could not
// run injected code.
import type { DashboardState, FailureState, QueueState, StatsState, WorkerState } from '../state.ts';

const WRITE = document.body.dataset.write === '1';
const REFRESH_MS = 2000;
const SVG = 'http://www.w3.org/2000/svg';
// Backtraces the user opened stay open across refreshes.
const openTraces = new Set<string>();

/** Any value as text, as JavaScript would concatenate it: job data may hold anything. */
const str = (v: unknown): string => String(v);

interface Props {
  /** shown with textContent; null and undefined show nothing */
  readonly text?: unknown;
  readonly className?: string;
  readonly id?: string;
  readonly onclick?: () => void;
  /** data-* and other attributes */
  readonly attrs?: Readonly<Record<string, string | number>>;
}

function el<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props = {}, ...children: (Node | null)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if ('text' in props) e.textContent = props.text == null ? '' : str(props.text);
  if (props.className !== undefined) e.className = props.className;
  if (props.id !== undefined) e.id = props.id;
  if (props.onclick) e.addEventListener('click', props.onclick);
  for (const [k, v] of Object.entries(props.attrs ?? {})) e.setAttribute(k, String(v));
  for (const c of children) if (c != null) e.append(c);
  return e;
}
const json = (v: unknown): string => {
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
};
const td = (text: unknown, className?: string): HTMLTableCellElement => el('td', { text, className: className ?? '' });
/** A field of an untrusted payload, when it is an object. */
const field = (payload: unknown, name: string): unknown =>
  typeof payload === 'object' && payload !== null ? (payload as Record<string, unknown>)[name] : undefined;

function sparkline(values: readonly number[]): SVGSVGElement {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 160 28');
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? 160 / (values.length - 1) : 0;
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', values.map((v, i) => `${(i * step).toFixed(1)},${(26 - (v / max) * 24).toFixed(1)}`).join(' '));
  svg.append(line);
  const title = document.createElementNS(SVG, 'title');
  title.textContent = `last ${values.length} samples, max ${Math.max(0, ...values)}`;
  svg.append(title);
  return svg;
}

function one<E extends Element>(selector: string): E {
  const e = document.querySelector<E>(selector);
  if (!e) throw new Error(`the page has no ${selector}`);
  return e;
}

function fill(tbody: HTMLTableSectionElement, rows: HTMLTableRowElement[], empty: string, columns: number): void {
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { text: empty, className: 'muted', attrs: { colspan: columns } }))]));
}

async function post(path: string, body: Record<string, unknown>): Promise<unknown> {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out: unknown = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(str(field(out, 'error') || res.statusText));
  return out;
}

async function act(path: string, body: Record<string, unknown>, question?: string): Promise<void> {
  if (question && !confirm(question)) return;
  try {
    await post(path, body);
    showError('');
  } catch (err) {
    showError((err as Error).message);
  }
  await refresh();
}

function showError(message: string): void {
  const f = one<HTMLElement>('#error');
  f.textContent = message;
  f.hidden = !message;
}

function renderStats(s: StatsState): void {
  const items: [string, number][] = [['processed', s.processed], ['failed', s.failed], ['pending', s.pending], ['in flight', s.inFlight], ['delayed', s.delayed], ['workers', s.workers], ['working', s.working]];
  one('#stats').replaceChildren(...items.map(([k, v]) => el('div', { attrs: { 'data-stat': k } }, el('b', { text: v }), el('span', { text: k, className: 'muted' }))));
}

function renderQueues(queues: readonly QueueState[]): void {
  fill(one('#queues tbody'), queues.map((q) => el('tr', { attrs: { 'data-queue': q.name } },
    td(q.name), td(q.waiting, 'num waiting'), td(q.inFlight, 'num'), el('td', {}, sparkline(q.history)))), 'no queues', 4);
}

function renderWorkers(workers: readonly WorkerState[]): void {
  fill(one('#workers tbody'), workers.map((w) => {
    const job = w.job ? `${str(field(w.job.payload, 'class') || '?')} ${json(field(w.job.payload, 'args'))} on ${w.job.queue}` : 'idle';
    return el('tr', { attrs: { 'data-worker': w.id } }, td(w.id), td(w.queues.join(', ')), td(job), td(w.started ?? ''), td(w.job ? w.job.run_at : ''));
  }), 'no workers', 5);
}

/** A failure's backtrace, folded unless the user opened it before. */
function backtrace(lines: readonly string[], key: string): HTMLDetailsElement {
  const details = el('details', {}, el('summary', { text: `backtrace (${lines.length})` }), el('pre', { className: 'backtrace', text: lines.join('\n') }));
  details.addEventListener('toggle', () => (details.open ? openTraces.add(key) : openTraces.delete(key)));
  if (openTraces.has(key)) details.open = true;
  return details;
}

function renderFailure(f: FailureState): HTMLDivElement {
  const r = f.record;
  const head = r
    ? el('div', {}, el('b', { text: `#${f.index} ` }), el('span', { className: 'exception', text: r.exception }), document.createTextNode(': '), el('span', { className: 'error', text: r.error }))
    : el('div', {}, el('b', { text: `#${f.index} ` }), el('span', { className: 'exception', text: `unreadable: ${f.problem}` }));
  const meta = r
    ? el('div', { className: 'muted', text: `${str(field(r.payload, 'class') || '?')} ${json(field(r.payload, 'args'))} on ${r.queue} by ${r.worker} at ${r.failed_at}${r.retried_at ? `, retried ${r.retried_at}` : ''}` })
    : el('pre', { text: f.raw });
  const trace = r && r.backtrace.length ? backtrace(r.backtrace, `${f.index} ${r.failed_at}`) : null;
  const buttons = WRITE
    ? el('div', {},
      el('button', { text: 'Retry', className: 'retry', onclick: () => void act('/api/failed/retry', { index: f.index }) }), document.createTextNode(' '),
      el('button', { text: 'Remove', className: 'remove danger', onclick: () => void act('/api/failed/remove', { index: f.index }, `Remove failure #${f.index}?`) }))
    : null;
  return el('div', { className: 'failure', attrs: { 'data-index': f.index } }, head, meta, trace, buttons);
}

function renderFailed(failed: DashboardState['failed']): void {
  one('#failed .count').textContent = `(${failed.total})`;
  const actions = one('#failed .actions');
  actions.replaceChildren();
  if (WRITE && failed.total > 0) {
    actions.append(el('button', { text: 'Retry all', id: 'retry-all', onclick: () => void act('/api/failed/retry-all', {}, `Retry all ${failed.total} failed jobs?`) }));
  }
  const list = failed.items.map(renderFailure);
  one('#failed .list').replaceChildren(...(list.length ? list : [el('p', { className: 'muted', text: 'no failed jobs' })]));
}

function renderDelayed(delayed: DashboardState['delayed']): void {
  one('#delayed .count').textContent = `(${delayed.total})`;
  fill(one('#delayed tbody'), delayed.items.map((d) => el('tr', {},
    td(new Date(d.timestamp * 1000).toISOString()), td(d.payload ? d.payload.queue : '?'), td(d.payload ? d.payload.class : 'unreadable'), td(d.payload ? json(d.payload.args) : d.raw))), 'no delayed jobs', 4);
}

function renderSchedules(state: DashboardState): void {
  const rows = state.schedules.map((s) => el('tr', { attrs: { 'data-schedule': s.name } },
    td(s.name), td(`${s.cron} (${s.timeZone})`), td(s.queue), td(s.class), td(json(s.args)), td(s.error || s.next || 'never'), td(s.lastFired || '-')));
  for (const f of state.fired) {
    if (!state.schedules.some((s) => f.field.endsWith(`/${s.name}`))) rows.push(el('tr', {}, td(f.field), td(''), td(''), td(''), td(''), td(''), td(f.lastFired)));
  }
  fill(one('#schedules tbody'), rows, state.schedulesKnown ? 'no cron schedules' : 'give the dashboard a JobPool file to see its cron schedules', 7);
}

async function refresh(): Promise<void> {
  try {
    const res = await fetch('/api/state', { cache: 'no-store' });
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const state = (await res.json()) as DashboardState;
    one('#namespace').textContent = `namespace ${state.namespace}`;
    one('#updated').textContent = `updated ${new Date().toLocaleTimeString()}`;
    renderStats(state.stats);
    renderQueues(state.queues);
    renderWorkers(state.workers);
    renderFailed(state.failed);
    renderDelayed(state.delayed);
    renderSchedules(state);
    document.body.dataset.loaded = '1';
    if (one('#error').textContent.startsWith('cannot load')) showError('');
  } catch (err) {
    showError(`cannot load the state: ${(err as Error).message}`);
  }
}

void refresh();
setInterval(() => void refresh(), REFRESH_MS);
