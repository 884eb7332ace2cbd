// @ts-check
/**
 * The "Conversations" tab, as in Skydive 0.2: who talks to whom at one layer (Ethernet,
 * IPv4, IPv6, TCP, UDP), a matrix whose cells are shaded by the bytes exchanged. The data
 * comes from `/rpc/conversation/{layer}` when the analyzer serves it (live only), otherwise
 * it is computed here from `G.Flows()` (or `G.At(t).Flows()`) exactly as that route does:
 * one endpoint per MAC / address / port, bytes = ABBytes + BABytes summed per pair.
 *
 * Drawn on a canvas (at most `MAX_ENDPOINTS` endpoints, the busiest), hover shows the pair.
 */

import { request, gremlin, graphAt } from './api.js';
import { h, fmtBytes, errorBox } from './dom.js';

/** @typedef {import('./app.js').App} App */
/** @typedef {{nodes: {name: string, group: number}[], links: {source: number, target: number, value: number}[]}} Matrix */

export const LAYERS = /** @type {const} */ (['ethernet', 'ipv4', 'ipv6', 'tcp', 'udp']);
const MAX_ENDPOINTS = 150;

/**
 * The conversation matrix of flows at a layer (the same as crates/flow/src/rpc.rs).
 * @param {any[]} flows @param {string} layer
 * @returns {Matrix}
 */
export function conversation(flows, layer) {
  /** @type {Map<string, number>} */
  const index = new Map();
  /** @type {Matrix['nodes']} */
  const nodes = [];
  /** @type {Map<string, number>} */
  const groups = new Map();
  /** @type {Map<string, {source: number, target: number, value: number}>} */
  const links = new Map();
  for (const f of flows) {
    const ends = layerEnds(f, layer);
    if (!ends) continue;
    const path = String(f.LayersPath ?? '');
    if (!groups.has(path)) groups.set(path, groups.size);
    const g = /** @type {number} */ (groups.get(path));
    const ids = ends.map((name) => {
      let i = index.get(name);
      if (i === undefined) { i = nodes.length; index.set(name, i); nodes.push({ name, group: g }); }
      return i;
    });
    const [s, t] = ids[0] <= ids[1] ? ids : [ids[1], ids[0]];
    const key = `${s}-${t}`;
    const bytes = Number(f.Metric?.ABBytes ?? 0) + Number(f.Metric?.BABytes ?? 0);
    const l = links.get(key);
    if (l) l.value += bytes; else links.set(key, { source: s, target: t, value: bytes });
  }
  return { nodes, links: [...links.values()] };
}

/** @param {any} f @param {string} layer @returns {[string, string] | null} */
function layerEnds(f, layer) {
  /** @type {any} */
  let part;
  let proto;
  switch (layer) {
    case 'ethernet': part = f.Link; proto = 'ETHERNET'; break;
    case 'ipv4': part = f.Network; proto = 'IPV4'; break;
    case 'ipv6': part = f.Network; proto = 'IPV6'; break;
    case 'tcp': part = f.Transport; proto = 'TCP'; break;
    case 'udp': part = f.Transport; proto = 'UDP'; break;
    default: return null;
  }
  if (!part || (part.Protocol !== undefined && String(part.Protocol).toUpperCase() !== proto)) return null;
  if (part.A === undefined || part.B === undefined) return null;
  return [String(part.A), String(part.B)];
}

export class ConversationsPanel {
  /** @param {HTMLElement} root @param {App} app */
  constructor(root, app) {
    this.root = root;
    this.app = app;
    this.layer = 'ipv4';
    this.order = 'bytes';
    /** @type {Matrix} */
    this.matrix = { nodes: [], links: [] };
    this.source = '';
    this.error = /** @type {string | null} */ (null);
    this.layerSel = h('select', { onchange: () => { this.layer = this.layerSel.value; this.load(); } },
      LAYERS.map((l) => h('option', { value: l, text: l === 'ipv4' ? 'IPv4' : l === 'ipv6' ? 'IPv6' : l.toUpperCase().replace('ETHERNET', 'Ethernet'), selected: l === this.layer })));
    this.orderSel = h('select', { onchange: () => { this.order = this.orderSel.value; this.draw(); } },
      h('option', { value: 'bytes', text: 'order by bytes' }), h('option', { value: 'name', text: 'order by name' }), h('option', { value: 'group', text: 'order by group' }));
    this.canvas = h('canvas', { class: 'matrix', width: 600, height: 600 });
    this.tip = h('div', { class: 'tip', hidden: true });
    this.errorEl = h('div');
    this.info = h('span', { class: 'hint' });
    this.canvas.addEventListener('mousemove', (/** @type {MouseEvent} */ e) => this.hover(e));
    this.canvas.addEventListener('mouseleave', () => { this.tip.hidden = true; });
    root.replaceChildren(
      h('div', { class: 'panel-head' }, h('h3', { text: 'Conversations' }), this.info),
      h('div', { class: 'toolbar' }, this.layerSel, this.orderSel, h('button', { text: 'Refresh', onclick: () => this.load() })),
      this.errorEl,
      h('div', { class: 'matrix-wrap' }, this.canvas, this.tip));
    /** @type {number[]} */
    this.ordered = [];
    /** @type {Map<string, number>} */
    this.cells = new Map();
  }

  async load() {
    if (!this.app.isTabVisible('conversations')) return;
    this.error = null;
    const time = this.app.state.time;
    try {
      /** @type {Matrix | null} */
      let m = null;
      if (time === null) {
        try {
          m = await request('GET', `/rpc/conversation/${this.layer}`);
          this.source = `/rpc/conversation/${this.layer}`;
        } catch (e) {
          if (!(e && typeof e === 'object' && 'status' in e && (e.status === 404 || e.status === 405))) throw e;
        }
      }
      if (!m || !Array.isArray(m.nodes)) {
        const q = `${graphAt(time)}.Flows()`;
        const flows = await gremlin(q);
        m = conversation(Array.isArray(flows) ? flows : [], this.layer);
        this.source = `computed here from ${q}`;
      }
      this.matrix = m;
    } catch (e) {
      this.error = e instanceof Error ? e.message : String(e);
      this.matrix = { nodes: [], links: [] };
    }
    this.errorEl.replaceChildren(errorBox(this.error) ?? '');
    this.draw();
  }

  draw() {
    const m = this.matrix;
    const totals = new Array(m.nodes.length).fill(0);
    this.cells = new Map();
    for (const l of m.links) {
      totals[l.source] += l.value; totals[l.target] += l.value;
      this.cells.set(`${l.source}-${l.target}`, l.value);
      this.cells.set(`${l.target}-${l.source}`, l.value);
    }
    let idx = m.nodes.map((_, i) => i);
    idx.sort((a, b) => totals[b] - totals[a]);
    idx = idx.slice(0, MAX_ENDPOINTS);
    if (this.order === 'name') idx.sort((a, b) => (m.nodes[a].name < m.nodes[b].name ? -1 : 1));
    if (this.order === 'group') idx.sort((a, b) => m.nodes[a].group - m.nodes[b].group || totals[b] - totals[a]);
    this.ordered = idx;
    this.info.textContent = `${m.nodes.length} endpoints, ${m.links.length} pairs${m.nodes.length > MAX_ENDPOINTS ? ` (busiest ${MAX_ENDPOINTS} shown)` : ''} · ${this.source}`;
    const n = idx.length;
    const label = 120, size = Math.max(6, Math.min(24, Math.floor(480 / Math.max(n, 1))));
    const W = label + n * size + 10;
    const c = this.canvas;
    c.width = W; c.height = W;
    const ctx = c.getContext('2d');
    if (!ctx) return;
    ctx.clearRect(0, 0, W, W);
    ctx.font = `${Math.min(11, size)}px sans-serif`;
    ctx.fillStyle = '#334155';
    const max = Math.max(1, ...m.links.map((l) => l.value));
    idx.forEach((node, i) => {
      const name = m.nodes[node].name;
      ctx.textAlign = 'right';
      ctx.fillText(name.length > 18 ? `${name.slice(0, 17)}…` : name, label - 4, label + i * size + size * 0.75);
      ctx.save();
      ctx.translate(label + i * size + size * 0.75, label - 4);
      ctx.rotate(-Math.PI / 2);
      ctx.textAlign = 'left';
      ctx.fillText(name.length > 18 ? `${name.slice(0, 17)}…` : name, 0, 0);
      ctx.restore();
    });
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        const v = this.cells.get(`${idx[i]}-${idx[j]}`);
        ctx.fillStyle = v === undefined ? '#f1f5f9' : `rgba(37, 99, 235, ${0.15 + 0.85 * Math.log1p(v) / Math.log1p(max)})`;
        ctx.fillRect(label + j * size, label + i * size, size - 1, size - 1);
      }
    }
    this.geom = { label, size, n };
    if (n === 0) {
      ctx.fillStyle = '#64748b';
      ctx.textAlign = 'left';
      ctx.font = '13px sans-serif';
      ctx.fillText(this.error ? 'No data.' : 'No flow at this layer yet: start a capture and send traffic.', 10, 24);
    }
  }

  /** @param {MouseEvent} e */
  hover(e) {
    const g = this.geom;
    if (!g) return;
    const r = this.canvas.getBoundingClientRect();
    const x = (e.clientX - r.left) * (this.canvas.width / r.width), y = (e.clientY - r.top) * (this.canvas.height / r.height);
    const j = Math.floor((x - g.label) / g.size), i = Math.floor((y - g.label) / g.size);
    if (i < 0 || j < 0 || i >= g.n || j >= g.n) { this.tip.hidden = true; return; }
    const a = this.matrix.nodes[this.ordered[i]].name, b = this.matrix.nodes[this.ordered[j]].name;
    const v = this.cells.get(`${this.ordered[i]}-${this.ordered[j]}`);
    this.tip.textContent = `${a} ⇄ ${b}: ${v === undefined ? 'nothing' : fmtBytes(v)}`;
    this.tip.hidden = false;
    this.tip.style.left = `${e.clientX - r.left + 12}px`;
    this.tip.style.top = `${e.clientY - r.top + 12}px`;
  }
}
