//! Retention: old history goes, reading before it fails clearly, the rest stays intact.

use serde_json::json;
use skydive_graph::{Metadata, MetadataOp, TimeMs, TimeSlice};
use skydive_store::{HistoryStore, StoreError};

use crate::common::*;

const DAY: i64 = 24 * 3600 * 1000;

/// Node "a" added ten days ago, its `Day` set once a day since; a checkpoint after each day
/// listed in `checkpoints`.
fn ten_days(store: &HistoryStore, checkpoints: &[i64]) -> (TimeMs, TimeMs) {
    let now = TimeMs::now();
    let t0 = TimeMs(now.0 - 10 * DAY);
    let mut g = graph(store);
    g.add_node(node_at("a", t0, md(&[("Day", json!(0))])))
        .unwrap();
    for day in 1..10 {
        g.apply_node_ops(
            "a",
            day + 1,
            TimeMs(t0.0 + day * DAY),
            &[MetadataOp::add("Day", json!(day))],
        )
        .unwrap();
        if checkpoints.contains(&day) {
            store.checkpoint_now().unwrap();
        }
    }
    store.flush().unwrap();
    (t0, now)
}

fn day_at(store: &HistoryStore, t: TimeMs) -> Result<i64, StoreError> {
    let v = store.view(TimeSlice::at(t))?;
    Ok(skydive_graph::GraphView::node(&v, "a".into())
        .unwrap()
        .metadata
        .get_i64("Day")
        .unwrap())
}

#[test]
fn retention_writes_a_checkpoint_at_the_cutoff_when_there_is_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (t0, now) = ten_days(&store, &[]);
    assert_eq!(day_at(&store, TimeMs(t0.0 + DAY)).unwrap(), 1);

    let report = store.enforce_retention(now).unwrap();
    // Cutoff is 7 days ago: day 3 (+ a few ms). Day 0..=3 entries go, behind a checkpoint.
    assert_eq!(report.cutoff, Some(TimeMs(now.0 - 7 * DAY)));
    assert!(report.checkpoint_written);
    assert_eq!(report.log_entries_dropped, 4);
    assert_eq!(report.retained_from, Some(TimeMs(t0.0 + 3 * DAY)));

    let err = day_at(&store, TimeMs(t0.0 + DAY)).unwrap_err();
    assert!(matches!(err, StoreError::HistoryDropped { .. }));
    assert!(err.is_out_of_range());
    let msg = err.to_string();
    assert!(msg.starts_with("history before 20"), "{msg}");
    assert!(
        msg.ends_with("has been dropped by retention (storage.retention_secs = 604800)"),
        "{msg}"
    );
    for day in 3..10 {
        assert_eq!(day_at(&store, TimeMs(t0.0 + day * DAY)).unwrap(), day);
    }
    // A slice starting before the retained range is refused too.
    let slice = TimeSlice {
        start: TimeMs(t0.0 + 2 * DAY),
        last: TimeMs(t0.0 + 5 * DAY),
    };
    assert!(store.view(slice).is_err());
    assert_eq!(store.stats().oldest_retained, Some(TimeMs(t0.0 + 3 * DAY)));

    // Nothing more to do a second time; and the same after a restart.
    let again = store.enforce_retention(now).unwrap();
    assert_eq!(
        (
            again.log_entries_dropped,
            again.checkpoints_dropped,
            again.checkpoint_written
        ),
        (0, 0, false)
    );
    store.close().unwrap();
    let store = open(&dir);
    assert!(day_at(&store, TimeMs(t0.0 + DAY)).is_err());
    assert_eq!(day_at(&store, TimeMs(t0.0 + 4 * DAY)).unwrap(), 4);
    assert_eq!(
        store.last_state().unwrap().0[0].metadata.get_i64("Day"),
        Some(9)
    );
}

#[test]
fn retention_keeps_the_newest_checkpoint_before_the_cutoff() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (t0, now) = ten_days(&store, &[1, 2, 5]);
    assert_eq!(store.stats().checkpoints, 3);
    let report = store.enforce_retention(now).unwrap();
    assert!(!report.checkpoint_written);
    assert_eq!(report.checkpoints_dropped, 1);
    assert_eq!(report.log_entries_dropped, 3);
    assert_eq!(report.retained_from, Some(TimeMs(t0.0 + 2 * DAY)));
    assert_eq!(store.stats().checkpoints, 2);
    assert!(day_at(&store, TimeMs(t0.0 + DAY)).is_err());
    for day in 2..10 {
        assert_eq!(day_at(&store, TimeMs(t0.0 + day * DAY)).unwrap(), day);
    }

    // Three days later, the day-5 checkpoint becomes the one kept.
    let report = store.enforce_retention(TimeMs(now.0 + 3 * DAY)).unwrap();
    assert_eq!(report.retained_from, Some(TimeMs(t0.0 + 5 * DAY)));
    assert_eq!(report.checkpoints_dropped, 1);
    assert_eq!(day_at(&store, TimeMs(t0.0 + 5 * DAY)).unwrap(), 5);
}

#[test]
fn zero_retention_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let store = HistoryStore::open(skydive_store::HistoryConfig {
        retention_secs: 0,
        ..config(&dir)
    })
    .unwrap();
    let (t0, now) = ten_days(&store, &[]);
    let report = store.enforce_retention(now).unwrap();
    assert_eq!(report.cutoff, None);
    assert_eq!(report.log_entries_dropped, 0);
    assert_eq!(day_at(&store, t0).unwrap(), 0);
}

#[test]
fn history_only_older_than_retention_empties_the_log_but_not_the_state() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let (_, now) = ten_days(&store, &[]);
    let report = store.enforce_retention(TimeMs(now.0 + 30 * DAY)).unwrap();
    assert_eq!(report.log_entries_dropped, 10);
    assert_eq!(
        store.last_state().unwrap().0[0].metadata.get_i64("Day"),
        Some(9)
    );
    // Recording goes on after everything was cut.
    let mut g = graph(&store);
    g.create_node("b".into(), Metadata::new()).unwrap();
    store.flush().unwrap();
    assert_eq!(store.last_state().unwrap().0.len(), 2);
}

#[test]
fn retention_runs_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = skydive_store::HistoryConfig {
        retention_check_secs: 1,
        ..config(&dir)
    };
    let store = HistoryStore::open(cfg).unwrap();
    let (t0, _) = ten_days(&store, &[]);
    // Wait for the maintenance thread without timing it (the deadline only avoids a hang).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while store.stats().log_entries_dropped == 0 {
        assert!(std::time::Instant::now() < deadline, "retention never ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(day_at(&store, TimeMs(t0.0 + DAY)).is_err());
    assert_eq!(store.stats().maintenance_errors, 0);
}
