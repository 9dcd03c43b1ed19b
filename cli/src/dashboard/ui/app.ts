// The dashboard page's script, served as /app.js: it loads /api/state every 2 seconds and renders it. Everything
// shown is data from Redis, and job data is untrusted, so the DOM is built with textContent only (never
// innerHTML), and the server's Content-Security-Policy allows no inline script, so even a mistake here could not
// run injected code. What the user looks at (the page of each list, the failed filter, the queue opened) lives
// in the address's #fragment, so a reload or a shared link shows the same view.
import type { DashboardState, FailureState, Page, QueueState, StatsState, WorkerState } from '../state.ts';

const WRITE = document.body.dataset.write === '1';
const SIGNED_OUT = document.body.dataset.signedOut === '1';
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

/** The view the #fragment names: `failedStart`, `failedQueue`, `failedClass`, `delayedStart`, `queue`, `queueStart`. */
const view = (): URLSearchParams => new URLSearchParams(location.hash.slice(1));

/** Changes some of the view's parameters (an empty value removes one); the hashchange listener refreshes. */
function setView(changes: Readonly<Record<string, string | number>>): void {
  const v = view();
  for (const [k, value] of Object.entries(changes)) {
    if (value === '' || value === 0) v.delete(k);
    else v.set(k, String(value));
  }
  location.hash = v.toString();
}

/** Resque's dates (`2026/11/27 07:13:00 UTC`, `2026-11-27 07:12:02 +0000`) and ISO 8601 as a Date. */
function parseDate(text: string): Date | undefined {
  const m = /^(\d{4})[/-](\d\d)[/-](\d\d)[ T](\d\d:\d\d:\d\d(?:\.\d+)?)\s*(UTC|Z|[+-]\d\d:?\d\d)?$/.exec(text.trim());
  if (!m) return undefined;
  const zone = !m[5] || m[5] === 'UTC' ? 'Z' : m[5] === 'Z' ? 'Z' : `${m[5].slice(0, 3)}:${m[5].slice(-2)}`;
  const d = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}${zone}`);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** The one absolute format of the page: `2026-11-27 07:13:00 UTC`. */
const absolute = (d: Date): string => `${d.toISOString().slice(0, 19).replace('T', ' ')} UTC`;

/** `12 s ago`, `5 min ago`, `in 3 h`. */
function relative(d: Date, now = Date.now()): string {
  const s = Math.round((now - d.getTime()) / 1000);
  const a = Math.abs(s);
  const amount = a < 60 ? `${a} s` : a < 3600 ? `${Math.floor(a / 60)} min` : a < 86_400 ? `${Math.floor(a / 3600)} h` : `${Math.floor(a / 86_400)} d`;
  return s >= 0 ? `${amount} ago` : `in ${amount}`;
}

/** A time as the page shows every time: relative, with the absolute one on hover; text it cannot read as it is. */
function when(value: string | Date | undefined): HTMLElement {
  if (value === undefined || value === '') return el('span', { text: '' });
  const d = typeof value === 'string' ? parseDate(value) : value;
  if (!d) return el('span', { text: value });
  return el('time', { text: relative(d), attrs: { title: absolute(d), datetime: d.toISOString() } });
}

const cell = (...children: (Node | null)[]): HTMLTableCellElement => el('td', {}, ...children);

async function post(path: string, body: Record<string, unknown>): Promise<Record<string, unknown>> {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const out: unknown = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(str(field(out, 'error') || res.statusText));
  return typeof out === 'object' && out !== null ? (out as Record<string, unknown>) : {};
}

/**
 * Runs an action after the user confirms `question` (when there is one), shows what it did (`done` words the
 * result) or why it failed, and refreshes.
 */
async function act(path: string, body: Record<string, unknown>, question?: string, done?: (out: Record<string, unknown>) => string): Promise<void> {
  if (question && !confirm(question)) return;
  try {
    const out = await post(path, body);
    showError('');
    showNotice(done ? done(out) : '');
  } catch (err) {
    showError((err as Error).message);
  }
  await refresh();
}

const button = (text: string, className: string, onclick: () => void): HTMLButtonElement => el('button', { text, className, onclick });

function showError(message: string): void {
  const f = one<HTMLElement>('#error');
  f.textContent = message;
  f.hidden = !message;
  if (message) showNotice('');
}

function showNotice(message: string): void {
  const f = one<HTMLElement>('#notice');
  f.textContent = message;
  f.hidden = !message;
}

/** Newer/older buttons and `51–100 of 240` for a page of a list; `param` is its start in the view. */
function pager(container: Element, page: Page<unknown>, size: number, param: string): void {
  container.replaceChildren();
  if (page.total <= size && page.start === 0) return;
  const last = Math.min(page.total, page.start + page.items.length);
  const prev = button('‹ Newer', 'prev', () => setView({ [param]: Math.max(0, page.start - size) }));
  const next = button('Older ›', 'next', () => setView({ [param]: page.start + size }));
  prev.disabled = page.start === 0;
  next.disabled = last >= page.total;
  container.append(prev, el('span', { className: 'range', text: page.items.length ? `${page.start + 1}–${last} of ${page.total}` : `none of ${page.total} here` }), next);
}

function renderStats(s: StatsState): void {
  const items: [string, number][] = [['processed', s.processed], ['failed', s.failed], ['pending', s.pending], ['in flight', s.inFlight], ['delayed', s.delayed], ['workers', s.workers], ['working', s.working]];
  one('#stats').replaceChildren(...items.map(([k, v]) => el('div', { attrs: { 'data-stat': k } }, el('b', { text: v }), el('span', { text: k, className: 'muted' }))));
}

function renderQueues(queues: readonly QueueState[]): void {
  fill(one('#queues tbody'), queues.map((q) => el('tr', { attrs: { 'data-queue': q.name } },
    cell(el('a', { text: q.name, attrs: { href: `#${new URLSearchParams({ queue: q.name }).toString()}` } })),
    td(q.waiting, 'num waiting'), td(q.inFlight, 'num'), el('td', {}, sparkline(q.history)))), 'no queues', 4);
}

function renderQueue(state: DashboardState): void {
  const section = one<HTMLElement>('#queue');
  const q = state.queue;
  section.hidden = !q;
  if (!q) return;
  section.querySelector('.title')!.textContent = `Queue ${q.name}`;
  section.querySelector('.count')!.textContent = `(${q.total})`;
  section.querySelector('.close')!.setAttribute('href', `#${(() => { const v = view(); v.delete('queue'); v.delete('queueStart'); return v.toString(); })()}`);
  const actions = one('#queue .actions');
  actions.replaceChildren();
  if (WRITE && q.total > 0) {
    actions.append(button(`Clear queue (${q.total})`, 'clear-queue danger', () => void act('/api/queue/clear', { queue: q.name },
      `Delete all ${q.total} jobs waiting in ${q.name}?`, (out) => `removed ${str(out.removed)} jobs from ${q.name}`)));
  }
  pager(one('#queue .pager'), q, state.pageSize, 'queueStart');
  fill(one('#queue tbody'), q.items.map((j) => el('tr', { attrs: { 'data-index': j.index } },
    td(j.index, 'num'), td(j.payload ? j.payload.class : 'unreadable'), td(j.payload ? json(j.payload.args) : j.raw),
    cell(WRITE ? button('Delete', 'delete danger', () => void act('/api/queue/remove-job', { queue: q.name, index: j.index, id: j.id },
      `Delete job #${j.index} (${j.payload?.class ?? 'unreadable'}) from ${q.name}?`, () => `deleted job #${j.index} from ${q.name}`)) : null))),
  q.total ? 'no jobs on this page' : 'the queue is empty', 4);
}

function renderWorkers(workers: readonly WorkerState[], pruneAfter: number): void {
  const dead = workers.filter((w) => w.dead).length;
  const actions = one('#workers .actions');
  actions.replaceChildren();
  if (WRITE && dead > 0) {
    actions.append(button(`Prune dead workers (${dead})`, 'prune', () => void act('/api/workers/prune', {},
      `Unregister the ${dead} workers with no heartbeat for ${pruneAfter} s, and put the jobs they held back on their queues?`,
      (out) => `pruned ${str(out.pruned)} workers, ${str(out.handedBack)} jobs back on their queues`)));
  }
  fill(one('#workers tbody'), workers.map((w) => {
    const job = w.job ? `${str(field(w.job.payload, 'class') || '?')} ${json(field(w.job.payload, 'args'))} on ${w.job.queue}` : 'idle';
    return el('tr', { attrs: { 'data-worker': w.id }, className: w.dead ? 'dead' : '' },
      td(w.id), td(w.queues.join(', ')), td(job), cell(when(w.started)), cell(when(w.job?.run_at)),
      cell(when(w.heartbeat), w.dead ? el('span', { text: ' dead', className: 'dead-mark' }) : null));
  }), 'no workers', 6);
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
    ? el('div', { className: 'muted' },
      document.createTextNode(`${str(field(r.payload, 'class') || '?')} ${json(field(r.payload, 'args'))} on ${r.queue} by ${r.worker}, failed `),
      when(r.failed_at), ...(r.retried_at ? [document.createTextNode(', retried '), when(r.retried_at)] : []))
    : el('pre', { text: f.raw });
  const trace = r && r.backtrace.length ? backtrace(r.backtrace, f.id) : null;
  const ref = { index: f.index, id: f.id };
  const buttons = WRITE
    ? el('div', {},
      f.retryable ? button('Retry', 'retry', () => void act('/api/failed/retry', ref, undefined, () => `retried failure #${f.index}`)) : null,
      document.createTextNode(' '),
      button('Remove', 'remove danger', () => void act('/api/failed/remove', ref, `Remove failure #${f.index}?`, () => `removed failure #${f.index}`)))
    : null;
  return el('div', { className: 'failure', attrs: { 'data-index': f.index } }, head, meta, trace, buttons);
}

/** The failed filter's form, kept as the user left it; its queue choices follow the queues there are. */
function renderFilter(state: DashboardState): void {
  const form = one<HTMLFormElement>('#failed-filter');
  const select = form.querySelector('select')!;
  const names = [...new Set([...state.queues.map((q) => q.name), ...(state.failed.queue ? [state.failed.queue] : [])])].sort();
  const have = [...select.options].slice(1).map((o) => o.value);
  if (have.join('\n') !== names.join('\n')) {
    const chosen = select.value;
    select.replaceChildren(el('option', { text: 'all queues', attrs: { value: '' } }), ...names.map((n) => el('option', { text: n, attrs: { value: n } })));
    select.value = chosen;
  }
}

function renderFailed(state: DashboardState): void {
  const failed = state.failed;
  const filtered = failed.queue !== undefined || failed.className !== undefined;
  one('#failed .count').textContent = `(${failed.total}${filtered ? ' matching' : ''})`;
  const f = { queue: failed.queue, className: failed.className };
  const which = filtered ? ' matching' : '';
  const actions = one('#failed .actions');
  actions.replaceChildren();
  if (WRITE && failed.total > 0) {
    actions.append(
      button(`Retry all (${failed.total})`, 'retry-all', () => void act('/api/failed/retry-all', f, `Retry all ${failed.total}${which} failed jobs?`,
        (out) => `retried ${str(out.retried)}${Number(out.skipped) ? `, ${str(out.skipped)} cannot be retried` : ''}${Number(out.gone) ? `, ${str(out.gone)} gone meanwhile` : ''}`)),
      document.createTextNode(' '),
      button('Clear retried', 'clear-retried danger', () => void act('/api/failed/clear-retried', f, `Remove every${which} failed job that has been retried?`,
        (out) => `removed ${str(out.removed)} retried failures`)),
      document.createTextNode(' '),
      button(`Clear all (${failed.total})`, 'clear-all danger', () => void act('/api/failed/clear', f, `Remove all ${failed.total}${which} failed jobs?`,
        (out) => `removed ${str(out.removed)} failures`)),
    );
  }
  pager(one('#failed .pager'), failed, state.pageSize, 'failedStart');
  const list = failed.items.map(renderFailure);
  one('#failed .list').replaceChildren(...(list.length ? list : [el('p', { className: 'muted', text: filtered ? 'no failed jobs match' : 'no failed jobs' })]));
}

function renderDelayed(state: DashboardState): void {
  const delayed = state.delayed;
  one('#delayed .count').textContent = `(${delayed.total})`;
  pager(one('#delayed .pager'), delayed, state.pageSize, 'delayedStart');
  fill(one('#delayed tbody'), delayed.items.map((d) => {
    const ref = { timestamp: d.timestamp, id: d.id };
    const name = d.payload ? d.payload.class : 'unreadable';
    return el('tr', { attrs: { 'data-id': d.id } },
      cell(when(new Date(d.timestamp * 1000))), td(d.payload ? d.payload.queue : '?'), td(name), td(d.payload ? json(d.payload.args) : d.raw),
      cell(...(WRITE ? [
        d.payload && typeof d.payload.queue === 'string' ? button('Enqueue now', 'enqueue-now', () => void act('/api/delayed/enqueue-now', ref, undefined, () => `enqueued ${name} now`)) : null,
        document.createTextNode(' '),
        button('Delete', 'delete danger', () => void act('/api/delayed/remove', ref, `Delete the delayed ${name}?`, () => `deleted the delayed ${name}`)),
      ] : [])));
  }), 'no delayed jobs', 5);
}

function renderSchedules(state: DashboardState): void {
  const rows = state.schedules.map((s) => el('tr', { attrs: { 'data-schedule': s.name } },
    td(s.name), td(`${s.cron} (${s.timeZone})`), td(s.queue), td(s.class), td(json(s.args)), s.error ? td(s.error) : cell(s.next ? when(s.next) : el('span', { text: 'never' })),
    s.lastFired ? cell(when(s.lastFired)) : td('-'),
    cell(WRITE && !s.error ? button('Enqueue now', 'enqueue-now', () => void act('/api/schedules/enqueue-now', { name: s.name }, undefined, () => `enqueued ${s.class} on ${s.queue}`)) : null)));
  for (const f of state.fired) {
    if (!state.schedules.some((s) => f.field.endsWith(`/${s.name}`))) rows.push(el('tr', {}, td(f.field), td(''), td(''), td(''), td(''), td(''), cell(when(f.lastFired)), td('')));
  }
  fill(one('#schedules tbody'), rows, state.schedulesKnown ? 'no cron schedules' : 'give the dashboard a JobPool file to see its cron schedules', 8);
}

function signedOut(): void {
  one<HTMLElement>('#signed-out').hidden = false;
  for (const s of document.querySelectorAll<HTMLElement>('main > section:not(#signed-out)')) s.hidden = true;
  document.body.dataset.loaded = '1';
}

async function refresh(): Promise<void> {
  try {
    const res = await fetch(`/api/state?${view().toString()}`, { cache: 'no-store' });
    if (res.status === 401) {
      signedOut();
      return;
    }
    if (!res.ok) throw new Error(`the server answered ${res.status}`);
    const state = (await res.json()) as DashboardState;
    one('#namespace').textContent = `namespace ${state.namespace}`;
    one('#updated').textContent = 'updated ';
    one('#updated').append(when(new Date()));
    renderStats(state.stats);
    renderQueues(state.queues);
    renderQueue(state);
    renderWorkers(state.workers, state.pruneAfterSeconds);
    renderFilter(state);
    renderFailed(state);
    renderDelayed(state);
    renderSchedules(state);
    document.body.dataset.loaded = '1';
    if (one('#error').textContent.startsWith('cannot load')) showError('');
  } catch (err) {
    showError(`cannot load the state: ${(err as Error).message}`);
  }
}

function start(): void {
  if (SIGNED_OUT) {
    signedOut();
    return;
  }
  const form = one<HTMLFormElement>('#failed-filter');
  const v = view();
  form.querySelector('select')!.append(...(v.get('failedQueue') ? [el('option', { text: v.get('failedQueue'), attrs: { value: v.get('failedQueue') ?? '' } })] : []));
  form.querySelector('select')!.value = v.get('failedQueue') ?? '';
  form.querySelector('input')!.value = v.get('failedClass') ?? '';
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    setView({ failedQueue: form.querySelector('select')!.value, failedClass: form.querySelector('input')!.value.trim(), failedStart: 0 });
  });
  form.querySelector('.reset')!.addEventListener('click', () => {
    form.reset();
    setView({ failedQueue: '', failedClass: '', failedStart: 0 });
  });
  window.addEventListener('hashchange', () => void refresh());
  void refresh();
  setInterval(() => void refresh(), REFRESH_MS);
}

start();
