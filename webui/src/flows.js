// @ts-check
/**
 * The "Flows" tab: the flows captured on the selected node (or bridge), or every flow when
 * nothing is selected, polled with Gremlin (`G.V('<id>').Flows()`, `G.At(t)…` in history
 * mode, where it is read once). Sortable by any column, filtered by words ("tcp 10.0.0.1"
 * keeps rows that contain both). Hovering a row highlights every interface where the same
 * TrackingID was seen (`G.Flows().Has('TrackingID', X).Nodes()`).
 *
 * Shows at most `MAX_ROWS` rows (the rest is counted), so a busy bridge does not freeze the
 * page. Every API error is shown above the table.
 */

import { gremlin, quote, graphAt } from './api.js';
import { h, fmtBytes, fmtNum, fmtAgo, errorBox, dotted } from './dom.js';
import { nodeName } from './model.js';

/** @typedef {import('./app.js').App} App */

const MAX_ROWS = 500;
const LIMIT = 5000;

/**
 * Columns: title, value used to sort, text shown.
 * @type {{key: string, title: string, sort: (f: any) => any, text: (f: any) => string, num?: boolean}[]}
 */
export const COLUMNS = [
  { key: 'app', title: 'Application', sort: (f) => f.Application ?? '', text: (f) => f.Application ?? '' },
  { key: 'proto', title: 'Protocol', sort: (f) => protocols(f), text: (f) => protocols(f) },
  { key: 'a', title: 'A', sort: (f) => endpoint(f, 'A'), text: (f) => endpoint(f, 'A') },
  { key: 'b', title: 'B', sort: (f) => endpoint(f, 'B'), text: (f) => endpoint(f, 'B') },
  { key: 'abbytes', title: 'A→B bytes', num: true, sort: (f) => dotted(f, 'Metric.ABBytes') ?? 0, text: (f) => fmtBytes(dotted(f, 'Metric.ABBytes') ?? 0) },
  { key: 'babytes', title: 'B→A bytes', num: true, sort: (f) => dotted(f, 'Metric.BABytes') ?? 0, text: (f) => fmtBytes(dotted(f, 'Metric.BABytes') ?? 0) },
  { key: 'packets', title: 'Packets', num: true, sort: (f) => packets(f), text: (f) => fmtNum(packets(f)) },
  { key: 'rtt', title: 'RTT', num: true, sort: (f) => dotted(f, 'Metric.RTT') ?? -1, text: (f) => rtt(dotted(f, 'Metric.RTT')) },
  { key: 'last', title: 'Last', num: true, sort: (f) => dotted(f, 'Metric.Last') ?? f.Last ?? 0, text: (f) => fmtAgo(dotted(f, 'Metric.Last') ?? f.Last) },
  { key: 'tid', title: 'TrackingID', sort: (f) => f.TrackingID ?? '', text: (f) => String(f.TrackingID ?? '').slice(0, 12) },
];

/** @param {any} f */
function protocols(f) {
  return [f.Link?.Protocol, f.Network?.Protocol, f.Transport?.Protocol, f.ICMP ? 'ICMP' : null]
    .filter(Boolean).join('/');
}

/** @param {any} f @param {'A' | 'B'} side */
function endpoint(f, side) {
  const net = f.Network?.[side];
  const port = f.Transport?.[side];
  if (net !== undefined && net !== null && net !== '') {
    const ip = String(net).includes(':') && port !== undefined ? `[${net}]` : String(net);
    return port !== undefined && port !== null ? `${ip}:${port}` : ip;
  }
  return String(f.Link?.[side] ?? '');
}

/** @param {any} f */
function packets(f) {
  return (dotted(f, 'Metric.ABPackets') ?? 0) + (dotted(f, 'Metric.BAPackets') ?? 0);
}

/** @param {number | undefined} ns */
function rtt(ns) {
  if (typeof ns !== 'number' || ns <= 0) return '';
  return ns >= 1e6 ? `${(ns / 1e6).toFixed(2)} ms` : `${(ns / 1e3).toFixed(0)} µs`;
}

export class FlowsPanel {
  /** @param {HTMLElement} root @param {App} app */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    /** @type {any[]} */
    this.flows = [];
    this.error = /** @type {string | null} */ (null);
    this.sortKey = 'last';
    this.sortDesc = true;
    this.filter = '';
    this.auto = true;
    this.intervalMs = 2000;
    this.timer = 0;
    this.loading = false;
    this.query = '';
    /** @type {Map<string, {at: number, ids: string[]}>} */
    this.hopsCache = new Map();
    this.hoverSeq = 0;
    this.lastLoad = 0;
    this.build();
  }

  build() {
    this.title = h('h3');
    this.status = h('span', { class: 'hint' });
    this.errorEl = h('div');
    this.filterInput = h('input', {
      type: 'search', placeholder: 'filter: words all rows must contain (tcp 10.0.0.1 :80)', class: 'grow',
      oninput: () => { this.filter = this.filterInput.value; this.renderTable(); },
    });
    this.autoBox = h('input', { type: 'checkbox', checked: true, onchange: () => { this.auto = this.autoBox.checked; this.schedule(); } });
    this.table = h('table', { class: 'grid flows' });
    this.root.replaceChildren(
      h('div', { class: 'panel-head' }, this.title, this.status),
      h('div', { class: 'toolbar' }, this.filterInput,
        h('label', { class: 'inline' }, this.autoBox, ' live'),
        h('button', { text: 'Refresh', onclick: () => this.load() })),
      this.errorEl,
      h('div', { class: 'scroll' }, this.table));
  }

  /** The Gremlin query for the selection and time. */
  currentQuery() {
    const sel = this.app.state.selected;
    const g = graphAt(this.app.state.time);
    if (sel && sel.kind === 'node') return `${g}.V(${quote(sel.id)}).Flows().Limit(${LIMIT})`;
    return `${g}.Flows().Limit(${LIMIT})`;
  }

  /** The selection, the time or the tab changed. */
  refresh() {
    const q = this.currentQuery();
    if (q !== this.query) { this.flows = []; this.error = null; this.renderTable(); }
    this.load();
  }

  async load() {
    clearTimeout(this.timer);
    if (!this.app.isTabVisible('flows')) return;
    const q = this.currentQuery();
    this.query = q;
    const sel = this.app.state.selected;
    const name = sel && sel.kind === 'node' ? nodeName(this.app.model.nodes.get(sel.id)) : null;
    this.title.textContent = name ? `Flows seen on ${name}` : 'All flows';
    this.loading = true;
    try {
      const r = await gremlin(q);
      if (q !== this.query) return;
      this.flows = Array.isArray(r) ? r.filter((f) => f && typeof f === 'object') : [];
      this.error = null;
    } catch (e) {
      if (q !== this.query) return;
      this.error = e instanceof Error ? e.message : String(e);
    } finally {
      this.loading = false;
      this.lastLoad = Date.now();
    }
    this.renderTable();
    this.schedule();
  }

  schedule() {
    clearTimeout(this.timer);
    if (this.auto && this.app.state.time === null && this.app.isTabVisible('flows')) {
      this.timer = window.setTimeout(() => this.load(), this.intervalMs);
    }
  }

  /** @param {any} f */
  rowText(f) {
    return COLUMNS.map((c) => c.text(f)).join(' ').toLowerCase() + ` ${f.LayersPath ?? ''} ${f.UUID ?? ''} ${f.TrackingID ?? ''}`.toLowerCase();
  }

  renderTable() {
    this.errorEl.replaceChildren(errorBox(this.error) ?? '');
    const words = this.filter.toLowerCase().split(/\s+/).filter(Boolean);
    let rows = words.length ? this.flows.filter((f) => { const t = this.rowText(f); return words.every((w) => t.includes(w)); }) : this.flows.slice();
    const col = COLUMNS.find((c) => c.key === this.sortKey) ?? COLUMNS[0];
    rows.sort((a, b) => {
      const x = col.sort(a), y = col.sort(b);
      const c = x < y ? -1 : x > y ? 1 : 0;
      return this.sortDesc ? -c : c;
    });
    const total = rows.length;
    rows = rows.slice(0, MAX_ROWS);
    this.status.textContent = `${fmtNum(total)} flow${total === 1 ? '' : 's'}${total > MAX_ROWS ? ` (first ${MAX_ROWS} shown)` : ''}${this.flows.length !== total ? ` of ${fmtNum(this.flows.length)}` : ''}${this.app.state.time !== null ? ' · history' : ''}`;
    const head = h('tr', null, COLUMNS.map((c) => h('th', {
      class: `sortable${c.num ? ' num' : ''}${c.key === this.sortKey ? (this.sortDesc ? ' desc' : ' asc') : ''}`,
      text: c.title, tabindex: 0, 'aria-sort': c.key === this.sortKey ? (this.sortDesc ? 'descending' : 'ascending') : 'none',
      onclick: () => this.sortBy(c.key),
      onkeydown: (/** @type {KeyboardEvent} */ e) => { if (e.key === 'Enter') this.sortBy(c.key); },
    })));
    const body = h('tbody', null, rows.map((f) => h('tr', {
      dataset: { uuid: f.UUID ?? '', tracking: f.TrackingID ?? '' },
      title: `${f.LayersPath ?? ''}\nUUID ${f.UUID ?? ''}\nTrackingID ${f.TrackingID ?? ''}`,
      onmouseenter: () => this.hover(f),
      onmouseleave: () => this.unhover(),
    }, COLUMNS.map((c) => h('td', { class: c.num ? 'num' : '', text: c.text(f) })))));
    const empty = total === 0 && !this.error
      ? h('tbody', null, h('tr', null, h('td', {
        colspan: COLUMNS.length, class: 'hint',
        text: this.flows.length ? 'No flow matches the filter.' : 'No flow here yet: start a capture on this node (Captures tab) and send some traffic.',
      })))
      : null;
    this.table.replaceChildren(h('thead', null, head), body, empty ?? '');
  }

  /** @param {string} key */
  sortBy(key) {
    if (this.sortKey === key) this.sortDesc = !this.sortDesc;
    else { this.sortKey = key; this.sortDesc = COLUMNS.find((c) => c.key === key)?.num ?? false; }
    this.renderTable();
  }

  /** Highlights the nodes where this flow's TrackingID was seen. @param {any} f */
  async hover(f) {
    const tid = f.TrackingID;
    if (!tid) return;
    const seq = ++this.hoverSeq;
    let hit = this.hopsCache.get(tid);
    if (!hit || Date.now() - hit.at > 5000) {
      try {
        const r = await gremlin(`${graphAt(this.app.state.time)}.Flows().Has('TrackingID', ${quote(tid)}).Nodes()`);
        hit = { at: Date.now(), ids: (Array.isArray(r) ? r : []).map((n) => n?.ID).filter((x) => typeof x === 'string') };
        this.hopsCache.set(tid, hit);
      } catch (e) {
        if (seq === this.hoverSeq) this.app.notify('error', e instanceof Error ? e.message : String(e));
        return;
      }
    }
    if (seq !== this.hoverSeq) return;
    this.app.view.highlight('flow', hit.ids);
    this.app.state.flowHighlight = { trackingId: tid, nodes: hit.ids };
  }

  unhover() {
    this.hoverSeq++;
    this.app.view.highlight('flow', null);
    this.app.state.flowHighlight = null;
  }
}
