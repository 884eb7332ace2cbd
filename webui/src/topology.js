// @ts-check
/**
 * The topology drawing: which part of the model cytoscape holds, and how it looks.
 *
 * Cytoscape never receives the whole graph. A group (any node that owns others: host,
 * namespace, bridge) is either *expanded*, a frame drawn behind its children, or
 * *collapsed*, one box labelled with how many nodes it holds, drawn over the area the layout
 * reserved for them. Frames are plain nodes sized by the layout, not cytoscape compound
 * nodes: compound bookkeeping costs seconds at a few thousand elements, and the layout
 * already knows every group's area. Stacking is by `z-index` (frames by depth, then links,
 * then interfaces), and nodes cannot be dragged: the layout owns positions. Edges whose ends are hidden are drawn between the closest visible
 * owners, merged and labelled with their count. A budget (`maxElements`) bounds what is
 * drawn: groups start expanded breadth-first while it allows, zooming into a collapsed group
 * expands it, zooming out collapses again what zooming expanded.
 *
 * Changes from the model are applied in one cytoscape batch per animation frame (app.js
 * calls `applyChanges`); metadata updates only touch the labels of elements on screen.
 *
 * Must not: talk to the API (app.js does) or compute positions (layout.js does).
 */

import { isOwnership, nodeName, nodeType } from './model.js';
import { LEAF_W } from './layout.js';

/** A collapsed group opens by zooming once it is this wide on screen (px). */
const OPEN_PX = 160;
/** In a graph larger than the budget, groups narrower than this at first sight stay closed. */
const MIN_OPEN_PX = 150;

/** Interfaces are drawn above links (100), links above group frames (their depth). */
const LEAF_Z = 200;

/** @typedef {import('./model.js').GraphModel} GraphModel */
/** @typedef {import('./layout.js').Layout} Layout */
/**
 * @typedef {{kind: 'leaf' | 'group' | 'collapsed', parent: string | null, label: string,
 *   type: string, w: number, h: number, x: number, y: number, z: number, count: number, cls?: string}} NodeView
 * @typedef {{source: string, target: string, rel: string, count: number, agg: boolean, curve: number}} EdgeView
 */

/** Edge class from its metadata: what the legend shows. @param {import('./model.js').GEdge} e */
export function edgeKind(e) {
  const md = e.Metadata ?? {};
  const rel = String(md.RelationType ?? '');
  const t = String(md.Type ?? '');
  if (rel === 'tunnel' || ['gre', 'gretap', 'vxlan', 'geneve', 'ip6gre', 'ipip', 'stt'].includes(t)) return 'tunnel';
  if (t === 'veth') return 'veth';
  if (t === 'patch') return 'patch';
  if (rel === 'layer2') return 'layer2';
  return 'other';
}

/** Node Type → style class (shape and colour), see the legend in index.html and docs/ui.md. */
const KIND = /** @type {Record<string, string>} */ ({
  host: 'k-host', netns: 'k-netns', device: 'k-device', veth: 'k-veth', bridge: 'k-bridge',
  ovsbridge: 'k-ovsbridge', ovsport: 'k-ovsport', internal: 'k-ovs', openvswitch: 'k-ovs',
  patch: 'k-patch', vxlan: 'k-tunnel', gre: 'k-tunnel', gretap: 'k-tunnel', geneve: 'k-tunnel',
  tun: 'k-tun', tap: 'k-tun',
});

/** The classes of a drawn node. @param {NodeView} v @param {any} state */
function nodeClasses(v, state) {
  const parts = [KIND[v.type] ?? 'k-other'];
  if (v.kind !== 'leaf') parts.push(v.kind, `d${Math.min(v.z, 7)}`);
  if (state === 'DOWN') parts.push('down');
  return parts.join(' ');
}

/** The classes of a drawn link. @param {EdgeView} v */
function edgeClasses(v) {
  return `r-${v.rel}${v.agg ? ' agg' : ''}${v.curve ? ' curved' : ''}`;
}

/** The cytoscape stylesheet. Shapes and colours per node Type; see docs/ui.md's legend. */
const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 3,
      'min-zoomed-font-size': 7,
      width: 26, height: 26, 'background-color': '#7a8899', 'border-width': 1,
      'border-color': '#4b5563', color: '#1f2937', 'z-index-compare': 'manual', 'z-index': LEAF_Z,
    },
  },
  { selector: 'node.k-host', style: { shape: 'round-rectangle', 'background-color': '#334155' } },
  { selector: 'node.k-netns', style: { shape: 'round-rectangle', 'background-color': '#0e7490' } },
  { selector: 'node.k-device', style: { 'background-color': '#2563eb' } },
  { selector: 'node.k-veth', style: { 'background-color': '#16a34a' } },
  { selector: 'node.k-bridge', style: { shape: 'diamond', 'background-color': '#d97706', width: 30, height: 30 } },
  { selector: 'node.k-ovsbridge', style: { shape: 'hexagon', 'background-color': '#b45309', width: 32, height: 30 } },
  { selector: 'node.k-ovsport', style: { shape: 'rectangle', 'background-color': '#f59e0b', width: 16, height: 16 } },
  { selector: 'node.k-ovs', style: { 'background-color': '#ea580c' } },
  { selector: 'node.k-patch', style: { shape: 'tag', 'background-color': '#c2410c' } },
  { selector: 'node.k-tunnel', style: { shape: 'triangle', 'background-color': '#7c3aed' } },
  { selector: 'node.k-tun', style: { shape: 'vee', 'background-color': '#0891b2' } },
  { selector: 'node.down', style: { 'background-opacity': 0.35, 'border-style': 'dashed' } },
  {
    selector: 'node.group',
    style: {
      shape: 'round-rectangle', width: 'data(w)', height: 'data(h)', 'background-color': '#e2e8f0',
      'background-opacity': 0.55, 'border-color': '#94a3b8', 'border-width': 1.5, 'text-valign': 'top',
      // The label sits inside the band the layout keeps at the top of the frame.
      'text-halign': 'center', 'text-margin-y': 17, 'font-size': 12, 'font-weight': 'bold',
    },
  },
  { selector: 'node.group.k-host', style: { 'background-color': '#f1f5f9', 'border-color': '#334155', 'border-width': 2 } },
  { selector: 'node.group.k-netns', style: { 'background-color': '#ecfeff', 'border-color': '#0e7490' } },
  { selector: 'node.group.k-ovsbridge', style: { 'background-color': '#fff7ed', 'border-color': '#b45309' } },
  ...Array.from({ length: 8 }, (_, d) => ({ selector: `node.d${d}`, style: { 'z-index': d } })),
  {
    selector: 'node.collapsed',
    style: {
      shape: 'round-rectangle', width: 'data(w)', height: 'data(h)', 'background-opacity': 0.85,
      'text-valign': 'center', 'text-halign': 'center', 'text-margin-y': 0, color: '#fff',
      'font-size': 14, 'text-max-width': 'data(w)', 'text-wrap': 'wrap', 'font-weight': 'bold',
      'border-width': 2, 'border-style': 'double',
    },
  },
  {
    selector: 'edge',
    style: {
      width: 1.5, 'line-color': '#94a3b8', 'curve-style': 'haystack', 'haystack-radius': 0,
      opacity: 0.9, 'z-index-compare': 'manual', 'z-index': 100,
    },
  },
  {
    selector: 'edge.curved',
    style: { 'curve-style': 'unbundled-bezier', 'control-point-distances': 'data(curve)', 'control-point-weights': 0.5 },
  },
  { selector: 'edge.r-layer2', style: { 'line-color': '#64748b' } },
  { selector: 'edge.r-veth', style: { 'line-color': '#16a34a', width: 2 } },
  { selector: 'edge.r-patch', style: { 'line-color': '#ea580c', 'line-style': 'dashed', width: 2 } },
  { selector: 'edge.r-tunnel', style: { 'line-color': '#7c3aed', 'line-style': 'dotted', width: 3 } },
  {
    selector: 'edge.agg',
    style: { width: 'mapData(count, 1, 200, 2, 10)' },
  },
  { selector: 'node:selected', style: { 'border-color': '#dc2626', 'border-width': 3 } },
  { selector: 'edge:selected', style: { 'line-color': '#dc2626', width: 3 } },
  { selector: '.hl-search', style: { 'overlay-color': '#facc15', 'overlay-opacity': 0.45, 'overlay-padding': 6 } },
  { selector: '.hl-flow', style: { 'overlay-color': '#db2777', 'overlay-opacity': 0.45, 'overlay-padding': 8 } },
  { selector: '.dim', style: { opacity: 0.25 } },
];

export class TopologyView {
  /**
   * @param {HTMLElement} container @param {GraphModel} model @param {Layout} layout
   * @param {any} cytoscape the library's factory
   * @param {{maxElements?: number, onSelect?: (id: string | null, kind: 'node' | 'edge' | null) => void,
   *   onViewChanged?: () => void}} [opts]
   */
  constructor(container, model, layout, cytoscape, opts = {}) {
    this.model = model;
    this.layout = layout;
    this.maxElements = opts.maxElements ?? 3000;
    this.onSelect = opts.onSelect ?? (() => {});
    this.onViewChanged = opts.onViewChanged ?? (() => {});
    /** groups drawn expanded @type {Set<string>} */
    this.expanded = new Set();
    /** groups the user collapsed: zooming does not expand them @type {Set<string>} */
    this.pinnedCollapsed = new Set();
    /**
     * groups the UI expanded (at the start, for live additions, by zooming in), which it may
     * collapse again when it needs room; groups the user opened are not in it
     * @type {Set<string>}
     */
    this.autoExpanded = new Set();
    /** client-side restriction: only these nodes (and their owners) @type {Set<string> | null} */
    this.only = null;
    /** what cytoscape holds @type {Map<string, NodeView>} */
    this.shownNodes = new Map();
    /** @type {Map<string, EdgeView>} */
    this.shownEdges = new Map();
    /** node → the visible node standing for it @type {Map<string, string>} */
    this.rep = new Map();
    /** @type {Map<string, Set<string>>} highlight kind → model IDs */
    this.highlights = new Map();
    this.zoomTimer = 0;
    this.firstFit = true;

    this.cy = cytoscape({
      container,
      style: STYLE,
      minZoom: 0.005,
      maxZoom: 4,
      boxSelectionEnabled: false,
      autoungrabify: true,
      // A double click as operating systems count it (cytoscape's default is 250 ms).
      multiClickDebounceTime: 500,
      // Cytoscape zooms a mouse wheel notch by under 3 %: crossing from a whole data centre
      // to one namespace took over a hundred notches. About 9 % per notch (it logs a warning
      // about custom sensitivities once).
      wheelSensitivity: 3,
      // Large graphs: draw a cached bitmap while the viewport moves, no edges meanwhile.
      textureOnViewport: true,
      hideEdgesOnViewport: true,
      hideLabelsOnViewport: true,
      motionBlur: false,
      pixelRatio: 1,
    });
    this.cy.on('tap', 'node', (/** @type {any} */ ev) => this.onSelect(ev.target.id(), 'node'));
    this.cy.on('tap', 'edge', (/** @type {any} */ ev) => {
      const id = ev.target.id();
      this.onSelect(id.startsWith('agg|') ? null : id, id.startsWith('agg|') ? null : 'edge');
    });
    this.cy.on('tap', (/** @type {any} */ ev) => { if (ev.target === this.cy) this.onSelect(null, null); });
    this.cy.on('dbltap', 'node', (/** @type {any} */ ev) => this.toggle(ev.target.id()));
    this.cy.on('viewport', () => {
      clearTimeout(this.zoomTimer);
      this.zoomTimer = window.setTimeout(() => this.semanticZoom(), 180);
    });
  }

  /** Everything again: after a SyncReply, a restriction, or "Tidy". @param {{fit?: boolean}} [o] */
  reset(o = {}) {
    const keep = this.only ? (/** @type {string} */ id) => /** @type {Set<string>} */ (this.only).has(id) : undefined;
    this.layout.full(keep);
    for (const g of [...this.expanded]) if (!this.model.isGroup(g)) this.expanded.delete(g);
    this.initialExpansion();
    this.cy.batch(() => { this.cy.elements().remove(); this.shownNodes.clear(); this.shownEdges.clear(); });
    this.render();
    if (o.fit || this.firstFit) { this.fit(); this.firstFit = this.cy.nodes().length === 0; }
  }

  /**
   * Expands groups breadth-first (hosts, then namespaces and bridges…) while the number of
   * drawn nodes stays within the budget. Groups the user collapsed stay collapsed.
   */
  initialExpansion() {
    const m = this.model;
    this.expanded.clear();
    this.autoExpanded.clear();
    const roots = m.roots().filter((id) => this.inScope(id));
    // A graph larger than the budget opens only the groups big enough on screen, once the
    // whole graph is fitted, to show something (zooming in opens the others).
    const ext = this.layout.extent;
    const fitZoom = Math.min(1.5, (this.cy.width() - 60) / (ext.w || 1), (this.cy.height() - 60) / (ext.h || 1));
    const large = m.nodes.size > this.maxElements;
    let shown = roots.length;
    let level = roots.filter((id) => m.isGroup(id));
    while (level.length) {
      /** @type {string[]} */
      const next = [];
      for (const g of level) {
        if (this.pinnedCollapsed.has(g)) continue;
        if (large && (this.layout.box.get(g)?.w ?? 0) * fitZoom < MIN_OPEN_PX) continue;
        const kids = m.childrenOf(g).filter((k) => this.inScope(k));
        if (shown + kids.length > this.maxElements) continue;
        shown += kids.length;
        this.expanded.add(g);
        this.autoExpanded.add(g);
        for (const k of kids) if (m.isGroup(k)) next.push(k);
      }
      level = next;
    }
  }

  /** @param {string} id */
  inScope(id) {
    return this.only === null || this.only.has(id);
  }

  /** The visible node standing for a model node, or null. @param {string} id */
  visibleFor(id) {
    return this.rep.get(id) ?? null;
  }

  /**
   * Computes what should be drawn and updates cytoscape by difference.
   */
  render() {
    const m = this.model, L = this.layout;
    /** @type {Map<string, NodeView>} */
    const nodes = new Map();
    this.rep = new Map();
    /** @type {[string, string | null][]} */
    const stack = m.roots().filter((id) => this.inScope(id)).reverse().map((id) => [id, null]);
    const seen = new Set();
    while (stack.length) {
      const [id, parent] = /** @type {[string, string | null]} */ (stack.pop());
      if (seen.has(id)) continue;
      seen.add(id);
      const n = m.nodes.get(id);
      if (!n) continue;
      const isGroup = m.isGroup(id);
      const type = nodeType(n);
      const depth = parent === null ? 0 : (/** @type {NodeView} */ (nodes.get(parent)).z + 1);
      if (isGroup && this.expanded.has(id)) {
        const b = L.box.get(id) ?? { x: 0, y: 0, w: LEAF_W, h: LEAF_W };
        nodes.set(id, { kind: 'group', parent, label: nodeName(n), type, w: b.w, h: b.h, x: b.x + b.w / 2, y: b.y + b.h / 2, z: depth, count: 0 });
        this.rep.set(id, id);
        const kids = m.childrenOf(id).filter((k) => this.inScope(k));
        for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], id]);
      } else if (isGroup) {
        const b = L.box.get(id) ?? { ...(L.pos.get(id) ?? { x: 0, y: 0 }), w: LEAF_W, h: LEAF_W };
        const count = m.descendantCount(id);
        nodes.set(id, {
          kind: 'collapsed', parent, label: `${nodeName(n)}\n${count} node${count === 1 ? '' : 's'}`,
          type, w: Math.max(b.w, 40), h: Math.max(b.h, 30), x: b.x + b.w / 2, y: b.y + b.h / 2, z: depth, count,
        });
        for (const d of L.subtree(id)) this.rep.set(d, id);
      } else {
        const p = L.pos.get(id) ?? this.placeLeaf(id);
        nodes.set(id, { kind: 'leaf', parent, label: nodeName(n), type, w: 0, h: 0, x: p.x, y: p.y, z: LEAF_Z, count: 0 });
        this.rep.set(id, id);
      }
    }

    /** @type {Map<string, EdgeView>} */
    const edges = new Map();
    for (const e of m.linkEdges()) {
      const a = this.rep.get(e.Parent), b = this.rep.get(e.Child);
      if (a === undefined || b === undefined || a === b) continue;
      if (this.isAncestor(a, b) || this.isAncestor(b, a)) continue;
      const rel = edgeKind(e);
      if (a === e.Parent && b === e.Child) {
        edges.set(e.ID, { source: a, target: b, rel, count: 1, agg: false, curve: this.curve(a, b) });
        continue;
      }
      const key = a < b ? `agg|${a}|${b}` : `agg|${b}|${a}`;
      const cur = edges.get(key);
      if (cur) { cur.count++; if (cur.rel !== rel) cur.rel = 'other'; }
      else edges.set(key, { source: a, target: b, rel, count: 1, agg: true, curve: 0 });
    }
    this.applyDiff(nodes, edges);
    this.refreshHighlights();
    this.onViewChanged();
  }

  /**
   * A link along a row or a column of the grid would run over the nodes between its ends:
   * it bends instead, more for longer links (0: straight).
   * @param {string} a @param {string} b
   */
  curve(a, b) {
    const p = this.layout.pos.get(a), q = this.layout.pos.get(b);
    if (!p || !q) return 0;
    const dx = Math.abs(p.x - q.x), dy = Math.abs(p.y - q.y);
    if (dy < 1 && dx > LEAF_W * 1.5) return Math.min(24 + dx / 6, 120);
    if (dx < 1 && dy > LEAF_W * 1.5) return Math.min(24 + dy / 6, 120);
    return 0;
  }

  /** @param {string} a @param {string} b whether a owns b, at any depth */
  isAncestor(a, b) {
    let cur = this.model.ownerOf(b);
    for (let i = 0; cur !== null && i < 64; i++) {
      if (cur === a) return true;
      cur = this.model.ownerOf(cur);
    }
    return false;
  }

  /** @param {Map<string, NodeView>} nodes @param {Map<string, EdgeView>} edges */
  applyDiff(nodes, edges) {
    const cy = this.cy;
    const oldNodes = this.shownNodes, oldEdges = this.shownEdges;
    cy.batch(() => {
      for (const [id, e] of oldEdges) {
        const n = edges.get(id);
        if (!n || n.source !== e.source || n.target !== e.target) { cy.getElementById(id).remove(); oldEdges.delete(id); }
      }
      for (const [id] of oldNodes) {
        if (!nodes.has(id)) cy.getElementById(id).remove();
      }
      /** @type {any[]} */
      const add = [];
      for (const [id, v] of nodes) {
        const old = oldNodes.get(id);
        v.cls = nodeClasses(v, this.model.nodes.get(id)?.Metadata?.State);
        if (!old) {
          // Pannable: a drag that starts on a node (a group frame covers most of the view) pans.
          add.push({ group: 'nodes', data: this.nodeData(id, v), position: { x: v.x, y: v.y }, classes: v.cls, pannable: true });
          continue;
        }
        const el = cy.getElementById(id);
        if (old.cls !== v.cls) el.classes(v.cls);
        if (old.label !== v.label || old.w !== v.w || old.h !== v.h) el.data(this.nodeData(id, v));
        if (old.x !== v.x || old.y !== v.y) el.position({ x: v.x, y: v.y });
      }
      if (add.length) cy.add(add);
      /** @type {any[]} */
      const addE = [];
      for (const [id, v] of edges) {
        const old = oldEdges.get(id);
        if (!old) {
          addE.push({
            group: 'edges', data: { id, source: v.source, target: v.target, rel: v.rel, count: v.count, curve: v.curve },
            classes: edgeClasses(v),
          });
        } else if (old.count !== v.count || old.rel !== v.rel || old.curve !== v.curve) {
          const el = cy.getElementById(id);
          el.data({ count: v.count, rel: v.rel, curve: v.curve });
          el.classes(edgeClasses(v));
        }
      }
      if (addE.length) cy.add(addE);
    });
    this.shownNodes = nodes;
    this.shownEdges = edges;
  }

  /** @param {string} id @param {NodeView} v */
  nodeData(id, v) {
    const n = this.model.nodes.get(id);
    return { id, label: v.label, type: v.type, w: v.w, h: v.h, count: v.count, state: n?.Metadata?.State };
  }

  /** A leaf the layout has not placed yet (it should have): place it now. @param {string} id */
  placeLeaf(id) {
    this.layout.placeNew([id]);
    return this.layout.pos.get(id) ?? this.layout.centre(id) ?? { x: 0, y: 0 };
  }

  /**
   * Applies what changed in the model since the last frame.
   * @param {import('./model.js').Changes} ch
   */
  applyChanges(ch) {
    if (ch.reset) { this.reset(); return; }
    if (ch.structural) {
      const fresh = [...ch.added, ...ch.moved].filter((id) => this.model.nodes.has(id) && this.inScope(id));
      this.layout.placeNew(fresh);
      for (const id of ch.removed) { this.expanded.delete(id); this.autoExpanded.delete(id); }
      // New groups open if the budget allows (a namespace appearing shows its interfaces).
      const owners = new Set();
      for (const id of ch.added) {
        const o = this.model.ownerOf(id);
        if (o !== null) owners.add(o);
      }
      // Owners first, so that a new namespace opens inside a host that opens too.
      const byDepth = [...owners].sort((a, b) => this.model.ancestors(a).length - this.model.ancestors(b).length);
      let budget = this.maxElements - this.shownNodes.size;
      for (const o of byDepth) {
        if (this.expanded.has(o) || this.pinnedCollapsed.has(o) || !this.inScope(o)) continue;
        const up = this.model.ownerOf(o);
        const kids = this.model.childrenOf(o).length;
        if ((up === null || this.expanded.has(up)) && kids <= budget) {
          this.expanded.add(o);
          this.autoExpanded.add(o);
          budget -= kids;
        }
      }
      this.render();
      if (this.firstFit && this.cy.nodes().length) { this.fit(); this.firstFit = false; }
      return;
    }
    if (ch.updated.size) {
      this.cy.batch(() => {
        for (const id of ch.updated) {
          const v = this.shownNodes.get(id);
          if (!v) continue;
          const n = this.model.nodes.get(id);
          const label = v.kind === 'collapsed' ? v.label.replace(/^[^\n]*/, nodeName(n)) : nodeName(n);
          const el = this.cy.getElementById(id);
          if (label !== v.label) { v.label = label; el.data('label', label); }
          const cls = nodeClasses(v, n?.Metadata?.State);
          if (cls !== v.cls) { v.cls = cls; el.classes(cls); this.refreshHighlights(); }
        }
      });
    }
  }

  /** Expands or collapses a group. @param {string} id */
  toggle(id) {
    if (!this.model.isGroup(id)) return;
    if (this.expanded.has(id)) this.collapse(id); else this.expand(id);
  }

  /** @param {string} id */
  expand(id) {
    if (!this.model.isGroup(id)) return;
    this.pinnedCollapsed.delete(id);
    this.expanded.add(id);
    this.autoExpanded.delete(id);
    this.render();
  }

  /** @param {string} id */
  collapse(id) {
    if (!this.expanded.has(id)) return;
    for (const d of this.layout.subtree(id)) { this.expanded.delete(d); this.autoExpanded.delete(d); }
    this.pinnedCollapsed.add(id);
    this.render();
  }

  /** Expands every group (up to twice the budget) or collapses them all. @param {boolean} open */
  setAll(open) {
    this.pinnedCollapsed.clear();
    this.autoExpanded.clear();
    if (open) {
      // Open level by level, as far as twice the budget: the user asked for it.
      const save = this.maxElements;
      this.maxElements = save * 2;
      this.initialExpansion();
      this.maxElements = save;
    } else {
      this.expanded.clear();
      for (const r of this.model.roots()) if (this.model.isGroup(r)) this.pinnedCollapsed.add(r);
    }
    this.render();
  }

  /** Expands the owners of a node so that it is drawn, then centres it. @param {string} id */
  reveal(id) {
    if (!this.model.nodes.has(id)) return false;
    for (const a of this.model.ancestors(id)) { this.expanded.add(a); this.pinnedCollapsed.delete(a); }
    this.render();
    const el = this.cy.getElementById(id);
    if (el.nonempty()) {
      this.cy.animate({ center: { eles: el }, zoom: Math.max(this.cy.zoom(), 1) }, { duration: 250 });
    }
    return true;
  }

  /**
   * Semantic zoom: collapsed groups that fill a good part of the screen open. When the budget
   * has no room for them, groups the UI opened by itself that are now off screen or tiny
   * close first (deepest first). Groups the user opened or closed are left alone.
   */
  semanticZoom() {
    const cy = this.cy;
    const zoom = cy.zoom();
    const ext = cy.extent();
    const off = (/** @type {{x: number, y: number, w: number, h: number}} */ b) =>
      b.x > ext.x2 || b.x + b.w < ext.x1 || b.y > ext.y2 || b.y + b.h < ext.y1;
    /** @type {[string, number][]} */
    const candidates = [];
    for (const [id, v] of this.shownNodes) {
      if (v.kind !== 'collapsed' || this.pinnedCollapsed.has(id)) continue;
      const b = this.layout.box.get(id);
      if (!b || b.w * zoom < OPEN_PX || off(b)) continue;
      candidates.push([id, b.w * b.h]);
    }
    if (candidates.length === 0) return;
    candidates.sort((a, b) => b[1] - a[1]);
    let shown = this.shownNodes.size;
    const need = candidates.reduce((n, [id]) => n + this.model.childrenOf(id).length, 0);
    if (shown + need > this.maxElements) {
      const victims = [...this.autoExpanded].filter((id) => {
        const b = this.layout.box.get(id);
        return !b || off(b) || b.w * zoom < 90;
      }).sort((a, b) => this.model.ancestors(b).length - this.model.ancestors(a).length);
      for (const id of victims) {
        if (shown + need <= this.maxElements) break;
        if (!this.expanded.has(id)) continue;
        for (const d of this.layout.subtree(id)) {
          if (d !== id && this.shownNodes.has(d)) shown--;
          this.expanded.delete(d);
          this.autoExpanded.delete(d);
        }
      }
      // What closed is gone from `shownNodes` at the next render; count it out now.
    }
    let changed = false;
    for (const [id] of candidates) {
      const add = this.model.childrenOf(id).length;
      if (shown + add > this.maxElements) continue;
      shown += add;
      this.expanded.add(id);
      this.autoExpanded.add(id);
      changed = true;
    }
    if (changed) this.render();
  }

  /**
   * Marks model nodes (drawn, or through the group that holds them).
   * @param {string} kind 'search' | 'flow' @param {Iterable<string> | null} ids
   * @returns {{shown: number, hidden: number}}
   */
  highlight(kind, ids) {
    if (ids === null) this.highlights.delete(kind);
    else this.highlights.set(kind, new Set(ids));
    return this.refreshHighlights(kind);
  }

  /** @param {string} [only] */
  refreshHighlights(only) {
    let shown = 0, hidden = 0;
    this.cy.batch(() => {
      for (const kind of ['search', 'flow']) {
        if (only && kind !== only) continue;
        this.cy.elements(`.hl-${kind}`).removeClass(`hl-${kind}`);
        const ids = this.highlights.get(kind);
        if (!ids) continue;
        for (const id of ids) {
          const r = this.rep.get(id);
          if (r === undefined) continue;
          if (r === id) shown++; else hidden++;
          this.cy.getElementById(r).addClass(`hl-${kind}`);
        }
      }
    });
    return { shown, hidden };
  }

  /** Draws only these nodes and their owners (null: everything). @param {Set<string> | null} ids */
  restrict(ids) {
    if (ids === null) { this.only = null; }
    else {
      const keep = new Set(ids);
      for (const id of ids) for (const a of this.model.ancestors(id)) keep.add(a);
      this.only = keep;
    }
    this.reset({ fit: true });
  }

  /** Fits the drawing, without blowing a small graph up past 1.5×. */
  fit() {
    const cy = this.cy;
    if (!cy.elements().length) return;
    // From what is drawn, known without asking cytoscape for bounding boxes (slow with many
    // labels): every drawn node has its place in the layout.
    let x1 = Infinity, y1 = Infinity, x2 = -Infinity, y2 = -Infinity;
    for (const v of this.shownNodes.values()) {
      const hw = v.kind === 'leaf' ? 40 : v.w / 2, hh = v.kind === 'leaf' ? 30 : v.h / 2 + 16;
      x1 = Math.min(x1, v.x - hw); x2 = Math.max(x2, v.x + hw);
      y1 = Math.min(y1, v.y - hh); y2 = Math.max(y2, v.y + hh);
    }
    const W = cy.width(), H = cy.height(), pad = 30;
    const zoom = Math.min(1.5, Math.max(cy.minZoom(), Math.min((W - 2 * pad) / (x2 - x1 || 1), (H - 2 * pad) / (y2 - y1 || 1))));
    cy.viewport({ zoom, pan: { x: W / 2 - zoom * (x1 + x2) / 2, y: H / 2 - zoom * (y1 + y2) / 2 } });
  }

  /** @param {number} factor */
  zoomBy(factor) {
    const c = this.cy;
    c.zoom({ level: c.zoom() * factor, renderedPosition: { x: c.width() / 2, y: c.height() / 2 } });
  }

  /** Counts for the status line. */
  stats() {
    let collapsed = 0;
    for (const v of this.shownNodes.values()) if (v.kind === 'collapsed') collapsed++;
    return {
      nodes: this.model.nodes.size, edges: this.model.edges.size,
      drawnNodes: this.shownNodes.size, drawnEdges: this.shownEdges.size, collapsed,
    };
  }
}

export { isOwnership };
