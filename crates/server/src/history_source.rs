//! The bridge from the history store to queries: `At(…)` steps and `SyncRequest{Time}` read
//! the past through [`StoreHistory`], a `skydive_gremlin::HistorySource` over
//! `skydive_store::HistoryStore::view`.
//!
//! A past view is a decoded copy of the graph: freeing one of a million nodes takes seconds
//! (`bench/RESULTS.md`, history). A query's answer does not wait for it: views handed to
//! queries are freed on a thread of their own (`view-free`), which then gives the memory
//! back to the kernel ([`skydive_probes::heap::trim`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use skydive_graph::{Edge, GraphView, HistoryView, IdRef, IndexValue, Node, TimeSlice};
use skydive_gremlin::HistorySource;
use skydive_store::HistoryStore;

use crate::api::ApiError;

/// Views waiting to be freed; beyond this, the query's own thread frees its view (so a burst
/// of `At` queries cannot pile up copies of the graph).
const FREE_QUEUE: usize = 2;

/// Past graphs, read from the history store (a cheap handle: clones share the store).
#[derive(Clone, Debug)]
pub struct StoreHistory {
    store: HistoryStore,
    free: SyncSender<HistoryView>,
    /// Views freed by the `view-free` thread.
    freed: Arc<AtomicU64>,
}

impl StoreHistory {
    /// Also starts the `view-free` thread, which ends with the last clone of this handle.
    pub fn new(store: HistoryStore) -> Self {
        let (free, queue) = sync_channel(FREE_QUEUE);
        let freed = Arc::new(AtomicU64::new(0));
        let count = freed.clone();
        let spawned = std::thread::Builder::new()
            .name("view-free".into())
            .spawn(move || free_views(queue, &count));
        if let Err(e) = spawned {
            // Views are then freed where they are dropped (the channel is disconnected).
            tracing::warn!("cannot start the view-free thread: {e}");
        }
        StoreHistory { store, free, freed }
    }

    /// Views freed off the queries' threads so far.
    pub fn views_freed(&self) -> u64 {
        self.freed.load(Ordering::Relaxed)
    }

    pub fn store(&self) -> &HistoryStore {
        &self.store
    }

    /// The graph during `slice`; a time outside the retained history is the client's
    /// mistake (400), a failing store is not (503).
    pub fn past(&self, slice: TimeSlice) -> Result<HistoryView, ApiError> {
        self.store.view(slice).map_err(|e| {
            if e.is_out_of_range() {
                ApiError::bad_request(e.to_string())
            } else {
                ApiError::unavailable(format!("cannot read topology history: {e}"))
            }
        })
    }
}

impl HistorySource for StoreHistory {
    fn view(&self, slice: TimeSlice) -> Result<Arc<dyn GraphView>, String> {
        match self.store.view(slice) {
            Ok(v) => Ok(Arc::new(FreedAside {
                view: Some(v),
                free: self.free.clone(),
            })),
            Err(e) => Err(e.to_string()),
        }
    }
}

fn free_views(queue: Receiver<HistoryView>, freed: &AtomicU64) {
    for view in queue {
        drop(view);
        freed.fetch_add(1, Ordering::Relaxed);
        skydive_probes::heap::trim();
    }
}

/// A past view that, when dropped, goes to the `view-free` thread (or is freed here when
/// that thread is busy or gone).
struct FreedAside {
    /// Always `Some` until dropped.
    view: Option<HistoryView>,
    free: SyncSender<HistoryView>,
}

impl FreedAside {
    fn get(&self) -> &HistoryView {
        self.view.as_ref().expect("a view until dropped")
    }
}

impl Drop for FreedAside {
    fn drop(&mut self) {
        if let Some(view) = self.view.take() {
            match self.free.try_send(view) {
                Ok(()) => {}
                Err(TrySendError::Full(view) | TrySendError::Disconnected(view)) => drop(view),
            }
        }
    }
}

impl GraphView for FreedAside {
    fn node(&self, id: IdRef<'_>) -> Option<&Arc<Node>> {
        GraphView::node(self.get(), id)
    }
    fn edge(&self, id: IdRef<'_>) -> Option<&Arc<Edge>> {
        GraphView::edge(self.get(), id)
    }
    fn nodes(&self) -> Box<dyn Iterator<Item = &Arc<Node>> + '_> {
        self.get().nodes()
    }
    fn edges(&self) -> Box<dyn Iterator<Item = &Arc<Edge>> + '_> {
        self.get().edges()
    }
    fn node_edges(&self, id: IdRef<'_>) -> Box<dyn Iterator<Item = &Arc<Edge>> + '_> {
        GraphView::node_edges(self.get(), id)
    }
    fn lookup(
        &self,
        key: &str,
        value: &IndexValue,
    ) -> Option<Box<dyn Iterator<Item = &Arc<Node>> + '_>> {
        self.get().lookup(key, value)
    }
    fn lookup_count(&self, key: &str, value: &IndexValue) -> Option<usize> {
        self.get().lookup_count(key, value)
    }
    fn node_count(&self) -> usize {
        self.get().node_count()
    }
    fn edge_count(&self) -> usize {
        self.get().edge_count()
    }
    fn time_slice(&self) -> Option<TimeSlice> {
        self.get().time_slice()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use skydive_graph::{Graph, GraphOptions, Id, Metadata, SharedStr, TimeMs};
    use skydive_store::HistoryConfig;

    /// A query's past view answers as the store's own view does, and once dropped it is
    /// freed by the `view-free` thread.
    #[test]
    fn past_views_answer_like_the_store_and_are_freed_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = HistoryStore::open(HistoryConfig {
            retention_check_secs: 0,
            ..HistoryConfig::in_dir(dir.path())
        })
        .unwrap();
        let mut graph = Graph::new(GraphOptions::new("h1", "analyzer.h1"));
        graph.set_changelog(store.changelog());
        let t = TimeMs::now().saturating_sub_ms(60_000);
        for i in 0..3 {
            let mut n = Node::new(
                Id::from(format!("n{i}")),
                Metadata::from_pairs([("Name", format!("n{i}")), ("Type", "veth".into())]),
                SharedStr::from("h1"),
                SharedStr::from("agent.h1"),
            );
            (n.created_at, n.updated_at) = (t, t);
            graph.add_node(n).unwrap();
        }
        store.flush().unwrap();

        let history = StoreHistory::new(store.clone());
        let at = TimeSlice::at(TimeMs::now());
        for round in 1..=3 {
            let view = HistorySource::view(&history, at).unwrap();
            let plain = store.view(at).unwrap();
            assert_eq!(view.node_count(), 3);
            assert_eq!(view.node_count(), GraphView::node_count(&plain));
            assert!(view.node(IdRef::from("n1")).is_some());
            let veth = IndexValue::from_json(&"veth".into()).unwrap();
            assert_eq!(view.lookup_count("Type", &veth), Some(3));
            drop(view);
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
            while history.views_freed() < round {
                assert!(
                    std::time::Instant::now() < deadline,
                    "view {round} never freed"
                );
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
        }
    }
}
