//! The bridge from the history store to queries: `At(…)` steps and `SyncRequest{Time}` read
//! the past through [`StoreHistory`], a `skydive_gremlin::HistorySource` over
//! `skydive_store::HistoryStore::view`.

use std::sync::Arc;

use skydive_graph::{GraphView, HistoryView, TimeSlice};
use skydive_gremlin::HistorySource;
use skydive_store::HistoryStore;

use crate::api::ApiError;

/// Past graphs, read from the history store (a cheap handle: clones share the store).
#[derive(Clone, Debug)]
pub struct StoreHistory {
    store: HistoryStore,
}

impl StoreHistory {
    pub fn new(store: HistoryStore) -> Self {
        StoreHistory { store }
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
            Ok(v) => Ok(Arc::new(v)),
            Err(e) => Err(e.to_string()),
        }
    }
}
