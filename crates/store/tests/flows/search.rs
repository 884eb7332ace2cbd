//! Searching: by time window, node, tracking id, predicate; limits; metric series.

use skydive_flow::FinishType;
use skydive_store::{FlowSearch, FlowStoreConfig, HistoryConfig, HistoryStore, StoreError};

use crate::common::*;

#[test]
fn a_window_gives_each_flow_once_in_its_latest_state_within_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut cap = Capture::new("tid-1");
    cap.send(T0, &tcp(1, 2, 40000, 80, SYN));
    let first = cap.updates(T0 + 2_500);
    cap.send(T0 + 3_000, &tcp(1, 2, 40000, 80, ACK));
    let second = cap.updates(T0 + 5_000);
    // Another flow starting later.
    cap.send(T0 + 100_000, &tcp(1, 3, 40001, 443, SYN));
    let third = cap.updates(T0 + 102_500);
    for batch in [&first, &second, &third] {
        put(&store, batch);
    }
    let uuid = first[0].uuid.clone();
    assert_eq!(second[0].uuid, uuid);

    // At the first packet: nothing was stored yet with a Last that early… but the first
    // update's Last *is* the first packet.
    let found = at(&store, T0);
    assert_eq!(uuids(&found), [uuid.as_str()]);
    assert_eq!(found[0].metric.ab_packets, 1, "the state as of T0");
    let found = at(&store, T0 + 3_000);
    assert_eq!(found[0].metric.ab_packets, 2, "the later update");
    // A slice covering both flows: newest first.
    let both = store
        .search(&FlowSearch::new(slice(T0, T0 + 200_000)))
        .unwrap();
    assert_eq!(uuids(&both), [third[0].uuid.as_str(), uuid.as_str()]);
    // Still active (within flow.expire) a while after its last packet, not after.
    assert_eq!(at(&store, T0 + 3_000 + 600_000).len(), 2);
    assert_eq!(
        uuids(&at(&store, T0 + 3_001 + 600_000)),
        [third[0].uuid.as_str()]
    );
    let short = FlowSearch::new(slice(T0 + 60_000, T0 + 60_000)).expire_ms(10_000);
    assert!(store.search(&short).unwrap().is_empty());
    // Before anything.
    assert!(at(&store, T0 - 1).is_empty());
    // A backwards slice is an error.
    let err = store
        .search(&FlowSearch::new(slice(T0, T0 - 1)))
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidSlice { .. }), "{err}");
}

#[test]
fn by_node_and_by_tracking_id() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    // One conversation seen on two interfaces (same TrackingID, two UUIDs), plus another.
    let mut on_a = Capture::new("tid-a");
    let mut on_b = Capture::new("tid-b");
    for cap in [&mut on_a, &mut on_b] {
        cap.send(T0, &tcp(1, 2, 40000, 80, SYN));
    }
    on_a.send(T0 + 10, &tcp(1, 3, 40001, 22, SYN));
    let (a, b) = (on_a.updates(T0 + 2_500), on_b.updates(T0 + 2_500));
    put(&store, &a);
    put(&store, &b);
    let tracking = b[0].tracking_id.clone();
    assert_eq!(a.iter().filter(|f| f.tracking_id == tracking).count(), 1);

    let window = FlowSearch::new(slice(T0, T0 + 10_000));
    let nodes = |tids: &[&str]| {
        let tids: Vec<String> = tids.iter().map(|s| s.to_string()).collect();
        store.search(&window.node_tids(Some(&tids))).unwrap().len()
    };
    assert_eq!(nodes(&["tid-a"]), 2);
    assert_eq!(nodes(&["tid-b"]), 1);
    assert_eq!(nodes(&["tid-a", "tid-b", "tid-a"]), 3);
    assert_eq!(nodes(&["nope"]), 0);

    let ids = vec![tracking.clone()];
    let hops = store.search(&window.tracking_ids(Some(&ids))).unwrap();
    let mut tids: Vec<&str> = hops.iter().map(|f| f.node_tid.as_str()).collect();
    tids.sort();
    assert_eq!(tids, ["tid-a", "tid-b"]);
    // Both constraints at once.
    let only_b = vec!["tid-b".to_string()];
    let found = store
        .search(&window.tracking_ids(Some(&ids)).node_tids(Some(&only_b)))
        .unwrap();
    assert_eq!(uuids(&found), [b[0].uuid.as_str()]);
    // A predicate, and a limit (the newest first).
    let port_22 = |f: &skydive_flow::Flow| f.transport.as_ref().is_some_and(|t| t.b == 22);
    let found = store.search(&window.filter(&port_22)).unwrap();
    assert_eq!(found.len(), 1);
    let newest = store.search(&window.limit(Some(1))).unwrap();
    assert_eq!(newest[0].start, T0 + 10);
    assert!(store.search(&window.limit(Some(0))).unwrap().is_empty());
}

#[test]
fn results_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let store = skydive_store::FlowStore::open(FlowStoreConfig {
        max_results: 3,
        ..config(&dir)
    })
    .unwrap();
    let mut cap = Capture::new("tid-1");
    for p in 0..5 {
        cap.send(T0 + i64::from(p), &tcp(1, 2, 40000 + p, 80, SYN));
    }
    put(&store, &cap.updates(T0 + 2_500));
    let window = FlowSearch::new(slice(T0, T0 + 10_000));
    let err = store.search(&window).unwrap_err();
    assert_eq!(
        err.to_string(),
        "more than 3 flows match; narrow the query (Has(...), a shorter time slice) or add Limit(...)"
    );
    assert_eq!(store.search(&window.limit(Some(2))).unwrap().len(), 2);
    assert_eq!(store.search(&window.limit(Some(3))).unwrap().len(), 3);
}

#[test]
fn metric_series_per_flow() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut cap = Capture::new("tid-1");
    cap.send(T0, &tcp(1, 2, 40000, 80, SYN));
    put(&store, &cap.updates(T0 + 2_000));
    cap.send(T0 + 3_000, &tcp(1, 2, 40000, 80, ACK));
    cap.send(T0 + 3_500, &tcp(2, 1, 80, 40000, ACK));
    put(&store, &cap.updates(T0 + 4_000));
    cap.send(T0 + 5_000, &tcp(1, 2, 40000, 80, FIN | ACK));
    let last = cap.updates(T0 + 6_000);
    assert_eq!(last[0].finish_type, FinishType::TcpFin);
    put(&store, &last);
    let uuid = last[0].uuid.clone();

    let all = store
        .metrics(std::slice::from_ref(&uuid), i64::MIN, i64::MAX)
        .unwrap();
    let series = &all[&uuid];
    assert_eq!(series.len(), 3);
    let packets: Vec<(i64, i64)> = series
        .iter()
        .map(|m| (m.ab_packets, m.ba_packets))
        .collect();
    assert_eq!(packets, [(1, 0), (1, 1), (1, 0)]);
    assert!(series.windows(2).all(|w| w[0].last <= w[1].start));
    // Only the metrics within the window.
    let mid = store
        .metrics(std::slice::from_ref(&uuid), T0 + 1_000, T0 + 4_000)
        .unwrap();
    assert_eq!(mid[&uuid].len(), 1);
    assert!(
        store
            .metrics(&["nope".into()], i64::MIN, i64::MAX)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn invalid_updates_and_a_full_buffer_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let store = skydive_store::FlowStore::open(FlowStoreConfig {
        buffer_flows: 2,
        ..config(&dir)
    })
    .unwrap();
    let mut cap = Capture::new("tid-1");
    for p in 0..3 {
        cap.send(T0, &tcp(1, 2, 40000 + p, 80, SYN));
    }
    let mut flows = cap.updates(T0 + 2_500);
    flows.push(skydive_flow::Flow::default());
    // Buffer of 2: at most 2 of the 3 valid ones queue (fewer if the writer is quick to
    // take the first; never more).
    let queued = store.store(&flows).unwrap();
    assert!(queued <= 2);
    store.flush().unwrap();
    let s = store.stats();
    assert_eq!(s.flows_received, 4);
    assert_eq!(s.flows_invalid, 1);
    assert_eq!(s.flows_dropped, 3 - queued as u64);
    assert_eq!(s.flows_written, queued as u64);
    assert_eq!(s.flows_queued, 0);
    assert_eq!(s.oldest.map(|t| t.0), Some(T0));
}

#[test]
fn shares_the_history_store_database() {
    let dir = tempfile::tempdir().unwrap();
    let history = HistoryStore::open(HistoryConfig {
        retention_check_secs: 0,
        flows_retention_secs: Some(60),
        ..HistoryConfig::in_dir(dir.path())
    })
    .unwrap();
    let flows = history.flow_store().unwrap();
    assert_eq!(flows.config().retention_secs, 60);
    let mut cap = Capture::new("tid-1");
    cap.send(T0, &tcp(1, 2, 40000, 80, SYN));
    put(&flows, &cap.updates(T0 + 2_500));
    // The same store on a second call; the database is locked for a standalone one.
    assert_eq!(at(&history.flow_store().unwrap(), T0).len(), 1);
    let err = skydive_store::FlowStore::open(config(&dir)).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    flows.close().unwrap();
    history.close().unwrap();
    // Reopened standalone, the flows are there.
    let alone = open(&dir);
    assert_eq!(at(&alone, T0).len(), 1);
}
