// @ts-check
/**
 * The topology drawing: which part of the model cytoscape holds, and how it looks.
 *
 * Cytoscape never receives the whole graph. A group (any node that owns others: host,
 * namespace, bridge) is either *expanded*, a compound node holding its children, or
 * *collapsed*, one box labelled with how many nodes it holds, drawn over the area the layout
 * reserved for them. Edges whose ends are hidden are drawn between the closest visible
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

/** @typedef {import('./model.js').GraphModel} GraphModel */
/** @typedef {import('./layout.js').Layout} Layout */
/**
 * @typedef {{kind: 'leaf' | 'group' | 'collapsed', parent: string | null, label: string,
 *   type: string, w: number, h: number, count: number}} NodeView
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

/** The cytoscape stylesheet. Shapes and colours per node Type; see docs/ui.md's legend. */
const STYLE = [
  {
    selector: 'node',
    style: {
      label: 'data(label)', 'font-size': 10, 'text-valign': 'bottom', 'text-margin-y': 3,
      'text-max-width': 80, 'text-wrap': 'ellipsis', 'min-zoomed-font-size': 7,
      width: 26, height: 26, 'background-color': '#7a8899', 'border-width': 1,
      'border-color': '#4b5563', color: '#1f2937',
    },
  },
  { selector: 'node[type = "host"]', style: { shape: 'round-rectangle', 'background-color': '#334155' } },
  { selector: 'node[type = "netns"]', style: { shape: 'round-rectangle', 'background-color': '#0e7490' } },
  { selector: 'node[type = "device"]', style: { 'background-color': '#2563eb' } },
  { selector: 'node[type = "veth"]', style: { 'background-color': '#16a34a' } },
  { selector: 'node[type = "bridge"]', style: { shape: 'diamond', 'background-color': '#d97706', width: 30, height: 30 } },
  { selector: 'node[type = "ovsbridge"]', style: { shape: 'hexagon', 'background-color': '#b45309', width: 32, height: 30 } },
  { selector: 'node[type = "ovsport"]', style: { shape: 'rectangle', 'background-color': '#f59e0b', width: 16, height: 16 } },
  { selector: 'node[type = "internal"], node[type = "openvswitch"]', style: { 'background-color': '#ea580c' } },
  { selector: 'node[type = "patch"]', style: { shape: 'tag', 'background-color': '#c2410c' } },
  {
    selector: 'node[type = "vxlan"], node[type = "gre"], node[type = "geneve"], node[type = "gretap"]',
    style: { shape: 'triangle', 'background-color': '#7c3aed' },
  },
  { selector: 'node[type = "tun"], node[type = "tap"]', style: { shape: 'vee', 'background-color': '#0891b2' } },
  { selector: 'node[state = "DOWN"]', style: { 'background-opacity': 0.35, 'border-style': 'dashed' } },
  {
    selector: 'node.group',
    style: {
      shape: 'round-rectangle', 'background-color': '#e2e8f0', 'background-opacity': 0.55,
      'border-color': '#94a3b8', 'border-width': 1.5, padding: 14, 'text-valign': 'top',
      'text-halign': 'center', 'text-margin-y': -4, 'font-size': 12, 'font-weight': 'bold',
      'text-max-width': 400, 'compound-sizing-wrt-labels': 'exclude',
    },
  },
  { selector: 'node.group[type = "host"]', style: { 'background-color': '#f1f5f9', 'border-color': '#334155', 'border-width': 2 } },
  { selector: 'node.group[type = "netns"]', style: { 'background-color': '#ecfeff', 'border-color': '#0e7490' } },
  { selector: 'node.group[type = "ovsbridge"]', style: { 'background-color': '#fff7ed', 'border-color': '#b45309' } },
  {
    selector: 'node.collapsed',
    style: {
      shape: 'round-rectangle', width: 'data(w)', height: 'data(h)', 'background-opacity': 0.85,
      'text-valign': 'center', 'text-halign': 'center', 'text-margin-y': 0, color: '#fff',
      'font-size': 14, 'text-max-width': 'data(w)', 'text-wrap': 'wrap', 'font-weight': 'bold',
      'text-outline-width': 0, 'border-width': 2, 'border-style': 'double',
    },
  },
  {
    selector: 'edge',
    style: {
      width: 1.5, 'line-color': '#94a3b8', 'curve-style': 'haystack', 'haystack-radius': 0,
      opacity: 0.9,
    },
  },
  {
    selector: 'edge.curved',
    style: { 'curve-style': 'unbundled-bezier', 'control-point-distances': 'data(curve)', 'control-point-weights': 0.5 },
  },
  { selector: 'edge[rel = "layer2"]', style: { 'line-color': '#64748b' } },
  { selector: 'edge[rel = "veth"]', style: { 'line-color': '#16a34a', width: 2 } },
  { selector: 'edge[rel = "patch"]', style: { 'line-color': '#ea580c', 'line-style': 'dashed', width: 2 } },
  { selector: 'edge[rel = "tunnel"]', style: { 'line-color': '#7c3aed', 'line-style': 'dotted', width: 3 } },
  {
    selector: 'edge.agg',
    style: { width: 'mapData(count, 1, 200, 2, 10)', label: 'data(count)', 'font-size': 9, 'min-zoomed-font-size': 8, 'text-background-color': '#fff', 'text-background-opacity': 0.8 },
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
    this.maxElements = opts.maxElements ?? 6000;
    this.onSelect = opts.onSelect ?? (() => {});
    this.onViewChanged = opts.onViewChanged ?? (() => {});
    /** groups drawn expanded @type {Set<string>} */
    this.expanded = new Set();
    /** groups the user collapsed: zooming does not expand them @type {Set<string>} */
    this.pinnedCollapsed = new Set();
    /** groups expanded by zooming in (collapsed again by zooming out) @type {Set<string>} */
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
    let shown = roots.length;
    let level = roots.filter((id) => m.isGroup(id));
    while (level.length) {
      /** @type {string[]} */
      const next = [];
      for (const g of level) {
        if (this.pinnedCollapsed.has(g)) continue;
        const kids = m.childrenOf(g).filter((k) => this.inScope(k));
        if (shown + kids.length > this.maxElements) continue;
        shown += kids.length;
        this.expanded.add(g);
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
      if (isGroup && this.expanded.has(id)) {
        nodes.set(id, { kind: 'group', parent, label: nodeName(n), type, w: 0, h: 0, count: 0 });
        this.rep.set(id, id);
        const kids = m.childrenOf(id).filter((k) => this.inScope(k));
        for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], id]);
      } else if (isGroup) {
        const b = L.box.get(id);
        const count = m.descendantCount(id);
        nodes.set(id, {
          kind: 'collapsed', parent, label: `${nodeName(n)}\n${count} node${count === 1 ? '' : 's'}`,
          type, w: Math.max(b?.w ?? LEAF_W, 40), h: Math.max(b?.h ?? LEAF_W, 30), count,
        });
        for (const d of L.subtree(id)) this.rep.set(d, id);
      } else {
        nodes.set(id, { kind: 'leaf', parent, label: nodeName(n), type, w: 0, h: 0, count: 0 });
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
    const cy = this.cy, L = this.layout;
    const oldNodes = this.shownNodes, oldEdges = this.shownEdges;
    cy.batch(() => {
      for (const [id, e] of oldEdges) {
        const n = edges.get(id);
        if (!n || n.source !== e.source || n.target !== e.target) { cy.getElementById(id).remove(); oldEdges.delete(id); }
      }
      /** @type {any[]} */
      const add = [];
      for (const [id, v] of nodes) {
        const old = oldNodes.get(id);
        const data = this.nodeData(id, v);
        if (!old) { add.push({ group: 'nodes', data, position: this.placeOf(id, v), classes: v.kind === 'leaf' ? '' : v.kind }); continue; }
        const ele = cy.getElementById(id);
        if (old.parent !== v.parent) {
          // Parents come before children in `nodes`, so a new parent is added already.
          this.flush(add);
          ele.move({ parent: v.parent });
        }
        const el = cy.getElementById(id);
        if (old.kind !== v.kind) {
          el.removeClass('group collapsed leaf');
          if (v.kind !== 'leaf') el.addClass(v.kind);
          if (v.kind !== 'group') el.position(this.placeOf(id, v));
        }
        if (old.label !== v.label || old.w !== v.w || old.h !== v.h || old.type !== v.type) el.data(data);
      }
      this.flush(add);
      for (const [id] of oldNodes) {
        if (!nodes.has(id)) {
          const el = cy.getElementById(id);
          // Children that stay were moved out above; what is left inside goes too.
          if (el.nonempty()) el.remove();
        }
      }
      /** @type {any[]} */
      const addE = [];
      for (const [id, v] of edges) {
        const old = oldEdges.get(id);
        if (!old) {
          addE.push({
            group: 'edges', data: { id, source: v.source, target: v.target, rel: v.rel, count: v.count, curve: v.curve },
            classes: `${v.agg ? 'agg' : ''}${v.curve ? ' curved' : ''}`,
          });
        } else if (old.count !== v.count || old.rel !== v.rel || old.curve !== v.curve) {
          const el = cy.getElementById(id);
          el.data({ count: v.count, rel: v.rel, curve: v.curve });
          el.toggleClass('curved', v.curve !== 0);
        }
      }
      if (addE.length) cy.add(addE);
    });
    this.shownNodes = nodes;
    this.shownEdges = edges;
    void L;
  }

  /** @param {any[]} add */
  flush(add) {
    if (add.length) { this.cy.add(add); add.length = 0; }
  }

  /** @param {string} id @param {NodeView} v */
  nodeData(id, v) {
    const n = this.model.nodes.get(id);
    return {
      id, label: v.label, type: v.type, w: v.w, h: v.h, count: v.count, parent: v.parent ?? undefined,
      state: n?.Metadata?.State,
    };
  }

  /** @param {string} id @param {NodeView} v */
  placeOf(id, v) {
    const c = this.layout.centre(id);
    if (c) return c;
    this.layout.placeNew([id]);
    return this.layout.centre(id) ?? { x: 0, y: 0 };
    void v;
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
          const st = n?.Metadata?.State;
          if (el.data('state') !== st) el.data('state', st);
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
   * Semantic zoom: collapsed groups that fill a good part of the screen open, groups opened
   * that way close again once they are small, while the budget is tight.
   */
  semanticZoom() {
    const cy = this.cy;
    const zoom = cy.zoom();
    const ext = cy.extent();
    let shown = this.shownNodes.size;
    let changed = false;
    /** @type {[string, number][]} */
    const candidates = [];
    for (const [id, v] of this.shownNodes) {
      if (v.kind !== 'collapsed' || this.pinnedCollapsed.has(id)) continue;
      const b = this.layout.box.get(id);
      if (!b || b.w * zoom < 220) continue;
      if (b.x > ext.x2 || b.x + b.w < ext.x1 || b.y > ext.y2 || b.y + b.h < ext.y1) continue;
      candidates.push([id, b.w * b.h]);
    }
    candidates.sort((a, b) => b[1] - a[1]);
    for (const [id] of candidates) {
      const add = this.model.childrenOf(id).length;
      if (shown + add > this.maxElements) continue;
      shown += add;
      this.expanded.add(id);
      this.autoExpanded.add(id);
      changed = true;
    }
    if (shown > this.maxElements * 0.7) {
      for (const id of [...this.autoExpanded]) {
        const b = this.layout.box.get(id);
        const off = b && (b.x > ext.x2 || b.x + b.w < ext.x1 || b.y > ext.y2 || b.y + b.h < ext.y1);
        if (!b || b.w * zoom < 90 || off) {
          for (const d of this.layout.subtree(id)) { this.expanded.delete(d); this.autoExpanded.delete(d); }
          changed = true;
        }
      }
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
    cy.fit(undefined, 30);
    if (cy.zoom() > 1.5) { cy.zoom(1.5); cy.center(); }
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
