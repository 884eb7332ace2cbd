//! Moving along edges: one hop (`Out`, `InE`, `BothV`…), several levels (`Descendants`,
//! `Ascendants`, `Neighbors`) and shortest paths. Every walk goes through
//! [`GraphView::node_edges`] — never a scan — and pays into a [`Budget`], so a query that
//! would explode (`Both().Both().Both()…` on a dense graph) stops with an error instead of
//! exhausting memory.
//!
//! Orientation is Skydive's: an edge runs from its parent to its child; `Out` goes child-ward.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;

use skydive_graph::{Edge, GraphView, Id, Node};

use crate::ast::{Filter, Walk};
use crate::error::EvalErrorKind;

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
    fn across<'e>(self, e: &'e Edge, from: &str) -> Option<&'e Id> {
        match self {
            Dir::Out => (*e.parent == *from).then_some(&e.child),
            Dir::In => (*e.child == *from).then_some(&e.parent),
            // Skydive's rule, which also settles self-loops: from a child, go to the parent.
            Dir::Both if *e.child == *from => Some(&e.parent),
            Dir::Both => (*e.parent == *from).then_some(&e.child),
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
        for e in g.node_edges(&n.id) {
            budget.visit()?;
            let Some(other) = dir.across(e, &n.id).and_then(|id| g.node(id)) else {
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
        for e in g.node_edges(&n.id) {
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
            if let Some(n) = g.node(id).filter(|n| filter.matches(&***n)) {
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
    let mut seen: HashSet<Id> = HashSet::new();
    let mut out: Vec<Arc<Node>> = start
        .iter()
        .filter(|n| seen.insert(n.id.clone()))
        .cloned()
        .collect();
    let mut level_start = 0;
    let mut depth = 0;
    while level_start < out.len() && (walk.depth == 0 || depth < walk.depth) {
        let level_end = out.len();
        for i in level_start..level_end {
            let from = out[i].id.clone();
            for e in g.node_edges(&from) {
                budget.visit()?;
                if !walk.edges.matches(&**e) {
                    continue;
                }
                let Some(id) = dir.across(e, &from) else {
                    continue;
                };
                if !seen.contains(id)
                    && let Some(n) = g.node(id)
                {
                    seen.insert(id.clone());
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
    let mut done: HashSet<Id> = HashSet::new();
    let mut paths = Vec::new();
    for n in start {
        if done.insert(n.id.clone())
            && let Some(path) = shortest_path(g, n, target, edges, budget)?
        {
            paths.push(path);
        }
    }
    Ok(paths)
}

/// Breadth-first from `start` until a node matches `target`.
fn shortest_path(
    g: &dyn GraphView,
    start: &Arc<Node>,
    target: &Filter,
    edges: Option<&Filter>,
    budget: &mut Budget,
) -> Result<Option<Vec<Arc<Node>>>, EvalErrorKind> {
    if target.matches(&**start) {
        return Ok(Some(vec![start.clone()]));
    }
    // Who we came from, per node reached; the start has none.
    let mut previous: HashMap<Id, Arc<Node>> = HashMap::new();
    let mut queue = VecDeque::from([start.clone()]);
    while let Some(n) = queue.pop_front() {
        for e in g.node_edges(&n.id) {
            budget.visit()?;
            if edges.is_some_and(|f| !f.matches(&**e)) {
                continue;
            }
            let Some(next) = Dir::Both.across(e, &n.id).and_then(|id| g.node(id)) else {
                continue;
            };
            if next.id == start.id || previous.contains_key(&next.id) {
                continue;
            }
            previous.insert(next.id.clone(), n.clone());
            if target.matches(&**next) {
                return Ok(Some(unwind(next.clone(), &previous)));
            }
            queue.push_back(next.clone());
        }
    }
    Ok(None)
}

/// The path from the start to `end`, following `previous` back.
fn unwind(end: Arc<Node>, previous: &HashMap<Id, Arc<Node>>) -> Vec<Arc<Node>> {
    let mut path = vec![end];
    while let Some(p) = path.last().and_then(|n| previous.get(&n.id)) {
        path.push(p.clone());
    }
    path.reverse();
    path
}
