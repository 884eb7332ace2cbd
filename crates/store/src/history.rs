//! [`HistoryStore`]: the public face of topology history.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Sender, bounded};
use fjall::{PersistMode, Readable};
use parking_lot::Mutex;
use skydive_graph::{ChangeLog, DEFAULT_INDEXED_KEYS, Edge, HistoryView, Node, TimeMs, TimeSlice};

use crate::db::Db;
use crate::durability;
use crate::keys::LogKey;
use crate::maintenance::{MaintMsg, Maintenance};
use crate::stats::Counters;
use crate::writer::{self, Recorder, Resume, WriterMsg};
use crate::{
    FlowStore, FlowStoreConfig, HistoryConfig, HistoryStats, RetentionReport, StoreError,
    checkpoint, replay,
};

/// Topology history in an embedded store: records every graph change and reads the graph as
/// it was at any retained time. Cheap to clone; every clone is the same store.
///
/// Dropping the last clone closes the store like [`HistoryStore::close`] does, logging
/// instead of returning errors.
#[derive(Clone)]
pub struct HistoryStore {
    inner: Arc<Inner>,
    indexed_keys: Arc<[String]>,
}

struct Inner {
    db: Db,
    cfg: HistoryConfig,
    counters: Arc<Counters>,
    maint: Arc<Maintenance>,
    tx: Sender<WriterMsg>,
    threads: Mutex<Option<Threads>>,
    /// The flow store on this database, once asked for.
    flows: Mutex<Option<FlowStore>>,
}

struct Threads {
    writer: JoinHandle<()>,
    maint: JoinHandle<()>,
    maint_tx: Sender<MaintMsg>,
}

impl std::fmt::Debug for HistoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryStore")
            .field("path", &self.inner.db.path)
            .finish()
    }
}

impl HistoryStore {
    /// Opens (or creates) the store under `cfg.data_dir` and starts its writer and
    /// maintenance threads. A store left by a crash opens too: at most the changes not yet
    /// written (see `storage.fsync_ms`) are missing.
    pub fn open(cfg: HistoryConfig) -> Result<Self, StoreError> {
        cfg.validate()?;
        let db = Db::open(&cfg.data_dir)?;
        checkpoint::remove_incomplete(&db)?;
        let resume = Resume::read(&db)?;
        let counters = Arc::new(Counters::default());
        let maint = Arc::new(Maintenance::new(db.clone(), cfg.clone(), counters.clone()));
        let (maint_tx, maint_rx) = bounded(1);
        let (tx, rx) = bounded(cfg.buffer_events);
        let spawn_err = |what, e: std::io::Error| StoreError::Thread(what, e.to_string());
        let writer = writer::spawn(
            db.clone(),
            &cfg,
            counters.clone(),
            rx,
            maint_tx.clone(),
            resume,
        )
        .map_err(|e| spawn_err("history-writer", e))?;
        let maint_thread = maint
            .spawn(maint_rx)
            .map_err(|e| spawn_err("history-maint", e))?;
        let threads = Threads {
            writer,
            maint: maint_thread,
            maint_tx,
        };
        let inner = Inner {
            db,
            cfg,
            counters,
            maint,
            tx,
            threads: Mutex::new(Some(threads)),
            flows: Mutex::new(None),
        };
        let keys: Vec<String> = DEFAULT_INDEXED_KEYS.iter().map(|k| k.to_string()).collect();
        Ok(HistoryStore {
            inner: Arc::new(inner),
            indexed_keys: keys.into(),
        })
    }

    /// The same store, building views indexed on `keys` (the live graph's
    /// `GraphOptions::indexed_keys`) instead of [`DEFAULT_INDEXED_KEYS`].
    pub fn with_indexed_keys<S: Into<String>>(mut self, keys: impl IntoIterator<Item = S>) -> Self {
        self.indexed_keys = keys.into_iter().map(Into::into).collect();
        self
    }

    /// The flow store in this store's database (keyspaces `flow_*`), configured from the
    /// `storage.*` keys ([`HistoryConfig::flow_config`]). Started on the first call; later
    /// calls return the same store.
    pub fn flow_store(&self) -> Result<FlowStore, StoreError> {
        self.flow_store_with(self.inner.cfg.flow_config())
    }

    /// [`HistoryStore::flow_store`] with its own configuration (its `data_dir` is ignored:
    /// the database is this store's). Only the first call's configuration counts.
    pub fn flow_store_with(&self, cfg: FlowStoreConfig) -> Result<FlowStore, StoreError> {
        let mut slot = self.inner.flows.lock();
        if let Some(f) = &*slot {
            return Ok(f.clone());
        }
        let store = FlowStore::start(self.inner.db.clone(), cfg)?;
        *slot = Some(store.clone());
        Ok(store)
    }

    /// The hook to give the live graph (`Graph::set_changelog`): records every change.
    /// Attach it *after* loading [`HistoryStore::last_state`], or the restored elements
    /// would be recorded again as new.
    pub fn changelog(&self) -> Arc<dyn ChangeLog> {
        Arc::new(Recorder {
            tx: self.inner.tx.clone(),
            counters: self.inner.counters.clone(),
            wait: Duration::from_millis(self.inner.cfg.buffer_full_wait_ms),
        })
    }

    /// The graph during `slice`: every revision alive at some point of `[start, last]`
    /// (Skydive's `At(t, d)`); with `start == last`, the graph as it was at that time.
    /// `node(id)` answers the element's last revision in the slice (its deleted form if it
    /// was deleted within the slice and not created again).
    pub fn view(&self, slice: TimeSlice) -> Result<HistoryView, StoreError> {
        let revs = self.read_slice(slice)?;
        let latest = revs.latest;
        Ok(HistoryView::from_revisions(
            slice,
            self.indexed_keys.to_vec(),
            (
                latest.nodes.into_values().collect(),
                latest.edges.into_values().collect(),
            ),
            (revs.older_nodes, revs.older_edges),
        ))
    }

    /// The revisions [`HistoryStore::view`] is built from, in no particular order (for
    /// callers that need no graph around them, and to measure reading apart from indexing).
    #[allow(clippy::type_complexity)]
    pub fn revisions(
        &self,
        slice: TimeSlice,
    ) -> Result<(Vec<Arc<Node>>, Vec<Arc<Edge>>), StoreError> {
        let mut revs = self.read_slice(slice)?;
        revs.older_nodes.extend(revs.latest.nodes.into_values());
        revs.older_edges.extend(revs.latest.edges.into_values());
        Ok((revs.older_nodes, revs.older_edges))
    }

    fn read_slice(&self, slice: TimeSlice) -> Result<replay::SliceRevisions, StoreError> {
        if slice.start > slice.last {
            return Err(StoreError::InvalidSlice {
                start: slice.start,
                last: slice.last,
            });
        }
        let db = &self.inner.db;
        let snap = db.db.snapshot();
        if let Some(from) = db.retained_from(&snap)?
            && slice.start < from
        {
            return Err(StoreError::HistoryDropped {
                retained_from: from,
                retention_secs: self.inner.cfg.retention_secs,
            });
        }
        replay::slice_revisions(db, &snap, slice)
    }

    /// The elements alive at the end of the history, sorted by id: what the live graph held
    /// when the store was last written. Load it into the graph at startup, before attaching
    /// [`HistoryStore::changelog`]. Changes still queued are not included (see `flush`).
    pub fn last_state(&self) -> Result<(Vec<Node>, Vec<Edge>), StoreError> {
        let db = &self.inner.db;
        let state = replay::state_at(db, &db.db.snapshot(), LogKey::end_of(TimeMs(i64::MAX)))?;
        let mut nodes: Vec<Node> = state
            .nodes
            .into_values()
            .map(Arc::unwrap_or_clone)
            .collect();
        let mut edges: Vec<Edge> = state
            .edges
            .into_values()
            .map(Arc::unwrap_or_clone)
            .collect();
        nodes.sort_by(|a, b| a.id.cmp(&b.id));
        edges.sort_by(|a, b| a.id.cmp(&b.id));
        Ok((nodes, edges))
    }

    /// Waits until every change recorded so far is written and synced to disk.
    pub fn flush(&self) -> Result<(), StoreError> {
        let (reply, answer) = bounded(1);
        self.inner
            .tx
            .send(WriterMsg::Flush(reply))
            .map_err(|_| StoreError::Closed)?;
        answer.recv().map_err(|_| StoreError::Closed)?
    }

    /// Drops history older than `storage.retention_secs` before `now` (also done every
    /// `storage.retention_check_secs` by the store itself).
    pub fn enforce_retention(&self, now: TimeMs) -> Result<RetentionReport, StoreError> {
        self.inner.maint.enforce_retention(now)
    }

    /// Writes everything recorded so far, then takes a checkpoint at the end of the log
    /// (normally taken automatically). Returns the time it stands for, or `None` if the log
    /// is empty or already ends with one.
    pub fn checkpoint_now(&self) -> Result<Option<TimeMs>, StoreError> {
        self.flush()?;
        Ok(self.inner.maint.checkpoint()?.map(|m| m.at.time))
    }

    /// Counters and sizes for `/api/status`.
    pub fn stats(&self) -> HistoryStats {
        let i = &*self.inner;
        let c = &*i.counters;
        let snap = i.db.db.snapshot();
        let first_logged = snap
            .first_key_value(&i.db.log)
            .and_then(|g| g.key().ok())
            .and_then(|k| LogKey::decode(&k))
            .map(|k| k.time);
        let retained_from = i.db.retained_from(&snap).ok().flatten();
        HistoryStats {
            events_recorded: Counters::get(&c.recorded),
            events_written: Counters::get(&c.written),
            events_dropped: Counters::get(&c.dropped),
            events_queued: i.tx.len() as u64,
            record_waits: Counters::get(&c.waits),
            write_errors: Counters::get(&c.write_errors),
            maintenance_errors: Counters::get(&c.maintenance_errors),
            checkpoints: snap.iter(&i.db.checkpoint_index).count() as u64,
            checkpoints_written: Counters::get(&c.checkpoints_written),
            log_entries_dropped: Counters::get(&c.log_entries_dropped),
            oldest_retained: retained_from.or(first_logged),
            retention_secs: i.cfg.retention_secs,
            disk_bytes: i.db.db.disk_space().unwrap_or(0),
            last_error: c.last_error(),
        }
    }

    /// Stops recording, writes what is queued and syncs it to disk. Changes recorded
    /// afterwards (through a changelog still attached to a graph) are counted as dropped.
    /// Other clones can still read; the data directory is released with the last clone.
    pub fn close(self) -> Result<(), StoreError> {
        self.inner.shutdown()
    }
}

impl Inner {
    fn shutdown(&self) -> Result<(), StoreError> {
        let Some(t) = self.threads.lock().take() else {
            return Ok(());
        };
        let mut result =
            durability::stop_writer(&self.tx, WriterMsg::Shutdown, t.writer, "history-writer");
        // Blocks while a checkpoint is under way: it finishes first.
        let _ = t.maint_tx.send(MaintMsg::Shutdown);
        if t.maint.join().is_err() {
            result = result.and(Err(StoreError::Thread("history-maint", "panicked".into())));
        }
        result.and(
            self.db
                .db
                .persist(PersistMode::SyncAll)
                .map_err(StoreError::from),
        )
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Err(e) = self.shutdown() {
            tracing::warn!("closing history store in {}: {e}", self.db.path.display());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::LogKey;
    use skydive_graph::{Graph, GraphOptions, Metadata};

    /// A store in a temporary directory (no periodic retention) and a graph recording into it.
    fn recording_store() -> (tempfile::TempDir, HistoryStore, Graph) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = HistoryConfig {
            retention_check_secs: 0,
            ..HistoryConfig::in_dir(dir.path())
        };
        let store = HistoryStore::open(cfg).unwrap();
        let mut g = Graph::new(GraphOptions::new("h", "o"));
        g.set_changelog(store.changelog());
        (dir, store, g)
    }

    fn store_with_one_node() -> (tempfile::TempDir, HistoryStore) {
        let (dir, store, mut g) = recording_store();
        g.create_node("n".into(), Metadata::new()).unwrap();
        store.flush().unwrap();
        (dir, store)
    }

    fn expect_corrupt(r: Result<impl std::fmt::Debug, StoreError>, keyspace: &str) -> String {
        match r {
            Err(e @ StoreError::Corrupt { .. }) => {
                let msg = e.to_string();
                assert!(msg.contains(keyspace), "{msg}");
                msg
            }
            other => panic!("expected a corrupt record error, got {other:?}"),
        }
    }

    #[test]
    fn corrupt_log_record_is_an_error_naming_its_key() {
        let (_dir, store) = store_with_one_node();
        let key = LogKey {
            time: TimeMs::now(),
            seq: u64::MAX - 1,
        };
        store
            .inner
            .db
            .log
            .insert(key.encode(), [1u8, 0x11, 0xff])
            .unwrap();
        let msg = expect_corrupt(store.view(TimeSlice::at(TimeMs(i64::MAX))), "topology_log");
        assert!(msg.contains(&crate::error::hex(&key.encode())), "{msg}");
        expect_corrupt(store.last_state(), "topology_log");
        // A checkpoint copies records without decoding them, but checks them all the same.
        let msg = expect_corrupt(store.checkpoint_now(), "topology_log");
        assert!(msg.contains(&crate::error::hex(&key.encode())), "{msg}");
        assert!(store.inner.db.checkpoint.first_key_value().is_none());
        // Times before the damaged record still read fine.
        assert!(store.view(TimeSlice::at(TimeMs(key.time.0 - 1))).is_ok());
    }

    /// The history benchmark at 1M nodes grew to 7 GB: a checkpoint decoded the whole graph
    /// into memory, beside the live graph. Checkpoints now copy stored bytes: they must decode
    /// nothing, whatever changed since the previous one, and hold exactly the graph.
    #[test]
    fn checkpoints_copy_elements_without_decoding_them() {
        let (_dir, store, mut g) = recording_store();
        let md = |i: usize| {
            Metadata::from_pairs([
                ("Name", serde_json::json!(format!("eth{i}"))),
                ("MTU", serde_json::json!(1500)),
                ("IPV4", serde_json::json!([format!("10.0.0.{i}/24")])),
            ])
        };
        for i in 0..300 {
            g.create_node(format!("n{i}").into(), md(i)).unwrap();
            if i > 0 {
                let (p, c) = (format!("n{}", i - 1), format!("n{i}"));
                g.create_edge(format!("e{i}").into(), p.into(), c.into(), Metadata::new())
                    .unwrap();
            }
        }
        let decoded = || crate::codec::DECODED.with(|n| n.get());
        let before = decoded();
        store.checkpoint_now().unwrap().unwrap();
        // Changes since that checkpoint: updates (some twice), deletions, new elements.
        for i in (0..300).step_by(3) {
            g.set_node_metadata(&format!("n{i}"), "MTU", serde_json::json!(9000))
                .unwrap();
        }
        g.set_node_metadata("n3", "MTU", serde_json::json!(1400))
            .unwrap();
        g.delete_node("n7").unwrap();
        g.delete_edge("e100").unwrap();
        g.create_node("x".into(), md(1000)).unwrap();
        g.create_edge("ex".into(), "n0".into(), "x".into(), Metadata::new())
            .unwrap();
        store.checkpoint_now().unwrap().unwrap();
        assert_eq!(decoded(), before, "a checkpoint decoded elements");

        // The newest checkpoint is the end of the log: last_state reads it alone.
        let (nodes, edges) = store.last_state().unwrap();
        let mut want_nodes: Vec<Node> = g.nodes().map(|n| (**n).clone()).collect();
        let mut want_edges: Vec<Edge> = g.edges().map(|e| (**e).clone()).collect();
        want_nodes.sort_by(|a, b| a.id.cmp(&b.id));
        want_edges.sort_by(|a, b| a.id.cmp(&b.id));
        assert_eq!(nodes, want_nodes);
        assert_eq!(edges, want_edges);
        assert_eq!(store.stats().checkpoints, 2);
    }

    #[test]
    fn corrupt_checkpoint_is_an_error_not_a_panic() {
        let (_dir, store) = store_with_one_node();
        let at = store.checkpoint_now().unwrap().unwrap();
        let db = &store.inner.db;
        let (k, _) = db
            .checkpoint
            .first_key_value()
            .unwrap()
            .into_inner()
            .unwrap();
        db.checkpoint.insert(k.clone(), [1u8, 5, 0x11]).unwrap();
        expect_corrupt(store.view(TimeSlice::at(at)), "topology_checkpoint");
        db.checkpoint.remove(k).unwrap();
        expect_corrupt(store.last_state(), "topology_checkpoint");
        let (k, _) = db
            .checkpoint_index
            .first_key_value()
            .unwrap()
            .into_inner()
            .unwrap();
        db.checkpoint_index.insert(k, [1u8, 2, 3]).unwrap();
        expect_corrupt(store.last_state(), "topology_checkpoint_index");
    }
}
