// @ts-check
/**
 * The "Gremlin" tab: a query box (Ctrl+Enter runs it), the answer as a table (nodes, edges,
 * flows, values) or as JSON, and the last 30 queries (kept in localStorage). An error whose
 * message has "(column N)" underlines that place in the query.
 */

import { gremlin, graphAt } from './api.js';
import { h, errorBox } from './dom.js';
import { COLUMNS as FLOW_COLUMNS } from './flows.js';

/** @typedef {import('./app.js').App} App */

const HISTORY_KEY = 'skydive.console.history';
const MAX_ROWS = 1000;

export class ConsolePanel {
  /** @param {HTMLElement} root @param {App} app */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.mode = 'table';
    /** @type {any} */
    this.result = undefined;
    /** @type {string[]} */
    this.history = loadHistory();
    this.input = h('textarea', {
      class: 'query', rows: 3, spellcheck: false, value: "G.V().Has('Type', 'netns')",
      'aria-label': 'Gremlin query',
      onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) { e.preventDefault(); this.run(); } },
    });
    this.modeSel = h('select', { onchange: () => { this.mode = this.modeSel.value; this.renderResult(); } },
      h('option', { value: 'table', text: 'Table' }), h('option', { value: 'json', text: 'JSON' }));
    this.histSel = h('select', {
      onchange: () => { if (this.histSel.value) { this.input.value = this.histSel.value; this.histSel.value = ''; this.input.focus(); } },
    });
    this.errorEl = h('div', { class: 'console-error' });
    this.out = h('div', { class: 'scroll console-out' });
    this.meta = h('span', { class: 'hint' });
    this.fillHistory();
    root.replaceChildren(
      h('div', { class: 'panel-head' }, h('h3', { text: 'Gremlin console' }), this.meta),
      this.input,
      h('div', { class: 'toolbar' },
        h('button', { class: 'primary', text: 'Run', title: 'Ctrl+Enter', onclick: () => this.run() }),
        this.modeSel, this.histSel,
        h('button', { text: 'Highlight result', onclick: () => this.app.search.run(this.input.value, 'highlight') })),
      this.errorEl, this.out);
  }

  fillHistory() {
    this.histSel.replaceChildren(h('option', { value: '', text: 'Recent queries…' }),
      this.history.map((q) => h('option', { value: q, text: q.length > 80 ? `${q.slice(0, 77)}…` : q })));
  }

  async run() {
    let q = this.input.value.trim();
    if (!q) return;
    // In history mode, a query starting at G reads the past unless it says when itself.
    if (this.app.state.time !== null && /^G\./.test(q) && !/^G\.(At|Context)\(/i.test(q)) q = `${graphAt(this.app.state.time)}${q.slice(1)}`;
    this.history = [this.input.value.trim(), ...this.history.filter((x) => x !== this.input.value.trim())].slice(0, 30);
    try { localStorage.setItem(HISTORY_KEY, JSON.stringify(this.history)); } catch { /* private mode */ }
    this.fillHistory();
    this.errorEl.replaceChildren();
    const t0 = performance.now();
    this.meta.textContent = 'running…';
    try {
      this.result = await gremlin(q);
      this.meta.textContent = `${Math.round(performance.now() - t0)} ms${q !== this.input.value.trim() ? ` · ${q.slice(0, q.indexOf(')') + 1)}` : ''}`;
      this.renderResult();
    } catch (e) {
      this.meta.textContent = '';
      this.result = undefined;
      this.out.replaceChildren();
      this.showError(q, e);
    }
  }

  /** @param {string} q @param {any} e */
  showError(q, e) {
    const message = e instanceof Error ? e.message : String(e);
    const col = typeof e?.column === 'number' ? e.column : null;
    /** @type {any[]} */
    const parts = [errorBox(message)];
    if (col !== null && col >= 1 && col <= q.length + 1) {
      // Underline the token that starts at the column (1-based), or the single character.
      const i = col - 1;
      const m = /^[A-Za-z0-9_]+/.exec(q.slice(i));
      const len = m ? m[0].length : 1;
      parts.push(h('pre', { class: 'query-echo', 'aria-label': `error at column ${col}` },
        q.slice(0, i), h('mark', { class: 'err-at', text: q.slice(i, i + len) || ' ' }), q.slice(i + len)));
      // Put the cursor there, when the query shown is the one typed.
      if (this.input.value.trim() === q) {
        const off = this.input.value.indexOf(q);
        this.input.setSelectionRange(off + i, off + i + len);
      }
    }
    this.errorEl.replaceChildren(...parts.filter(Boolean));
  }

  renderResult() {
    const r = this.result;
    if (r === undefined) return;
    if (this.mode === 'json') {
      const text = JSON.stringify(r, null, 2);
      this.out.replaceChildren(h('pre', { class: 'json', text: text.length > 2e6 ? `${text.slice(0, 2e6)}\n… (cut at 2 MB)` : text }));
      return;
    }
    this.out.replaceChildren(resultTable(r, this.app));
  }
}

/** @returns {string[]} */
function loadHistory() {
  try {
    const v = JSON.parse(localStorage.getItem(HISTORY_KEY) ?? '[]');
    return Array.isArray(v) ? v.filter((x) => typeof x === 'string') : [];
  } catch {
    return [];
  }
}

/** @param {any} r @param {App} app */
function resultTable(r, app) {
  if (r === null) return h('p', { class: 'hint', text: 'No answer (empty query).' });
  if (!Array.isArray(r)) return h('div', { class: 'scalar', text: typeof r === 'object' ? JSON.stringify(r) : String(r) });
  const count = h('p', { class: 'hint', text: `${r.length} result${r.length === 1 ? '' : 's'}${r.length > MAX_ROWS ? ` (first ${MAX_ROWS} shown)` : ''}` });
  const rows = r.slice(0, MAX_ROWS);
  if (rows.length && rows.every((x) => x && typeof x === 'object' && 'Nodes' in x && 'Edges' in x)) {
    return h('div', null, rows.map((g) => h('p', { text: `a graph of ${g.Nodes?.length ?? 0} nodes and ${g.Edges?.length ?? 0} edges (JSON view shows it)` })));
  }
  if (rows.length && rows.every((x) => x && typeof x === 'object' && typeof x.UUID === 'string' && 'LayersPath' in x)) {
    return h('div', null, count, h('table', { class: 'grid' },
      h('thead', null, h('tr', null, FLOW_COLUMNS.map((c) => h('th', { text: c.title })))),
      h('tbody', null, rows.map((f) => h('tr', null, FLOW_COLUMNS.map((c) => h('td', { class: c.num ? 'num' : '', text: c.text(f) })))))));
  }
  if (rows.length && rows.every((x) => x && typeof x === 'object' && typeof x.ID === 'string' && 'Metadata' in x)) {
    const isEdge = rows.every((x) => 'Parent' in x);
    const titles = isEdge ? ['Relation', 'Parent', 'Child', 'ID'] : ['Name', 'Type', 'Host', 'ID'];
    const cells = (/** @type {any} */ x) => (isEdge
      ? [x.Metadata?.RelationType ?? '', x.Parent, x.Child, x.ID]
      : [x.Metadata?.Name ?? '', x.Metadata?.Type ?? '', x.Host ?? '', x.ID]);
    const body = rows.map((x) => h('tr', {
      class: 'clickable',
      onclick: () => (isEdge ? app.select(x.ID, 'edge') : app.select(x.ID, 'node', { reveal: true })),
    }, cells(x).map((v, i) => h('td', { class: i === 3 ? 'mono' : '', text: String(v) }))));
    return h('div', null, count, h('table', { class: 'grid' },
      h('thead', null, h('tr', null, titles.map((t) => h('th', { text: t })))),
      h('tbody', null, body)));
  }
  return h('div', null, count, h('table', { class: 'grid' },
    h('thead', null, h('tr', null, h('th', { text: '#' }), h('th', { text: 'value' }))),
    h('tbody', null, rows.map((x, i) => h('tr', null, h('td', { class: 'num', text: String(i) }), h('td', { class: 'mono', text: typeof x === 'string' ? x : JSON.stringify(x) }))))));
}
