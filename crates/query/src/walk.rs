//! Moving along edges: one hop (`Out`, `InE`, `BothV`…), several levels (`Descendants`,
//! `Ascendants`, `Neighbors`) and shortest paths. Every walk goes through
//! [`GraphView::node_edges`] — never a scan — and pays into a [`Budget`], so a query that
//! would explode (`Both().Both().Both()…` on a dense graph) stops with an error instead of
//! exhausting memory.
//!
//! Orientation is Skydive's: an edge runs from its parent to its child; `Out` goes child-ward.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::Arc;

use skydive_graph::{Edge, GraphView, Id, Node};

use crate::ast::{Filter, Walk};
use crate::error::EvalErrorKind;
use crate::lookup;

/// Largest intermediate result, in items.
pub const MAX_ITEMS: usize = 5_000_000;
/// Most edges one query may follow, all steps together.
pub const MAX_VISITS: u64 = 200_000_000;

/// Work left for the query.
#[derive(Debug)]
pub(crate) struct Budget {
    visits: u64,
}

impl Budget {
    pub(crate) fn new() -> Self {
        Budget { visits: 0 }
    }

    fn visit(&mut self) -> Result<(), EvalErrorKind> {
        self.visits += 1;
        if self.visits > MAX_VISITS {
            return Err(EvalErrorKind::TooExpensive { limit: MAX_VISITS });
        }
        Ok(())
    }
}

/// Fails once a result grows past [`MAX_ITEMS`].
pub(crate) fn check_size(len: usize) -> Result<(), EvalErrorKind> {
    if len > MAX_ITEMS {
        return Err(EvalErrorKind::TooLarge { limit: MAX_ITEMS });
    }
    Ok(())
}

/// A node's identity within one view: the address of its shared allocation. A view hands out
/// one `Arc` per node, so during a walk this is as good as the ID and much cheaper to hash
/// than an [`Id`] (walks over a whole graph spend most of their time in these sets).
type Addr = usize;

fn addr(n: &Arc<Node>) -> Addr {
    Arc::as_ptr(n) as Addr
}

/// Hashes addresses: a multiply (Fibonacci hashing) folded so the well-mixed high bits reach
/// the low bits the table uses. Addresses are ours, not an attacker's: no need for SipHash.
#[derive(Default)]
struct AddrHasher(u64);

impl Hasher for AddrHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(*b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
    fn finish(&self) -> u64 {
        self.0 ^ (self.0 >> 32)
    }
}

type AddrBuild = BuildHasherDefault<AddrHasher>;
type AddrSet = HashSet<Addr, AddrBuild>;

/// Marks `n` as seen, under its own address and under the address of this view's revision
/// of it (they differ when `n` came from another view, e.g. through `Select`).
fn seed(g: &dyn GraphView, seen: &mut AddrSet, n: &Arc<Node>) {
    seen.insert(addr(n));
    if let Some(own) = g.node(n.id.as_id_ref()) {
        seen.insert(addr(own));
    }
}

/// Which way to follow edges from a node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    /// To children: edges whose parent is the node.
    Out,
    /// To parents: edges whose child is the node.
    In,
    Both,
}

impl Dir {
    /// The node at the other end of `e`, when `e` leaves `from` in this direction.
    fn across<'e>(self, e: &'e Edge, from: &Id) -> Option<&'e Id> {
        match self {
            Dir::Out => (e.parent == *from).then_some(&e.child),
            Dir::In => (e.child == *from).then_some(&e.parent),
            // Skydive's rule, which also settles self-loops: from a child, go to the parent.
            Dir::Both if e.child == *from => Some(&e.parent),
            Dir::Both => (e.parent == *from).then_some(&e.child),
        }
    }
}

/// `Out`, `In`, `Both`: the nodes one hop away that match `filter`, duplicates kept.
pub(crate) fn adjacent_nodes(
    g: &dyn GraphView,
    nodes: &[Arc<Node>],
    dir: Dir,
    filter: &Filter,
    budget: &mut Budget,
) -> Result<Vec<Arc<Node>>, EvalErrorKind> {
    let mut out = Vec::new();
    for n in nodes {
        for e in g.node_edges(n.id.as_id_ref()) {
            budget.visit()?;
            let Some(other) = dir.across(e, &n.id).and_then(|id| g.node(id.as_id_ref())) else {
                continue;
            };
            if filter.matches(&**other) {
                out.push(other.clone());
                check_size(out.len())?;
            }
        }
    }
    Ok(out)
}

/// `OutE`, `InE`, `BothE`: the edges leaving, entering or touching each node.
pub(crate) fn incident_edges(
    g: &dyn GraphView,
    nodes: &[Arc<Node>],
    dir: Dir,
    filter: &Filter,
    budget: &mut Budget,
) -> Result<Vec<Arc<Edge>>, EvalErrorKind> {
    let mut out = Vec::new();
    for n in nodes {
        for e in g.node_edges(n.id.as_id_ref()) {
            budget.visit()?;
            if dir.across(e, &n.id).is_some() && filter.matches(&**e) {
                out.push(e.clone());
                check_size(out.len())?;
            }
        }
    }
    Ok(out)
}

/// `OutV`, `InV`, `BothV`: the child end, parent end, or both ends of each edge.
pub(crate) fn edge_ends(
    g: &dyn GraphView,
    edges: &[Arc<Edge>],
    dir: Dir,
    filter: &Filter,
) -> Result<Vec<Arc<Node>>, EvalErrorKind> {
    let mut out = Vec::new();
    for e in edges {
        let ends: &[&Id] = match dir {
            Dir::Out => &[&e.child],
            Dir::In => &[&e.parent],
            Dir::Both => &[&e.parent, &e.child],
        };
        for id in ends {
            if let Some(n) = g.node(id.as_id_ref()).filter(|n| filter.matches(&***n)) {
                out.push(n.clone());
            }
        }
        check_size(out.len())?;
    }
    Ok(out)
}

/// `Descendants`, `Ascendants`, `Neighbors`: the start nodes, then level by level the nodes
/// reached over edges matching `walk.edges`, each once.
pub(crate) fn multi_level(
    g: &dyn GraphView,
    start: &[Arc<Node>],
    dir: Dir,
    walk: &Walk,
    budget: &mut Budget,
) -> Result<Vec<Arc<Node>>, EvalErrorKind> {
    let mut seen = AddrSet::default();
    let mut ids: HashSet<&Id> = HashSet::new();
    let mut out: Vec<Arc<Node>> = Vec::new();
    for n in start {
        if ids.insert(&n.id) {
            seed(g, &mut seen, n);
            out.push(n.clone());
        }
    }
    let mut level_start = 0;
    let mut depth = 0;
    while level_start < out.len() && (walk.depth == 0 || depth < walk.depth) {
        let level_end = out.len();
        for i in level_start..level_end {
            let from = out[i].id.clone();
            for e in g.node_edges(from.as_id_ref()) {
                budget.visit()?;
                if !walk.edges.matches(&**e) {
                    continue;
                }
                let Some(n) = dir.across(e, &from).and_then(|id| g.node(id.as_id_ref())) else {
                    continue;
                };
                if seen.insert(addr(n)) {
                    out.push(n.clone());
                    check_size(out.len())?;
                }
            }
        }
        level_start = level_end;
        depth += 1;
    }
    Ok(out)
}

/// `ShortestPathTo`: from each distinct start node, the fewest-hops path to the nearest node
/// matching `target`, over edges (either direction) matching `edges`. Starts with no such
/// node give no path; a start that matches gives a one-node path.
pub(crate) fn shortest_paths(
    g: &dyn GraphView,
    start: &[Arc<Node>],
    target: &Filter,
    edges: Option<&Filter>,
    budget: &mut Budget,
) -> Result<Vec<Vec<Arc<Node>>>, EvalErrorKind> {
    let target = Target::new(g, target);
    let mut done: HashSet<&Id> = HashSet::new();
    let mut paths = Vec::new();
    for n in start {
        if done.insert(&n.id)
            && let Some(path) = shortest_path(g, n, &target, edges, budget)?
        {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// What ends a path: when an index can list the matching nodes, membership in that list (a
/// search may test most of the graph; reading each node's metadata would dominate).
enum Target<'f> {
    Listed(AddrSet),
    Tested(&'f Filter),
}

impl<'f> Target<'f> {
    fn new(g: &dyn GraphView, filter: &'f Filter) -> Self {
        match lookup::nodes(g, std::slice::from_ref(filter)) {
            Some(found) => {
                Target::Listed(found.filter(|n| filter.matches(&***n)).map(addr).collect())
            }
            None => Target::Tested(filter),
        }
    }

    fn matches(&self, n: &Arc<Node>) -> bool {
        match self {
            Target::Listed(set) => set.contains(&addr(n)),
            Target::Tested(f) => f.matches(&**n),
        }
    }
}

/// Breadth-first from `start` until a node matches `target`. The search holds references
/// into the view, not clones: touching each node's reference count would cost a cache miss
/// per node on a whole-graph search.
fn shortest_path<'a>(
    g: &'a dyn GraphView,
    start: &'a Arc<Node>,
    target: &Target<'_>,
    edges: Option<&Filter>,
    budget: &mut Budget,
) -> Result<Option<Vec<Arc<Node>>>, EvalErrorKind> {
    let start = g.node(start.id.as_id_ref()).unwrap_or(start);
    if target.matches(start) {
        return Ok(Some(vec![start.clone()]));
    }
    // Who we came from, per node reached; the start has none.
    let mut previous: HashMap<Addr, &'a Arc<Node>, AddrBuild> = HashMap::default();
    let mut queue: VecDeque<&'a Arc<Node>> = VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for e in g.node_edges(n.id.as_id_ref()) {
            budget.visit()?;
            if edges.is_some_and(|f| !f.matches(&**e)) {
                continue;
            }
            let Some(next) = Dir::Both
                .across(e, &n.id)
                .and_then(|id| g.node(id.as_id_ref()))
            else {
                continue;
            };
            if Arc::ptr_eq(next, start) || previous.contains_key(&addr(next)) {
                continue;
            }
            previous.insert(addr(next), n);
            if target.matches(next) {
                return Ok(Some(unwind(next, &previous)));
            }
            queue.push_back(next);
        }
    }
    Ok(None)
}

/// The path from the start to `end`, following `previous` back.
fn unwind(end: &Arc<Node>, previous: &HashMap<Addr, &Arc<Node>, AddrBuild>) -> Vec<Arc<Node>> {
    let mut path = vec![end.clone()];
    while let Some(p) = path.last().and_then(|n| previous.get(&addr(n))) {
        path.push(Arc::clone(p));
    }
    path.reverse();
    path
}
