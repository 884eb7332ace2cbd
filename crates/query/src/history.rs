//! Where `At(…)` finds the past: a [`HistorySource`] turns a time slice into a graph view.
//!
//! The store crate builds [`skydive_graph::HistoryView`]s from recorded history; the server
//! adapts it to this trait. Without a source, `At` fails with a message saying so.

use std::sync::Arc;

use skydive_graph::{GraphView, TimeSlice};

/// Gives the graph as it was during a time slice.
pub trait HistorySource: Send + Sync {
    /// Every element revision alive in `slice` (see [`GraphView`] for how a view answers).
    /// The error is shown to the user after "`At`: the history store failed: ".
    fn view(&self, slice: TimeSlice) -> Result<Arc<dyn GraphView>, String>;
}
