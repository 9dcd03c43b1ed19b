// The dashboard page: static HTML, CSS and JS. Everything shown is data from Redis, and job data is
// untrusted, so the script builds the DOM with textContent only (never innerHTML), and the server's
// Content-Security-Policy allows no inline script, so even a mistake here could not run injected code.

/** The page; `write` says whether the write buttons are shown (the request carried the token). */
export function pageHtml(write: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>forkpool</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body data-write="${write ? '1' : '0'}">
<header>
  <h1>forkpool</h1>
  <span id="namespace"></span>
  <span id="updated" class="muted"></span>
  <span id="mode" class="muted">${write ? '' : 'read-only (start with --token to retry and remove)'}</span>
</header>
<main>
  <section id="overview"><h2>Overview</h2><div id="stats"></div></section>
  <section id="queues"><h2>Queues</h2><table><thead><tr><th>Queue</th><th class="num">Waiting</th><th class="num">In flight</th><th>Recent depth</th></tr></thead><tbody></tbody></table></section>
  <section id="workers"><h2>Workers</h2><table><thead><tr><th>Worker</th><th>Queues</th><th>Job</th><th>Started</th><th>Running since</th></tr></thead><tbody></tbody></table></section>
  <section id="failed"><h2>Failed <span class="count"></span></h2><div class="actions"></div><div class="list"></div></section>
  <section id="delayed"><h2>Delayed <span class="count"></span></h2><table><thead><tr><th>Due</th><th>Queue</th><th>Class</th><th>Args</th></tr></thead><tbody></tbody></table></section>
  <section id="schedules"><h2>Scheduled</h2><table><thead><tr><th>Name</th><th>Cron</th><th>Queue</th><th>Class</th><th>Args</th><th>Next</th><th>Last fired</th></tr></thead><tbody></tbody></table></section>
</main>
<footer id="error" hidden></footer>
</body>
</html>
`;
}

export const APP_CSS = `
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; color: #1d2230; background: #f5f6f8; }
header { display: flex; gap: 1em; align-items: baseline; padding: .8em 1.5em; background: #1d2230; color: #fff; }
header h1 { margin: 0; font-size: 1.3em; }
main { padding: 1em 1.5em; display: grid; gap: 1em; }
section { background: #fff; border: 1px solid #dde0e6; border-radius: 6px; padding: .6em 1em 1em; overflow-x: auto; }
h2 { font-size: 1.05em; margin: .3em 0 .6em; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .3em .6em; border-bottom: 1px solid #eef0f3; vertical-align: top; }
th { font-weight: 600; color: #5a6172; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
code, pre { font: 12px/1.4 ui-monospace, monospace; white-space: pre-wrap; word-break: break-all; }
.muted { color: #8a90a0; }
#stats { display: flex; flex-wrap: wrap; gap: 1.5em; }
#stats div b { display: block; font-size: 1.6em; }
.failure { border-top: 1px solid #eef0f3; padding: .5em 0; }
.failure .exception { color: #b42318; font-weight: 600; }
.failure details { margin-top: .3em; }
button { font: inherit; padding: .2em .8em; border: 1px solid #c5cad3; border-radius: 4px; background: #fff; cursor: pointer; }
button.danger { color: #b42318; }
.actions { margin-bottom: .5em; }
svg.spark { width: 160px; height: 28px; }
svg.spark polyline { fill: none; stroke: #3563e9; stroke-width: 1.5; }
footer { position: fixed; bottom: 0; left: 0; right: 0; padding: .5em 1.5em; background: #b42318; color: #fff; }
`;

export const APP_JS = `'use strict';
const WRITE = document.body.dataset.write === '1';
const REFRESH_MS = 2000;
const SVG = 'http://www.w3.org/2000/svg';
// Backtraces the user opened stay open across refreshes.
const openTraces = new Set();

// Every value goes through textContent: job data is untrusted.
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === 'text') e.textContent = v == null ? '' : String(v);
    else if (k === 'className') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, String(v));
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}
const json = (v) => { try { return JSON.stringify(v); } catch { return String(v); } };
const td = (text, className) => el('td', { text, className: className || '' });

function sparkline(values) {
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', '0 0 160 28');
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...values);
  const step = values.length > 1 ? 160 / (values.length - 1) : 0;
  const line = document.createElementNS(SVG, 'polyline');
  line.setAttribute('points', values.map((v, i) => (i * step).toFixed(1) + ',' + (26 - (v / max) * 24).toFixed(1)).join(' '));
  svg.append(line);
  const title = document.createElementNS(SVG, 'title');
  title.textContent = 'last ' + values.length + ' samples, max ' + Math.max(0, ...values);
  svg.append(title);
  return svg;
}

function fill(tbody, rows, empty, columns) {
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { text: empty, className: 'muted', colspan: columns }))]));
}

async function post(path, body) {
  const res = await fetch(path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body || {}) });
  const out = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(out.error || res.statusText);
  return out;
}

async function act(path, body, question) {
  if (question && !confirm(question)) return;
  try { await post(path, body); showError(''); } catch (err) { showError(err.message); }
  await refresh();
}

function showError(message) {
  const f = document.getElementById('error');
  f.textContent = message;
  f.hidden = !message;
}

function renderStats(s) {
  const items = [['processed', s.processed], ['failed', s.failed], ['pending', s.pending], ['in flight', s.inFlight], ['delayed', s.delayed], ['workers', s.workers], ['working', s.working]];
  document.getElementById('stats').replaceChildren(...items.map(([k, v]) => el('div', { 'data-stat': k }, el('b', { text: v }), el('span', { text: k, className: 'muted' }))));
}

function renderQueues(queues) {
  fill(document.querySelector('#queues tbody'), queues.map((q) => el('tr', { 'data-queue': q.name },
    td(q.name), td(q.waiting, 'num waiting'), td(q.inFlight, 'num'), el('td', {}, sparkline(q.history)))), 'no queues', 4);
}

function renderWorkers(workers) {
  fill(document.querySelector('#workers tbody'), workers.map((w) => {
    const job = w.job ? (w.job.payload && w.job.payload.class ? w.job.payload.class : '?') + ' ' + json(w.job.payload && w.job.payload.args) + ' on ' + w.job.queue : 'idle';
    return el('tr', { 'data-worker': w.id }, td(w.id), td(w.queues.join(', ')), td(job), td(w.started || ''), td(w.job ? w.job.run_at : ''));
  }), 'no workers', 5);
}

function renderFailed(failed) {
  const section = document.getElementById('failed');
  section.querySelector('.count').textContent = '(' + failed.total + ')';
  const actions = section.querySelector('.actions');
  actions.replaceChildren();
  if (WRITE && failed.total > 0) actions.append(el('button', { text: 'Retry all', id: 'retry-all', onclick: () => act('/api/failed/retry-all', {}, 'Retry all ' + failed.total + ' failed jobs?') }));
  const list = failed.items.map((f) => {
    const r = f.record;
    const head = r
      ? el('div', {}, el('b', { text: '#' + f.index + ' ' }), el('span', { className: 'exception', text: r.exception }), document.createTextNode(': '), el('span', { className: 'error', text: r.error }))
      : el('div', {}, el('b', { text: '#' + f.index + ' ' }), el('span', { className: 'exception', text: 'unreadable: ' + f.problem }));
    const payload = r && r.payload && typeof r.payload === 'object' ? r.payload : {};
    const meta = r ? el('div', { className: 'muted', text: (payload.class || '?') + ' ' + json(payload.args) + ' on ' + r.queue + ' by ' + r.worker + ' at ' + r.failed_at + (r.retried_at ? ', retried ' + r.retried_at : '') }) : el('pre', { text: f.raw });
    const key = f.index + ' ' + (r ? r.failed_at : '');
    const trace = r && r.backtrace.length ? el('details', { ontoggle: (e) => (e.target.open ? openTraces.add(key) : openTraces.delete(key)) }, el('summary', { text: 'backtrace (' + r.backtrace.length + ')' }), el('pre', { className: 'backtrace', text: r.backtrace.join('\\n') })) : null;
    const buttons = WRITE ? el('div', {},
      el('button', { text: 'Retry', className: 'retry', onclick: () => act('/api/failed/retry', { index: f.index }) }), document.createTextNode(' '),
      el('button', { text: 'Remove', className: 'remove danger', onclick: () => act('/api/failed/remove', { index: f.index }, 'Remove failure #' + f.index + '?') })) : null;
    if (trace && openTraces.has(key)) trace.open = true;
    return el('div', { className: 'failure', 'data-index': f.index }, head, meta, trace, buttons);
  });
  section.querySelector('.list').replaceChildren(...(list.length ? list : [el('p', { className: 'muted', text: 'no failed jobs' })]));
}

function renderDelayed(delayed) {
  document.querySelector('#delayed .count').textContent = '(' + delayed.total + ')';
  fill(document.querySelector('#delayed tbody'), delayed.items.map((d) => el('tr', {},
    td(new Date(d.timestamp * 1000).toISOString()), td(d.payload ? d.payload.queue : '?'), td(d.payload ? d.payload.class : 'unreadable'), td(d.payload ? json(d.payload.args) : d.raw))), 'no delayed jobs', 4);
}

function renderSchedules(state) {
  const rows = state.schedules.map((s) => el('tr', { 'data-schedule': s.name }, td(s.name), td(s.cron + ' (' + s.timeZone + ')'), td(s.queue), td(s.class), td(json(s.args)), td(s.error || s.next || 'never'), td(s.lastFired || '-')));
  for (const f of state.fired) if (!state.schedules.some((s) => f.field.endsWith('/' + s.name))) rows.push(el('tr', {}, td(f.field), td(''), td(''), td(''), td(''), td(''), td(f.lastFired)));
  fill(document.querySelector('#schedules tbody'), rows, state.schedulesKnown ? 'no cron schedules' : 'give the dashboard a JobPool file to see its cron schedules', 7);
}

async function refresh() {
  try {
    const res = await fetch('/api/state', { cache: 'no-store' });
    if (!res.ok) throw new Error('the server answered ' + res.status);
    const state = await res.json();
    document.getElementById('namespace').textContent = 'namespace ' + state.namespace;
    document.getElementById('updated').textContent = 'updated ' + new Date().toLocaleTimeString();
    renderStats(state.stats);
    renderQueues(state.queues);
    renderWorkers(state.workers);
    renderFailed(state.failed);
    renderDelayed(state.delayed);
    renderSchedules(state);
    document.body.dataset.loaded = '1';
    if (document.getElementById('error').textContent.startsWith('cannot load')) showError('');
  } catch (err) {
    showError('cannot load the state: ' + err.message);
  }
}

refresh();
setInterval(refresh, REFRESH_MS);
`;
