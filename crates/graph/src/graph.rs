//! The graph: nodes, edges, adjacency, indexes, revisions, and the events every change emits.
//!
//! `Graph` is a plain single-writer structure; share it through [`crate::SharedGraph`].
//! Every mutation bumps the element's revision and `UpdatedAt`, publishes one [`GraphEvent`]
//! and hands the same event to the [`ChangeLog`] (history), in that order, before returning.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use smallvec::SmallVec;

use crate::events::{EventBus, GraphEvent};
use crate::index::{DEFAULT_INDEXED_KEYS, IndexValue};
use crate::node_index::NodeIndex;
use crate::slab::{Keyed, Slab};
use crate::{AsIdRef, Edge, ElementKind, Id, Metadata, MetadataOp, Node, SharedStr, TimeMs};
use crate::{FastMap, FastSet};

/// Receives every change, synchronously, in order: the hook through which history is recorded.
/// Implementations must be quick (buffer and write elsewhere): they run under the graph's lock.
pub trait ChangeLog: Send + Sync {
    fn record(&self, event: &GraphEvent);
}

/// Why a mutation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GraphError {
    #[error("node `{0}` already exists")]
    NodeExists(String),
    #[error("edge `{0}` already exists")]
    EdgeExists(String),
    #[error("node `{0}` not found")]
    NodeNotFound(String),
    #[error("edge `{0}` not found")]
    EdgeNotFound(String),
    #[error("edge `{edge}` refers to missing node `{node}`")]
    DanglingEdge { edge: String, node: String },
    #[error("element identifier must not be empty")]
    EmptyId,
}

/// What a revision-checked write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Added,
    Updated,
    /// The incoming revision was not newer than the stored one: nothing changed.
    Stale,
}

/// How a graph is set up.
#[derive(Debug, Clone)]
pub struct GraphOptions {
    /// Host id written into elements this graph creates itself.
    pub host: String,
    /// Origin written into elements this graph creates itself (`analyzer.<host>`, `agent.<host>`).
    pub origin: String,
    /// Metadata keys with a value index.
    pub indexed_keys: Vec<String>,
    /// Events a subscriber may fall behind before it loses some.
    pub event_capacity: usize,
}

impl GraphOptions {
    pub fn new(host: impl Into<String>, origin: impl Into<String>) -> Self {
        GraphOptions {
            host: host.into(),
            origin: origin.into(),
            indexed_keys: DEFAULT_INDEXED_KEYS.iter().map(|s| s.to_string()).collect(),
            event_capacity: 65_536,
        }
    }
}

#[derive(Debug)]
struct NodeSlot {
    node: Arc<Node>,
    /// Handles of the edges touching this node, both directions.
    edges: SmallVec<[u32; 4]>,
}

impl Keyed for NodeSlot {
    fn key(&self) -> &Id {
        &self.node.id
    }
}

impl Keyed for Arc<Edge> {
    fn key(&self) -> &Id {
        &self.id
    }
}

/// The graph engine. See the module docs.
///
/// Memory: nodes and edges live in slabs addressed by `u32` handles (`slab.rs`); adjacency
/// lists and indexes hold handles, not ids.
pub struct Graph {
    host: SharedStr,
    origin: SharedStr,
    nodes: Slab<NodeSlot>,
    edges: Slab<Arc<Edge>>,
    index: NodeIndex,
    /// Host and origin strings are repeated on every element: keep one copy of each.
    interned: FastSet<SharedStr>,
    /// The nodes and edges of each origin: an agent's resync looks for its stale elements,
    /// and its departure deletes its subgraph, without scanning the whole graph (a scan per
    /// agent made the syncs of 1,000 agents quadratic). ~8 bytes per element.
    per_origin: FastMap<SharedStr, OriginMembers>,
    bus: EventBus,
    changelog: Option<Arc<dyn ChangeLog>>,
}

impl std::fmt::Debug for Graph {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Graph")
            .field("host", &self.host)
            .field("nodes", &self.nodes.len())
            .field("edges", &self.edges.len())
            .finish()
    }
}

/// The whole graph as Skydive's `GET /api/topology` returns it.
#[derive(Debug, Serialize)]
pub struct GraphDump<'a> {
    #[serde(rename = "Nodes")]
    pub nodes: Vec<&'a Node>,
    #[serde(rename = "Edges")]
    pub edges: Vec<&'a Edge>,
}

impl Graph {
    pub fn new(opts: GraphOptions) -> Self {
        let mut g = Graph {
            host: SharedStr::default(),
            origin: SharedStr::default(),
            nodes: Slab::default(),
            edges: Slab::default(),
            index: NodeIndex::new(&opts.indexed_keys),
            interned: FastSet::default(),
            per_origin: FastMap::default(),
            bus: EventBus::new(opts.event_capacity),
            changelog: None,
        };
        g.host = g.intern(&opts.host);
        g.origin = g.intern(&opts.origin);
        g
    }

    /// Records every later change into `log` (history).
    pub fn set_changelog(&mut self, log: Arc<dyn ChangeLog>) {
        self.changelog = Some(log);
    }

    pub fn bus(&self) -> &EventBus {
        &self.bus
    }

    pub fn host(&self) -> &SharedStr {
        &self.host
    }

    pub fn origin(&self) -> &SharedStr {
        &self.origin
    }

    /// How many nodes and edges of `origin` the graph holds.
    pub fn origin_count(&self, origin: &str) -> OriginCount {
        self.per_origin
            .get(origin)
            .map_or_else(OriginCount::default, |m| OriginCount {
                nodes: m.nodes.len(),
                edges: m.edges.len(),
            })
    }

    /// The nodes of `origin`, in no particular order.
    pub fn nodes_of(&self, origin: &str) -> impl Iterator<Item = &Arc<Node>> + '_ {
        self.per_origin
            .get(origin)
            .into_iter()
            .flat_map(|m| m.nodes.iter())
            .map(|&h| &self.nodes.at(h).node)
    }

    /// The edges of `origin`, in no particular order.
    pub fn edges_of(&self, origin: &str) -> impl Iterator<Item = &Arc<Edge>> + '_ {
        self.per_origin
            .get(origin)
            .into_iter()
            .flat_map(|m| m.edges.iter())
            .map(|&h| self.edges.at(h))
    }

    /// Records that element `h` of `kind` now belongs (`true`) or no longer belongs to
    /// `origin`.
    fn member(&mut self, origin: &SharedStr, kind: ElementKind, h: u32, belongs: bool) {
        if belongs {
            let m = self.per_origin.entry(origin.clone()).or_default();
            m.of(kind).insert(h);
        } else if let Some(m) = self.per_origin.get_mut(&**origin) {
            m.of(kind).remove(&h);
            if m.nodes.is_empty() && m.edges.is_empty() {
                self.per_origin.remove(&**origin);
            }
        }
    }

    fn intern(&mut self, s: &str) -> SharedStr {
        if let Some(v) = self.interned.get(s) {
            return v.clone();
        }
        let v = SharedStr::from(s);
        self.interned.insert(v.clone());
        v
    }

    /// Whether anybody reads events (history or a subscriber): events are only built then.
    fn observed(&self) -> bool {
        self.changelog.is_some() || self.bus.has_subscribers()
    }

    fn emit(&self, ev: GraphEvent) {
        if let Some(log) = &self.changelog {
            log.record(&ev);
        }
        self.bus.publish(ev);
    }

    // ----- reads -----

    pub fn node(&self, id: &(impl AsIdRef + ?Sized)) -> Option<&Arc<Node>> {
        self.nodes.get(id).map(|s| &s.node)
    }

    pub fn edge(&self, id: &(impl AsIdRef + ?Sized)) -> Option<&Arc<Edge>> {
        self.edges.get(id)
    }

    pub fn nodes(&self) -> impl Iterator<Item = &Arc<Node>> + '_ {
        self.nodes.iter().map(|s| &s.node)
    }

    pub fn edges(&self) -> impl Iterator<Item = &Arc<Edge>> + '_ {
        self.edges.iter()
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn edge_count(&self) -> usize {
        self.edges.len()
    }

    /// Edges touching node `id`, in both directions.
    pub fn node_edges(&self, id: &(impl AsIdRef + ?Sized)) -> NodeEdges<'_> {
        NodeEdges {
            edges: &self.edges,
            handles: self.nodes.get(id).map_or(&[][..], |s| &s.edges[..]).iter(),
        }
    }

    /// Nodes whose indexed `key` holds `value`; `None` when `key` has no index.
    pub fn lookup(
        &self,
        key: &str,
        value: &IndexValue,
    ) -> Option<impl Iterator<Item = &Arc<Node>> + '_> {
        let nodes = &self.nodes;
        let handles = self
            .index
            .lookup(key, value, |h| &nodes.at(h).node.metadata)?;
        Some(handles.map(move |h| &nodes.at(h).node))
    }

    /// Number of nodes whose indexed `key` holds `value`; `None` when `key` has no index.
    pub fn lookup_count(&self, key: &str, value: &IndexValue) -> Option<usize> {
        let nodes = &self.nodes;
        self.index.count(key, value, |h| &nodes.at(h).node.metadata)
    }

    pub fn is_indexed(&self, key: &str) -> bool {
        self.index.is_indexed(key)
    }

    /// Nodes whose (indexed or not) `key` equals the JSON string `value`.
    pub fn nodes_by(&self, key: &str, value: &str) -> Vec<&Arc<Node>> {
        let want = IndexValue::Str(value.into());
        match self.lookup(key, &want) {
            Some(it) => it.collect(),
            None => self
                .nodes()
                .filter(|n| n.metadata.values_at(key).any(|v| v.as_str() == Some(value)))
                .collect(),
        }
    }

    /// The whole graph, for `GET /api/topology`; sorted by id so output is stable.
    pub fn dump(&self) -> GraphDump<'_> {
        let mut nodes: Vec<&Node> = self.nodes().map(|n| &**n).collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        let mut edges: Vec<&Edge> = self.edges().map(|e| &**e).collect();
        edges.sort_by(|a, b| a.id.cmp(&b.id));
        GraphDump { nodes, edges }
    }

    // ----- node writes -----

    /// A node with this graph's host and origin, created now.
    pub fn create_node(&mut self, id: Id, metadata: Metadata) -> Result<Arc<Node>, GraphError> {
        let node = Node::new(id, metadata, self.host.clone(), self.origin.clone());
        self.add_node(node)
    }

    /// Adds a node as given (its times, host, origin and revision are kept).
    pub fn add_node(&mut self, mut node: Node) -> Result<Arc<Node>, GraphError> {
        if node.id.is_empty() {
            return Err(GraphError::EmptyId);
        }
        if self.nodes.contains(&node.id) {
            return Err(GraphError::NodeExists(node.id.to_string()));
        }
        node.host = self.intern(&node.host);
        node.origin = self.intern(&node.origin);
        node.deleted_at = None;
        let node = Arc::new(node);
        self.insert_node_raw(node.clone());
        if self.observed() {
            self.emit(GraphEvent::NodeAdded(node.clone()));
        }
        Ok(node)
    }

    /// Room for this many more nodes and edges (views built in bulk).
    pub(crate) fn reserve(&mut self, nodes: usize, edges: usize) {
        self.nodes.reserve(nodes);
        self.edges.reserve(edges);
    }

    /// Adds a node, or replaces the one with its id (views built from revisions).
    pub(crate) fn insert_node_raw(&mut self, node: Arc<Node>) {
        let origin = node.origin.clone();
        if let Some(h) = self.nodes.handle(&node.id) {
            let old = std::mem::replace(&mut self.nodes.at_mut(h).node, node);
            if !SharedStr::ptr_eq(&old.origin, &origin) {
                self.member(&old.origin, ElementKind::Node, h, false);
                self.member(&origin, ElementKind::Node, h, true);
            }
            self.reindex(h, &old.metadata);
            return;
        }
        // A new node has no edges yet: an edge is only accepted once both its ends exist.
        let h = self.nodes.insert(NodeSlot {
            node,
            edges: SmallVec::new(),
        });
        self.member(&origin, ElementKind::Node, h, true);
        let nodes = &self.nodes;
        self.index.insert(h, |h| &nodes.at(h).node.metadata);
    }

    /// Re-indexes node `h` whose metadata was `old`.
    fn reindex(&mut self, h: u32, old: &Metadata) {
        let nodes = &self.nodes;
        self.index.update(h, old, |h| &nodes.at(h).node.metadata);
    }

    /// Changes a node's metadata in one transaction: one revision, one event listing the
    /// changed top-level keys. Nothing happens (no revision, no event) if nothing changed.
    pub fn update_node(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        f: impl FnOnce(&mut Metadata),
    ) -> Result<Arc<Node>, GraphError> {
        let observed = self.observed();
        let h = self
            .nodes
            .handle(id)
            .ok_or_else(|| GraphError::NodeNotFound(id.as_id_ref().to_string()))?;
        let slot = self.nodes.at_mut(h);
        let mut next = Metadata::clone(&slot.node.metadata);
        f(&mut next);
        let ops = if observed {
            slot.node.metadata.diff(&next)
        } else {
            Vec::new()
        };
        if (observed && ops.is_empty()) || (!observed && slot.node.metadata == next) {
            return Ok(slot.node.clone());
        }
        let old = std::mem::replace(&mut Arc::make_mut(&mut slot.node).metadata, next);
        let node = bump(&mut slot.node);
        self.reindex(h, &old);
        if observed {
            self.emit(GraphEvent::NodePartiallyUpdated(node.clone(), ops.into()));
        }
        Ok(node)
    }

    /// Sets one (dotted) metadata key of a node.
    pub fn set_node_metadata(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        key: &str,
        value: Value,
    ) -> Result<Arc<Node>, GraphError> {
        self.update_node(id, |m| {
            m.set(key, value);
        })
    }

    /// Replaces a node's metadata as a whole (`NodeUpdated`).
    pub fn replace_node_metadata(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        metadata: Metadata,
    ) -> Result<Arc<Node>, GraphError> {
        let h = self
            .nodes
            .handle(id)
            .ok_or_else(|| GraphError::NodeNotFound(id.as_id_ref().to_string()))?;
        let slot = self.nodes.at_mut(h);
        if slot.node.metadata == metadata {
            return Ok(slot.node.clone());
        }
        let old = std::mem::replace(&mut Arc::make_mut(&mut slot.node).metadata, metadata);
        let node = bump(&mut slot.node);
        self.reindex(h, &old);
        if self.observed() {
            self.emit(GraphEvent::NodeUpdated(node.clone()));
        }
        Ok(node)
    }

    /// Inserts or replaces a node coming from elsewhere (an agent, a peer), keeping its
    /// revision: an update applies only if its revision is newer than the stored one.
    pub fn upsert_node(&mut self, mut node: Node) -> Result<Applied, GraphError> {
        let Some(h) = self.nodes.handle(&node.id) else {
            self.add_node(node)?;
            return Ok(Applied::Added);
        };
        let slot = self.nodes.at(h);
        if node.revision <= slot.node.revision {
            return Ok(Applied::Stale);
        }
        let host = slot.node.host.clone();
        let origin = slot.node.origin.clone();
        node.host = if *host == *node.host {
            host
        } else {
            self.intern(&node.host)
        };
        node.origin = if *origin == *node.origin {
            origin.clone()
        } else {
            self.intern(&node.origin)
        };
        node.deleted_at = None;
        if !SharedStr::ptr_eq(&origin, &node.origin) {
            self.member(&origin, ElementKind::Node, h, false);
            self.member(&node.origin, ElementKind::Node, h, true);
        }
        let slot = self.nodes.at_mut(h);
        let old = std::mem::replace(&mut slot.node, Arc::new(node));
        self.reindex(h, &old.metadata);
        if self.observed() {
            self.emit(GraphEvent::NodeUpdated(self.nodes.at(h).node.clone()));
        }
        Ok(Applied::Updated)
    }

    /// Applies a partial update coming from elsewhere, if `revision` is newer.
    pub fn apply_node_ops(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        revision: i64,
        updated_at: TimeMs,
        ops: &[MetadataOp],
    ) -> Result<Applied, GraphError> {
        let h = self
            .nodes
            .handle(id)
            .ok_or_else(|| GraphError::NodeNotFound(id.as_id_ref().to_string()))?;
        let slot = self.nodes.at_mut(h);
        if revision <= slot.node.revision {
            return Ok(Applied::Stale);
        }
        // Copy the old metadata for re-indexing only when an indexed key may change.
        let old = self
            .index
            .touched_by(ops.iter().map(|o| o.key.as_str()))
            .then(|| slot.node.metadata.clone());
        let n = Arc::make_mut(&mut slot.node);
        for op in ops {
            n.metadata.apply(op);
        }
        n.revision = revision;
        n.updated_at = updated_at;
        if let Some(old) = old {
            self.reindex(h, &old);
        }
        if self.observed() {
            let node = self.nodes.at(h).node.clone();
            self.emit(GraphEvent::NodePartiallyUpdated(node, ops.into()));
        }
        Ok(Applied::Updated)
    }

    /// Deletes a node and every edge touching it (edges first, each with its own event).
    pub fn delete_node(&mut self, id: &(impl AsIdRef + ?Sized)) -> Result<Arc<Node>, GraphError> {
        self.delete_node_at(id, TimeMs::now())
    }

    /// Deletes a node as of time `at` (a remote deletion keeps the remote time).
    pub fn delete_node_at(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        at: TimeMs,
    ) -> Result<Arc<Node>, GraphError> {
        let edge_ids: SmallVec<[Id; 4]> = match self.nodes.get(id) {
            Some(slot) => slot
                .edges
                .iter()
                .map(|&e| self.edges.at(e).id.clone())
                .collect(),
            None => return Err(GraphError::NodeNotFound(id.as_id_ref().to_string())),
        };
        for e in edge_ids {
            let _ = self.delete_edge_at(&e, at);
        }
        let (h, slot) = self.nodes.remove(id).expect("checked above");
        self.member(&slot.node.origin, ElementKind::Node, h, false);
        self.index.remove(h, &slot.node.metadata);
        let mut node = slot.node;
        Arc::make_mut(&mut node).deleted_at = Some(at.max(node.updated_at));
        if self.observed() {
            self.emit(GraphEvent::NodeDeleted(node.clone()));
        }
        Ok(node)
    }

    // ----- edge writes -----

    /// An edge with this graph's host and origin, created now.
    pub fn create_edge(
        &mut self,
        id: Id,
        parent: Id,
        child: Id,
        metadata: Metadata,
    ) -> Result<Arc<Edge>, GraphError> {
        let edge = Edge::new(
            id,
            parent,
            child,
            metadata,
            self.host.clone(),
            self.origin.clone(),
        );
        self.add_edge(edge)
    }

    /// Adds an edge as given; both ends must exist.
    pub fn add_edge(&mut self, mut edge: Edge) -> Result<Arc<Edge>, GraphError> {
        if edge.id.is_empty() {
            return Err(GraphError::EmptyId);
        }
        if self.edges.contains(&edge.id) {
            return Err(GraphError::EdgeExists(edge.id.to_string()));
        }
        for end in [&edge.parent, &edge.child] {
            if !self.nodes.contains(end) {
                return Err(GraphError::DanglingEdge {
                    edge: edge.id.to_string(),
                    node: end.to_string(),
                });
            }
        }
        edge.host = self.intern(&edge.host);
        edge.origin = self.intern(&edge.origin);
        edge.deleted_at = None;
        let edge = Arc::new(edge);
        self.insert_edge_raw(edge.clone());
        if self.observed() {
            self.emit(GraphEvent::EdgeAdded(edge.clone()));
        }
        Ok(edge)
    }

    /// Adds an edge, linking it to whichever ends exist, or replaces the one with its id
    /// (views built from revisions).
    pub(crate) fn insert_edge_raw(&mut self, edge: Arc<Edge>) {
        if let Some((h, old)) = self.edges.remove(&edge.id) {
            self.member(&old.origin, ElementKind::Edge, h, false);
            for end in [&old.parent, &old.child] {
                if let Some(slot) = self.nodes.get_mut(end) {
                    slot.edges.retain(|e| *e != h);
                }
            }
        }
        let ends = [edge.parent.clone(), edge.child.clone()];
        let origin = edge.origin.clone();
        let h = self.edges.insert(edge);
        self.member(&origin, ElementKind::Edge, h, true);
        for end in ends {
            if let Some(slot) = self.nodes.get_mut(&end)
                && !slot.edges.contains(&h)
            {
                slot.edges.push(h);
            }
        }
    }

    /// Changes an edge's metadata in one transaction (see [`Graph::update_node`]).
    pub fn update_edge(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        f: impl FnOnce(&mut Metadata),
    ) -> Result<Arc<Edge>, GraphError> {
        let observed = self.observed();
        let slot = self
            .edges
            .get_mut(id)
            .ok_or_else(|| GraphError::EdgeNotFound(id.as_id_ref().to_string()))?;
        let mut next = slot.metadata.clone();
        f(&mut next);
        let ops = if observed {
            slot.metadata.diff(&next)
        } else {
            Vec::new()
        };
        if (observed && ops.is_empty()) || (!observed && slot.metadata == next) {
            return Ok(slot.clone());
        }
        Arc::make_mut(slot).metadata = next;
        let edge = bump(slot);
        if observed {
            self.emit(GraphEvent::EdgePartiallyUpdated(edge.clone(), ops.into()));
        }
        Ok(edge)
    }

    /// Replaces an edge's metadata as a whole (`EdgeUpdated`).
    pub fn replace_edge_metadata(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        metadata: Metadata,
    ) -> Result<Arc<Edge>, GraphError> {
        let slot = self
            .edges
            .get_mut(id)
            .ok_or_else(|| GraphError::EdgeNotFound(id.as_id_ref().to_string()))?;
        if slot.metadata == metadata {
            return Ok(slot.clone());
        }
        Arc::make_mut(slot).metadata = metadata;
        let edge = bump(slot);
        if self.observed() {
            self.emit(GraphEvent::EdgeUpdated(edge.clone()));
        }
        Ok(edge)
    }

    /// Inserts or replaces an edge coming from elsewhere, revision-checked.
    pub fn upsert_edge(&mut self, mut edge: Edge) -> Result<Applied, GraphError> {
        let Some(existing) = self.edges.get(&edge.id) else {
            self.add_edge(edge)?;
            return Ok(Applied::Added);
        };
        if edge.revision <= existing.revision {
            return Ok(Applied::Stale);
        }
        if existing.parent != edge.parent || existing.child != edge.child {
            // The ends moved: re-link through a delete and an add so adjacency stays right.
            self.delete_edge_at(&edge.id.clone(), edge.updated_at)?;
            self.add_edge(edge)?;
            return Ok(Applied::Updated);
        }
        edge.host = self.intern(&edge.host);
        edge.origin = self.intern(&edge.origin);
        edge.deleted_at = None;
        let edge = Arc::new(edge);
        let h = self.edges.handle(&edge.id).expect("checked above");
        let old = std::mem::replace(self.edges.at_mut(h), edge.clone());
        if !SharedStr::ptr_eq(&old.origin, &edge.origin) {
            self.member(&old.origin, ElementKind::Edge, h, false);
            self.member(&edge.origin, ElementKind::Edge, h, true);
        }
        if self.observed() {
            self.emit(GraphEvent::EdgeUpdated(edge));
        }
        Ok(Applied::Updated)
    }

    /// Applies a partial update to an edge coming from elsewhere, if `revision` is newer.
    pub fn apply_edge_ops(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        revision: i64,
        updated_at: TimeMs,
        ops: &[MetadataOp],
    ) -> Result<Applied, GraphError> {
        let slot = self
            .edges
            .get_mut(id)
            .ok_or_else(|| GraphError::EdgeNotFound(id.as_id_ref().to_string()))?;
        if revision <= slot.revision {
            return Ok(Applied::Stale);
        }
        let e = Arc::make_mut(slot);
        for op in ops {
            e.metadata.apply(op);
        }
        e.revision = revision;
        e.updated_at = updated_at;
        let edge = slot.clone();
        if self.observed() {
            self.emit(GraphEvent::EdgePartiallyUpdated(edge, ops.into()));
        }
        Ok(Applied::Updated)
    }

    pub fn delete_edge(&mut self, id: &(impl AsIdRef + ?Sized)) -> Result<Arc<Edge>, GraphError> {
        self.delete_edge_at(id, TimeMs::now())
    }

    pub fn delete_edge_at(
        &mut self,
        id: &(impl AsIdRef + ?Sized),
        at: TimeMs,
    ) -> Result<Arc<Edge>, GraphError> {
        let (h, mut edge) = self
            .edges
            .remove(id)
            .ok_or_else(|| GraphError::EdgeNotFound(id.as_id_ref().to_string()))?;
        self.member(&edge.origin, ElementKind::Edge, h, false);
        for end in [&edge.parent, &edge.child] {
            if let Some(slot) = self.nodes.get_mut(end) {
                slot.edges.retain(|e| *e != h);
            }
        }
        Arc::make_mut(&mut edge).deleted_at = Some(at.max(edge.updated_at));
        if self.observed() {
            self.emit(GraphEvent::EdgeDeleted(edge.clone()));
        }
        Ok(edge)
    }

    /// Deletes every node and edge of `origin` (an agent's subgraph): edges first, then nodes.
    /// Returns how many elements were deleted.
    pub fn delete_origin(&mut self, origin: &str) -> usize {
        let at = TimeMs::now();
        let edges: Vec<Id> = self.edges_of(origin).map(|e| e.id.clone()).collect();
        let nodes: Vec<Id> = self.nodes_of(origin).map(|n| n.id.clone()).collect();
        let mut n = 0;
        for e in &edges {
            n += usize::from(self.delete_edge_at(e, at).is_ok());
        }
        for id in &nodes {
            // Edges of other origins touching these nodes go too: they would dangle otherwise.
            let before = self.edges.len();
            n += usize::from(self.delete_node_at(id, at).is_ok());
            n += before - self.edges.len();
        }
        n
    }
}

/// How many nodes and edges of one origin a graph holds: [`Graph::origin_count`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OriginCount {
    pub nodes: usize,
    pub edges: usize,
}

/// The elements of one origin, by handle.
#[derive(Debug, Default)]
struct OriginMembers {
    nodes: FastSet<u32>,
    edges: FastSet<u32>,
}

impl OriginMembers {
    fn of(&mut self, kind: ElementKind) -> &mut FastSet<u32> {
        match kind {
            ElementKind::Node => &mut self.nodes,
            ElementKind::Edge => &mut self.edges,
        }
    }
}

/// The edges touching one node: see [`Graph::node_edges`].
pub struct NodeEdges<'a> {
    edges: &'a Slab<Arc<Edge>>,
    handles: std::slice::Iter<'a, u32>,
}

impl<'a> Iterator for NodeEdges<'a> {
    type Item = &'a Arc<Edge>;

    fn next(&mut self) -> Option<&'a Arc<Edge>> {
        self.handles.next().map(|&h| self.edges.at(h))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.handles.size_hint()
    }
}

/// Bumps revision and `UpdatedAt` of an element just modified through `make_mut`.
fn bump<T: Clone + Bumpable>(slot: &mut Arc<T>) -> Arc<T> {
    Arc::make_mut(slot).bump();
    slot.clone()
}

trait Bumpable {
    fn bump(&mut self);
}

impl Bumpable for Node {
    fn bump(&mut self) {
        self.revision += 1;
        self.updated_at = TimeMs::now().max(self.updated_at);
    }
}

impl Bumpable for Edge {
    fn bump(&mut self) {
        self.revision += 1;
        self.updated_at = TimeMs::now().max(self.updated_at);
    }
}
