//! [`HeapTrim`]: returns freed heap memory to the kernel after bursts of allocation.
//!
//! Agents syncing (each a megabyte of JSON parsed, applied and dropped), agents leaving
//! (their subgraph deleted), past views of the graph built for `At` queries: each leaves
//! memory that glibc keeps in its arenas though nothing uses it, and that shows as resident
//! memory (`bench/RESULTS.md`, fan-in: a third of the analyzer's RSS after 200 syncs). After
//! such a burst, 10 s after start and once a minute for everything else, a task calls
//! [`skydive_probes::heap::trim`] on a blocking thread. Requests during the quiet period
//! coalesce into one trim.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Wait after a burst before trimming: the burst is usually many requests (200 agents
/// syncing at once), and trimming between them would only be undone.
const QUIET: Duration = Duration::from_secs(2);

/// Trim anyway this often (history queries, flows, subscribers' buffers).
const EVERY: Duration = Duration::from_secs(60);

/// The first trim, after start-up: itself a burst (the graph restored from history, an
/// agent's first dump of every namespace).
const AFTER_START: Duration = Duration::from_secs(10);

/// A handle to ask for a trim; cheap to clone.
#[derive(Clone, Debug, Default)]
pub(crate) struct HeapTrim {
    requested: Arc<Notify>,
}

impl HeapTrim {
    /// Starts the trimming task (tracked by `tasks`, ends on `stop`).
    pub fn spawn(tasks: &TaskTracker, stop: CancellationToken) -> Self {
        let trim = HeapTrim::default();
        let requested = trim.requested.clone();
        tasks.spawn(async move {
            let mut idle = AFTER_START;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = requested.notified() => {
                        tokio::select! {
                            _ = stop.cancelled() => return,
                            _ = tokio::time::sleep(QUIET) => {}
                        }
                    }
                    _ = tokio::time::sleep(idle) => {}
                }
                idle = EVERY;
                if let Ok(released) = tokio::task::spawn_blocking(skydive_probes::heap::trim).await
                {
                    tracing::debug!(released, "heap trimmed");
                }
            }
        });
        trim
    }

    /// Asks for a trim after the current burst.
    pub fn after_burst(&self) {
        self.requested.notify_one();
    }
}
