// @ts-check
/**
 * Where every node goes, computed once for the whole graph in O(n) and then only extended.
 *
 * The ownership forest is packed bottom-up: a group (a host, a namespace, a bridge) puts its
 * leaf children in a grid and its sub-groups on shelves below, and reserves that area. A
 * collapsed group is drawn as a box of exactly that area, so expanding it (by double click
 * or by zooming in) only fills the box: nothing else moves.
 *
 * Live changes never re-run the packing: a new node goes into the "append row" of its owner
 * (below what is there), a new root below the whole graph, so the picture does not jump.
 * The owner's box grows to hold it (possibly over a neighbour); `full()` (the "Tidy" button,
 * key L) packs everything again.
 *
 * Must not: touch the DOM or cytoscape (topology.js reads `pos` and `box`).
 */

import { isOwnership, nodeName, nodeType } from './model.js';

/** @typedef {import('./model.js').GraphModel} GraphModel */
/** @typedef {{x: number, y: number, w: number, h: number}} Box  (x, y: top-left) */
/** @typedef {{x: number, y: number, rowH: number}} Cursor  append cursor, absolute */

export const LEAF_W = 84;
export const LEAF_H = 66;
export const PAD = 14;
export const LABEL_H = 20;
export const GAP = 22;

/** Leaves are sorted by kind, so a namespace's interfaces read loopback, then the rest. */
const TYPE_RANK = /** @type {Record<string, number>} */ ({
  host: 0, netns: 1, ovsbridge: 2, bridge: 3, ovsport: 4, device: 5, veth: 6,
});

/** @param {GraphModel} model @param {string} a @param {string} b */
function byKindThenName(model, a, b) {
  const na = model.nodes.get(a), nb = model.nodes.get(b);
  const ra = TYPE_RANK[nodeType(na)] ?? 9, rb = TYPE_RANK[nodeType(nb)] ?? 9;
  if (ra !== rb) return ra - rb;
  const sa = nodeName(na), sb = nodeName(nb);
  return sa < sb ? -1 : sa > sb ? 1 : (a < b ? -1 : 1);
}

export class Layout {
  /** @param {GraphModel} model */
  constructor(model) {
    this.model = model;
    /** leaf centre @type {Map<string, {x: number, y: number}>} */
    this.pos = new Map();
    /** group area, top-left based @type {Map<string, Box>} */
    this.box = new Map();
    /** where the next child of a group (or '' for the roots) goes @type {Map<string, Cursor>} */
    this.cursor = new Map();
    /** extent of everything placed @type {Box} */
    this.extent = { x: 0, y: 0, w: 0, h: 0 };
  }

  /** Centre of a node (leaf or group). @param {string} id */
  centre(id) {
    const b = this.box.get(id);
    if (b) return { x: b.x + b.w / 2, y: b.y + b.h / 2 };
    return this.pos.get(id) ?? null;
  }

  /**
   * Packs the whole forest (or the part `keep` accepts) again.
   * @param {(id: string) => boolean} [keep]
   */
  full(keep = () => true) {
    const m = this.model;
    this.pos.clear(); this.box.clear(); this.cursor.clear();
    /** @type {Map<string, {w: number, h: number, place: (x: number, y: number) => void}>} */
    const measured = new Map();
    const kidsOf = (/** @type {string} */ id) => m.childrenOf(id).filter(keep);

    // Post-order without recursion: measure children before their group.
    const roots = m.roots().filter(keep);
    /** @type {string[]} */
    const order = [];
    const seen = new Set();
    /** @type {string[]} */
    const stack = [...roots];
    while (stack.length) {
      const id = /** @type {string} */ (stack.pop());
      if (seen.has(id)) continue;
      seen.add(id);
      order.push(id);
      for (const k of kidsOf(id)) if (!seen.has(k)) stack.push(k);
    }
    for (let i = order.length - 1; i >= 0; i--) {
      const id = order[i];
      const kids = kidsOf(id).filter((k) => seen.has(k) && k !== id);
      if (kids.length === 0) continue;
      measured.set(id, this.pack(kids, measured, true, id));
    }
    const top = this.pack(roots, measured, false, '');
    top.place(0, 0);
    this.extent = { x: 0, y: 0, w: top.w, h: top.h };
  }

  /**
   * Packs children into a block: leaves in a grid, groups on shelves below.
   * @param {string[]} kids @param {Map<string, any>} measured @param {boolean} framed
   * @param {string} groupId ('' for the roots)
   * @returns {{w: number, h: number, place: (x: number, y: number) => void}}
   */
  pack(kids, measured, framed, groupId) {
    const m = this.model;
    const leaves = this.clustered(kids.filter((k) => !measured.has(k)).sort((a, b) => byKindThenName(m, a, b)));
    const groups = kids.filter((k) => measured.has(k)).sort((a, b) => byKindThenName(m, a, b));
    let area = leaves.length * LEAF_W * LEAF_H;
    let widest = 0;
    for (const g of groups) {
      const s = measured.get(g);
      area += (s.w + GAP) * (s.h + GAP);
      widest = Math.max(widest, s.w);
    }
    const target = Math.max(LEAF_W, widest, Math.sqrt(area) * 1.25);
    const cols = Math.max(1, Math.min(leaves.length, Math.floor(target / LEAF_W)));
    const gridW = leaves.length ? cols * LEAF_W : 0;
    const gridH = leaves.length ? Math.ceil(leaves.length / cols) * LEAF_H : 0;
    /** @type {{id: string, x: number, y: number}[]} */
    const shelf = [];
    let x = 0, y = gridH ? gridH + GAP : 0, rowH = 0, maxX = gridW;
    const shelfW = Math.max(target, gridW);
    for (const g of groups) {
      const s = measured.get(g);
      if (x > 0 && x + s.w > shelfW) { x = 0; y += rowH + GAP; rowH = 0; }
      shelf.push({ id: g, x, y });
      x += s.w + GAP;
      maxX = Math.max(maxX, x - GAP);
      rowH = Math.max(rowH, s.h);
    }
    const contentW = Math.max(maxX, LEAF_W);
    const contentH = groups.length ? y + rowH : gridH;
    const inset = framed ? { left: PAD, top: PAD + LABEL_H } : { left: 0, top: 0 };
    const w = contentW + (framed ? 2 * PAD : 0);
    const h = contentH + (framed ? 2 * PAD + LABEL_H : 0);
    return {
      w, h,
      place: (/** @type {number} */ ox, /** @type {number} */ oy) => {
        const cx = ox + inset.left, cy = oy + inset.top;
        leaves.forEach((id, i) => {
          this.pos.set(id, {
            x: cx + (i % cols) * LEAF_W + LEAF_W / 2,
            y: cy + Math.floor(i / cols) * LEAF_H + LEAF_H / 2,
          });
        });
        for (const s of shelf) measured.get(s.id).place(cx + s.x, cy + s.y);
        if (groupId !== '') this.box.set(groupId, { x: ox, y: oy, w, h });
        this.cursor.set(groupId, { x: cx, y: cy + contentH + GAP, rowH: 0 });
      },
    };
  }

  /**
   * Reorders sorted leaves so that linked ones (a bridge and its ports, a veth and its peer)
   * take consecutive cells: a breadth-first walk over links between these leaves.
   * @param {string[]} sorted @returns {string[]}
   */
  clustered(sorted) {
    if (sorted.length < 2) return sorted;
    const m = this.model;
    const inGroup = new Set(sorted);
    const done = new Set();
    /** @type {string[]} */
    const out = [];
    // Start from the best-linked leaves (bridges), so their members follow them.
    const degree = (/** @type {string} */ id) => {
      let d = 0;
      for (const eid of m.nodeEdges.get(id) ?? []) {
        const e = m.edges.get(eid);
        if (e && !isOwnership(e) && inGroup.has(e.Parent === id ? e.Child : e.Parent)) d++;
      }
      return d;
    };
    // Leaves linked outside the group come first (top row, nearer the rest of the graph):
    // a namespace shows its veth above its loopback, so the link does not cross it.
    const outside = (/** @type {string} */ id) => {
      for (const eid of m.nodeEdges.get(id) ?? []) {
        const e = m.edges.get(eid);
        if (e && !isOwnership(e) && !inGroup.has(e.Parent === id ? e.Child : e.Parent)) return 1;
      }
      return 0;
    };
    const starts = sorted.map((id, i) => ({ id, i, d: degree(id), o: outside(id) }))
      .sort((a, b) => (b.d > 1 ? b.d : 0) - (a.d > 1 ? a.d : 0) || b.o - a.o || a.i - b.i);
    for (const { id } of starts) {
      if (done.has(id)) continue;
      const queue = [id];
      done.add(id);
      while (queue.length) {
        const cur = /** @type {string} */ (queue.shift());
        out.push(cur);
        /** @type {string[]} */
        const next = [];
        for (const eid of m.nodeEdges.get(cur) ?? []) {
          const e = m.edges.get(eid);
          if (!e || isOwnership(e)) continue;
          const other = e.Parent === cur ? e.Child : e.Parent;
          if (inGroup.has(other) && !done.has(other)) { done.add(other); next.push(other); }
        }
        next.sort((a, b) => byKindThenName(m, a, b));
        queue.push(...next);
      }
    }
    return out;
  }

  /**
   * Places nodes that have no place yet (new ones, or moved to another owner), owners first,
   * each subtree as one block in its owner's append row.
   * @param {Iterable<string>} ids
   */
  placeNew(ids) {
    const m = this.model;
    const todo = new Set();
    for (const id of ids) if (m.nodes.has(id)) todo.add(id);
    // A subtree whose root is placed together with it: only the top of each one here.
    const tops = [...todo].filter((id) => {
      const o = m.ownerOf(id);
      return o === null || !todo.has(o);
    });
    for (const id of tops) {
      this.forget(id);
      const owner = m.ownerOf(id);
      // Measure the subtree with the packer, then put the block at the owner's cursor.
      /** @type {Map<string, any>} */
      const measured = new Map();
      const sub = this.subtree(id);
      for (let i = sub.length - 1; i >= 0; i--) {
        const k = sub[i];
        const kids = m.childrenOf(k);
        if (kids.length) measured.set(k, this.pack(kids, measured, true, k));
      }
      const block = measured.get(id) ?? { w: LEAF_W, h: LEAF_H, place: null };
      const at = this.appendAt(owner ?? '', block.w, block.h, id);
      if (block.place) block.place(at.x, at.y);
      else this.pos.set(id, { x: at.x + LEAF_W / 2, y: at.y + LEAF_H / 2 });
    }
  }

  /** Pre-order list of a subtree. @param {string} id */
  subtree(id) {
    const out = [];
    const seen = new Set();
    const stack = [id];
    while (stack.length) {
      const k = /** @type {string} */ (stack.pop());
      if (seen.has(k)) continue;
      seen.add(k);
      out.push(k);
      for (const c of this.model.childrenOf(k)) stack.push(c);
    }
    return out;
  }

  /** Drops the places of a subtree. @param {string} id */
  forget(id) {
    for (const k of this.subtree(id)) { this.pos.delete(k); this.box.delete(k); this.cursor.delete(k); }
  }

  /**
   * Reserves a w×h area in a group's append row (or the roots' with '') and grows the group
   * and its owners to hold it.
   * @param {string} group @param {number} w @param {number} h @param {string} id
   */
  appendAt(group, w, h, id) {
    let cur = this.cursor.get(group);
    if (!cur) cur = this.startCursor(group, id);
    const b = this.box.get(group);
    const rowLimit = Math.max(b ? b.w - 2 * PAD : this.extent.w, 6 * LEAF_W);
    const left = b ? b.x + PAD : this.extent.x;
    if (cur.x > left && cur.x - left + w > rowLimit) {
      cur.y += cur.rowH + GAP; cur.x = left; cur.rowH = 0;
    }
    const at = { x: cur.x, y: cur.y };
    cur.x += w + GAP;
    cur.rowH = Math.max(cur.rowH, h);
    this.cursor.set(group, cur);
    if (group === '') {
      this.grow(this.extent, at.x, at.y, w, h, 0, 0);
    } else {
      let g = /** @type {string | null} */ (group);
      let area = { x: at.x, y: at.y, w, h };
      while (g !== null) {
        const gb = this.box.get(g);
        if (!gb) break;
        this.grow(gb, area.x, area.y, area.w, area.h, PAD, PAD);
        area = gb;
        g = this.model.ownerOf(g);
      }
      this.grow(this.extent, area.x, area.y, area.w, area.h, 0, 0);
    }
    return at;
  }

  /**
   * The first append position of a group that had none: a former leaf becoming a group keeps
   * its cell as the top-left of its new box.
   * @param {string} group @param {string} child
   * @returns {Cursor}
   */
  startCursor(group, child) {
    if (group === '') {
      return { x: this.extent.x, y: this.extent.y + this.extent.h + (this.extent.h ? GAP : 0), rowH: 0 };
    }
    let b = this.box.get(group);
    if (!b) {
      const p = this.pos.get(group) ?? this.placeOrphanGroup(group, child);
      b = { x: p.x - LEAF_W / 2, y: p.y - LEAF_H / 2, w: LEAF_W, h: LEAF_H };
      this.box.set(group, b);
      this.pos.delete(group);
    }
    return { x: b.x + PAD, y: b.y + PAD + LABEL_H, rowH: 0 };
  }

  /** A group that was never placed: put it in its own owner's row first. @param {string} group @param {string} child */
  placeOrphanGroup(group, child) {
    const owner = this.model.ownerOf(group);
    const at = this.appendAt(owner ?? '', LEAF_W, LEAF_H, group || child);
    const p = { x: at.x + LEAF_W / 2, y: at.y + LEAF_H / 2 };
    this.pos.set(group, p);
    return p;
  }

  /**
   * Grows a box to contain an area plus margins.
   * @param {Box} b @param {number} x @param {number} y @param {number} w @param {number} h
   * @param {number} padX @param {number} padBottom
   */
  grow(b, x, y, w, h, padX, padBottom) {
    const right = Math.max(b.x + b.w, x + w + padX);
    const bottom = Math.max(b.y + b.h, y + h + padBottom);
    if (b.w === 0 && b.h === 0 && b === this.extent) { b.x = x; b.y = y; }
    b.x = Math.min(b.x, x); b.y = Math.min(b.y, y);
    b.w = right - b.x; b.h = bottom - b.y;
  }
}
