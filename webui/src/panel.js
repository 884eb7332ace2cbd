// @ts-check
/**
 * The "Node" tab: what the selected node or edge is. A header (name, type, ID, host, times,
 * actions), interface counters (`Metric`, `LastUpdateMetric`) with a live sparkline of the
 * byte rates, the captures running on it (`Captures`), and every metadata key as a
 * collapsible tree that keeps its open branches across live updates.
 *
 * Samples for the sparkline are kept for the last 50 nodes shown (120 points each), taken
 * from every update of their `Metric`; the first point comes from `LastUpdateMetric`.
 * Must not: call the API (the actions go through `app`).
 */

import { h, fmtBytes, fmtNum, fmtTime, fmtAgo } from './dom.js';
import { nodeName, nodeType } from './model.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {{t: number, rx: number, tx: number}} Sample  bytes per second at t */

const MAX_TRACKED = 50;
const MAX_SAMPLES = 120;

export class NodePanel {
  /** @param {HTMLElement} root @param {App} app */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    /** open metadata branches, by path @type {Set<string>} */
    this.open = new Set(['']);
    /** @type {Map<string, {last: {t: number, rx: number, tx: number} | null, rates: Sample[]}>} */
    this.series = new Map();
    this.render();
  }

  /** Called for every node whose metadata changed: keeps the series of tracked nodes. @param {Iterable<string>} ids */
  nodesUpdated(ids) {
    for (const id of ids) {
      if (this.series.has(id)) this.sample(id);
    }
  }

  /** @param {string} id */
  sample(id) {
    const n = this.app.model.nodes.get(id);
    const m = n?.Metadata?.Metric;
    let s = this.series.get(id);
    if (!s) {
      s = { last: null, rates: [] };
      this.series.set(id, s);
      if (this.series.size > MAX_TRACKED) this.series.delete(/** @type {string} */ (this.series.keys().next().value));
      const lu = n?.Metadata?.LastUpdateMetric;
      if (lu && typeof lu.Last === 'number' && typeof lu.Start === 'number' && lu.Last > lu.Start) {
        const dt = (lu.Last - lu.Start) / 1000;
        s.rates.push({ t: lu.Last, rx: (lu.RxBytes ?? 0) / dt, tx: (lu.TxBytes ?? 0) / dt });
      }
    }
    if (!m || typeof m !== 'object') return;
    const t = typeof m.Last === 'number' ? m.Last : Date.now();
    const cur = { t, rx: Number(m.RxBytes ?? 0), tx: Number(m.TxBytes ?? 0) };
    if (s.last && t > s.last.t) {
      const dt = (t - s.last.t) / 1000;
      s.rates.push({ t, rx: Math.max(0, (cur.rx - s.last.rx) / dt), tx: Math.max(0, (cur.tx - s.last.tx) / dt) });
      if (s.rates.length > MAX_SAMPLES) s.rates.shift();
    }
    if (!s.last || t >= s.last.t) s.last = cur;
  }

  /** Redraws for the current selection. */
  render() {
    const sel = this.app.state.selected;
    if (!sel) {
      this.root.replaceChildren(h('div', { class: 'empty' },
        h('p', { text: 'Click a node or a link to see what it is.' }),
        h('p', { class: 'hint', text: 'Double-click a group (host, namespace, bridge) to open or close it; zooming in opens groups too.' })));
      return;
    }
    if (sel.kind === 'edge') { this.renderEdge(sel.id); return; }
    this.renderNode(sel.id);
  }

  /** @param {string} id */
  renderNode(id) {
    const app = this.app;
    const n = app.model.nodes.get(id);
    if (!n) {
      this.root.replaceChildren(h('div', { class: 'empty' }, h('p', { text: `The node ${id} is gone from the graph${app.state.time ? ' at this time' : ''}.` })));
      return;
    }
    if (!this.series.has(id)) this.sample(id);
    const md = n.Metadata ?? {};
    const isGroup = app.model.isGroup(id);
    const expanded = app.view.expanded.has(id);
    const owners = app.model.ancestors(id).reverse();
    this.root.replaceChildren(
      h('div', { class: 'node-head' },
        h('h2', { text: nodeName(n) }),
        h('span', { class: `badge t-${nodeType(n)}`, text: nodeType(n) || 'no type' }),
        owners.length ? h('div', { class: 'crumbs' }, owners.map((o) => h('a', {
          href: '#', text: nodeName(app.model.nodes.get(o)),
          onclick: (/** @type {Event} */ e) => { e.preventDefault(); app.select(o, 'node', { reveal: true }); },
        })).flatMap((a, i) => (i ? [' › ', a] : [a]))) : null,
        h('dl', { class: 'facts' },
          fact('ID', n.ID), fact('Host', n.Host), fact('Origin', n.Origin), fact('TID', md.TID),
          fact('Created', fmtTime(n.CreatedAt)), fact('Updated', `${fmtTime(n.UpdatedAt)} (${fmtAgo(n.UpdatedAt)})`),
          fact('Revision', n.Revision),
          isGroup ? fact('Holds', `${fmtNum(app.model.descendantCount(id))} nodes`) : null),
        h('div', { class: 'actions' },
          isGroup ? h('button', { text: expanded ? 'Collapse' : 'Expand', onclick: () => { app.view.toggle(id); this.render(); } }) : null,
          h('button', { text: 'Show in graph', onclick: () => app.select(id, 'node', { reveal: true }) }),
          h('button', { text: 'Flows', onclick: () => app.showTab('flows') }),
          h('button', { text: 'Capture…', onclick: () => app.captures.prefillFromNode(id) }),
        )),
      ...[this.counters(id, md), this.captures(md)].filter(Boolean),
      h('section', { class: 'metadata' }, h('h3', { text: 'Metadata' }), this.tree(md, '', 0)),
    );
  }

  /** @param {string} id */
  renderEdge(id) {
    const app = this.app;
    const e = app.model.edges.get(id);
    if (!e) {
      this.root.replaceChildren(h('div', { class: 'empty' }, h('p', { text: `The link ${id} is gone.` })));
      return;
    }
    const end = (/** @type {string} */ nid) => h('a', {
      href: '#', text: nodeName(app.model.nodes.get(nid)),
      onclick: (/** @type {Event} */ ev) => { ev.preventDefault(); app.select(nid, 'node', { reveal: true }); },
    });
    this.root.replaceChildren(
      h('div', { class: 'node-head' },
        h('h2', null, end(e.Parent), ' → ', end(e.Child)),
        h('span', { class: 'badge', text: String(e.Metadata?.RelationType ?? 'link') }),
        h('dl', { class: 'facts' }, fact('ID', e.ID), fact('Host', e.Host), fact('Created', fmtTime(e.CreatedAt)))),
      h('section', { class: 'metadata' }, h('h3', { text: 'Metadata' }), this.tree(e.Metadata ?? {}, '', 0)));
  }

  /** @param {string} id @param {Record<string, any>} md */
  counters(id, md) {
    const m = md.Metric, lu = md.LastUpdateMetric;
    if (!m && !lu) return null;
    const keys = new Set();
    for (const o of [m, lu]) if (o && typeof o === 'object') for (const [k, v] of Object.entries(o)) if (typeof v === 'number' && k !== 'Start' && k !== 'Last') keys.add(k);
    const rows = [...keys].sort().map((k) => h('tr', null,
      h('th', { text: k }),
      h('td', { class: 'num', text: k.endsWith('Bytes') ? fmtBytes(m?.[k]) : fmtNum(m?.[k]) }),
      h('td', { class: 'num', text: lu && typeof lu[k] === 'number' ? `+${k.endsWith('Bytes') ? fmtBytes(lu[k]) : fmtNum(lu[k])}` : '' })));
    const s = this.series.get(id);
    return h('section', { class: 'counters' },
      h('h3', { text: 'Counters' }),
      sparkline(s?.rates ?? []),
      h('table', { class: 'kv' },
        h('thead', null, h('tr', null, h('th', { text: 'counter' }), h('th', { text: 'total' }), h('th', { text: 'last update' }))),
        h('tbody', null, rows)),
      m?.Last ? h('p', { class: 'hint', text: `as of ${fmtTime(m.Last)}` }) : null);
  }

  /** @param {Record<string, any>} md */
  captures(md) {
    const caps = Array.isArray(md.Captures) ? md.Captures : [];
    return h('section', { class: 'node-captures' },
      h('h3', { text: `Captures (${caps.length})` }),
      caps.length === 0
        ? h('p', { class: 'hint', text: 'No capture on this node. "Capture…" starts one.' })
        : h('table', { class: 'grid' },
          h('thead', null, h('tr', null, ['Name', 'Type', 'State', 'Packets', 'Dropped', 'BPF', 'Error'].map((t) => h('th', { text: t })))),
          h('tbody', null, caps.map((/** @type {any} */ c) => h('tr', null,
            h('td', { text: c.Name || c.ID || '' }), h('td', { text: c.Type ?? '' }),
            h('td', { class: `state-${c.State}`, text: c.State ?? '' }),
            h('td', { class: 'num', text: fmtNum(c.PacketsReceived) }),
            h('td', { class: 'num', text: fmtNum((c.PacketsDropped ?? 0) + (c.PacketsIfDropped ?? 0)) }),
            h('td', { text: c.BPFFilter ?? '' }), h('td', { class: 'error-text', text: c.Error ?? '' }))))));
  }

  /**
   * A collapsible tree of any JSON value; branches remember whether they are open.
   * @param {any} v @param {string} path @param {number} depth
   * @returns {any}
   */
  tree(v, path, depth) {
    if (v === null || typeof v !== 'object') return h('span', { class: `v v-${v === null ? 'null' : typeof v}`, text: JSON.stringify(v) });
    const entries = Array.isArray(v) ? v.map((x, i) => [String(i), x]) : Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1));
    const ul = h('ul', { class: 'tree' });
    for (const [k, x] of entries) {
      const p = `${path}.${k}`;
      if (x !== null && typeof x === 'object') {
        const size = Array.isArray(x) ? `[${x.length}]` : `{${Object.keys(x).length}}`;
        // Remembered on click (synchronous), not on 'toggle' (queued): a live update may
        // redraw the tree in between.
        const d = h('details', { open: this.open.has(p) },
          h('summary', {
            onclick: () => { if (d.open) this.open.delete(p); else this.open.add(p); },
          }, h('span', { class: 'k', text: k }), ' ', h('span', { class: 'size', text: size })));
        let filled = false;
        const fill = () => { if (!filled) { filled = true; d.append(this.tree(x, p, depth + 1)); } };
        if (d.open) fill();
        d.addEventListener('toggle', () => { if (d.open) fill(); });
        ul.append(h('li', null, d));
      } else {
        ul.append(h('li', null, h('span', { class: 'k', text: k }), ': ', this.tree(x, p, depth + 1)));
      }
    }
    return ul;
  }
}

/** @param {string} k @param {any} v */
function fact(k, v) {
  if (v === undefined || v === null || v === '') return null;
  return [h('dt', { text: k }), h('dd', { text: String(v) })];
}

/**
 * Rx and Tx byte rates as two polylines.
 * @param {Sample[]} rates
 */
export function sparkline(rates) {
  const W = 360, H = 64;
  const svgNS = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(svgNS, 'svg');
  svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
  svg.setAttribute('class', 'sparkline');
  svg.setAttribute('role', 'img');
  const max = Math.max(1, ...rates.map((r) => Math.max(r.rx, r.tx)));
  const last = rates[rates.length - 1];
  svg.setAttribute('aria-label', last ? `receive ${fmtBytes(last.rx)}/s, transmit ${fmtBytes(last.tx)}/s` : 'no samples yet');
  if (rates.length >= 1) {
    const t0 = rates[0].t, t1 = Math.max(rates[rates.length - 1].t, t0 + 1);
    for (const [key, cls] of /** @type {const} */ ([['rx', 'rx'], ['tx', 'tx']])) {
      const pts = rates.map((r) => `${(((r.t - t0) / (t1 - t0)) * (W - 4) + 2).toFixed(1)},${(H - 14 - (r[key] / max) * (H - 20)).toFixed(1)}`);
      if (pts.length === 1) pts.push(`${W - 2},${pts[0].split(',')[1]}`);
      const pl = document.createElementNS(svgNS, 'polyline');
      pl.setAttribute('points', pts.join(' '));
      pl.setAttribute('class', cls);
      svg.append(pl);
    }
  }
  const label = document.createElementNS(svgNS, 'text');
  label.setAttribute('x', '2'); label.setAttribute('y', String(H - 2));
  label.textContent = last ? `rx ${fmtBytes(last.rx)}/s · tx ${fmtBytes(last.tx)}/s · peak ${fmtBytes(max)}/s` : 'waiting for counter updates…';
  svg.append(label);
  return svg;
}
