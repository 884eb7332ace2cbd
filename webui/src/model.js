// @ts-check
/**
 * The browser's copy of the graph, as the analyzer sends it on /ws/subscriber: nodes and
 * edges by ID, the ownership tree (`RelationType: ownership` edges: host ⊃ netns ⊃ interface,
 * host ⊃ ovsbridge ⊃ ovsport), and the changes since the view last looked.
 *
 * It holds every element, even when the view draws only a few hundred (see topology.js):
 * plain Maps, so 100k nodes cost a few tens of MB and a lookup stays O(1).
 * Must not: touch the DOM or cytoscape.
 */

/**
 * @typedef {{ID: string, Metadata: Record<string, any>, Host?: string, Origin?: string,
 *   CreatedAt?: number, UpdatedAt?: number, DeletedAt?: number, Revision?: number}} GNode
 * @typedef {GNode & {Parent: string, Child: string}} GEdge
 * @typedef {{structural: boolean, added: Set<string>, removed: Set<string>,
 *   updated: Set<string>, moved: Set<string>, reset: boolean}} Changes
 */

/** Ownership chains longer than this are treated as cycles (a malformed graph). */
const MAX_DEPTH = 64;

/** @returns {Changes} */
function noChanges() {
  return {
    structural: false, added: new Set(), removed: new Set(), updated: new Set(),
    moved: new Set(), reset: false,
  };
}

/** @param {GEdge} e */
export function isOwnership(e) {
  return e.Metadata?.RelationType === 'ownership';
}

export class GraphModel {
  constructor() {
    /** @type {Map<string, GNode>} */
    this.nodes = new Map();
    /** @type {Map<string, GEdge>} */
    this.edges = new Map();
    /** child ID → owner ID @type {Map<string, string>} */
    this.owner = new Map();
    /** owner ID → child IDs @type {Map<string, Set<string>>} */
    this.children = new Map();
    /** node ID → IDs of its edges @type {Map<string, Set<string>>} */
    this.nodeEdges = new Map();
    /** @type {Changes} */
    this.changes = noChanges();
    /** @type {Map<string, number> | null} descendant counts, cached until the tree changes */
    this.countCache = null;
  }

  /** Replaces everything with a SyncReply's graph. @param {{Nodes?: GNode[], Edges?: GEdge[]} | null} g */
  load(g) {
    this.nodes.clear(); this.edges.clear(); this.owner.clear();
    this.children.clear(); this.nodeEdges.clear();
    for (const n of g?.Nodes ?? []) this.nodes.set(n.ID, n);
    for (const e of g?.Edges ?? []) this.linkEdge(e);
    this.countCache = null;
    this.changes = noChanges();
    this.changes.reset = true;
    this.changes.structural = true;
  }

  /** Takes the changes accumulated since the last call. @returns {Changes} */
  takeChanges() {
    const c = this.changes;
    this.changes = noChanges();
    return c;
  }

  /**
   * Applies one /ws/subscriber event.
   * @param {string} type @param {any} obj
   * @returns {boolean} whether the event was understood
   */
  apply(type, obj) {
    if (!obj || typeof obj.ID !== 'string') return false;
    switch (type) {
      case 'NodeAdded':
      case 'NodeUpdated': this.putNode(obj); return true;
      case 'NodeDeleted': this.deleteNode(obj.ID); return true;
      case 'EdgeAdded':
      case 'EdgeUpdated': this.putEdge(obj); return true;
      case 'EdgeDeleted': this.deleteEdge(obj.ID); return true;
      default: return false;
    }
  }

  /** @param {GNode} n */
  putNode(n) {
    const known = this.nodes.has(n.ID);
    this.nodes.set(n.ID, n);
    if (known) {
      if (!this.changes.added.has(n.ID)) this.changes.updated.add(n.ID);
    } else {
      this.changes.removed.delete(n.ID);
      this.changes.added.add(n.ID);
      this.changes.structural = true;
    }
  }

  /** @param {string} id */
  deleteNode(id) {
    if (!this.nodes.has(id)) return;
    for (const eid of [...(this.nodeEdges.get(id) ?? [])]) this.deleteEdge(eid);
    this.nodes.delete(id);
    this.nodeEdges.delete(id);
    // Children of a deleted owner become roots until the graph says otherwise.
    for (const c of this.children.get(id) ?? []) {
      this.owner.delete(c);
      this.changes.moved.add(c);
    }
    this.children.delete(id);
    this.changes.added.delete(id);
    this.changes.updated.delete(id);
    this.changes.removed.add(id);
    this.changes.structural = true;
    this.countCache = null;
  }

  /** @param {GEdge} e */
  putEdge(e) {
    const old = this.edges.get(e.ID);
    if (old) {
      if (old.Parent === e.Parent && old.Child === e.Child && isOwnership(old) === isOwnership(e)) {
        this.edges.set(e.ID, e);
        return;
      }
      this.deleteEdge(e.ID);
    }
    this.linkEdge(e);
    this.changes.structural = true;
  }

  /** @param {GEdge} e */
  linkEdge(e) {
    this.edges.set(e.ID, e);
    for (const end of [e.Parent, e.Child]) {
      let s = this.nodeEdges.get(end);
      if (!s) this.nodeEdges.set(end, (s = new Set()));
      s.add(e.ID);
    }
    if (isOwnership(e) && e.Parent !== e.Child) this.setOwner(e.Child, e.Parent);
  }

  /** @param {string} id */
  deleteEdge(id) {
    const e = this.edges.get(id);
    if (!e) return;
    this.edges.delete(id);
    this.nodeEdges.get(e.Parent)?.delete(id);
    this.nodeEdges.get(e.Child)?.delete(id);
    if (isOwnership(e) && this.owner.get(e.Child) === e.Parent) {
      // Another ownership edge of the child (rare) takes over.
      let next = null;
      for (const eid of this.nodeEdges.get(e.Child) ?? []) {
        const o = this.edges.get(eid);
        if (o && isOwnership(o) && o.Child === e.Child && o.Parent !== e.Child) next = o.Parent;
      }
      this.setOwner(e.Child, next);
    }
    this.changes.structural = true;
  }

  /** @param {string} child @param {string | null} parent */
  setOwner(child, parent) {
    const old = this.owner.get(child);
    if (old === parent) return;
    if (old !== undefined) this.children.get(old)?.delete(child);
    if (old !== undefined && this.children.get(old)?.size === 0) this.children.delete(old);
    if (parent === null) {
      this.owner.delete(child);
    } else {
      this.owner.set(child, parent);
      let s = this.children.get(parent);
      if (!s) this.children.set(parent, (s = new Set()));
      s.add(child);
    }
    this.countCache = null;
    this.changes.moved.add(child);
    this.changes.structural = true;
  }

  /** The node's owner, if it is in the graph. @param {string} id */
  ownerOf(id) {
    const o = this.owner.get(id);
    return o !== undefined && this.nodes.has(o) ? o : null;
  }

  /** Owners from the closest up, cycle-safe. @param {string} id @returns {string[]} */
  ancestors(id) {
    const out = [];
    let cur = this.ownerOf(id);
    while (cur !== null && out.length < MAX_DEPTH && cur !== id) {
      out.push(cur);
      cur = this.ownerOf(cur);
    }
    return out;
  }

  /** Nodes without an owner in the graph. @returns {string[]} */
  roots() {
    const out = [];
    for (const id of this.nodes.keys()) {
      if (this.ownerOf(id) === null) out.push(id);
    }
    return out;
  }

  /** @param {string} id */
  isGroup(id) {
    const c = this.children.get(id);
    return c !== undefined && c.size > 0;
  }

  /** Children present in the graph. @param {string} id @returns {string[]} */
  childrenOf(id) {
    const c = this.children.get(id);
    if (!c) return [];
    const out = [];
    for (const k of c) if (this.nodes.has(k)) out.push(k);
    return out;
  }

  /** How many nodes a group holds, at any depth. @param {string} id */
  descendantCount(id) {
    if (!this.countCache) this.countCache = this.computeCounts();
    return this.countCache.get(id) ?? 0;
  }

  /** @returns {Map<string, number>} */
  computeCounts() {
    const counts = new Map();
    // Iterative post-order over the ownership forest (deep graphs must not blow the stack).
    for (const root of this.roots()) {
      /** @type {{id: string, kids: string[], next: number}[]} */
      const stack = [{ id: root, kids: this.childrenOf(root), next: 0 }];
      const seen = new Set([root]);
      while (stack.length) {
        const top = stack[stack.length - 1];
        if (top.next < top.kids.length) {
          const k = top.kids[top.next++];
          if (!seen.has(k) && stack.length < MAX_DEPTH) { seen.add(k); stack.push({ id: k, kids: this.childrenOf(k), next: 0 }); }
        } else {
          stack.pop();
          let n = 0;
          for (const k of top.kids) n += 1 + (counts.get(k) ?? 0);
          counts.set(top.id, n);
        }
      }
    }
    return counts;
  }

  /** Non-ownership edges (what the view draws). @returns {Iterable<GEdge>} */
  *linkEdges() {
    for (const e of this.edges.values()) {
      if (!isOwnership(e)) yield e;
    }
  }
}

/** A node's display name. @param {GNode | undefined} n */
export function nodeName(n) {
  const name = n?.Metadata?.Name;
  return typeof name === 'string' && name !== '' ? name : (n?.ID ?? '?');
}

/** @param {GNode | undefined} n */
export function nodeType(n) {
  const t = n?.Metadata?.Type;
  return typeof t === 'string' ? t : '';
}
