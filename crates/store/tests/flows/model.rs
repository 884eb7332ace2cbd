//! Property test: store random flow updates, then search: the answers must be exactly those
//! of a naive in-memory oracle, before and after the store is reopened.

use std::collections::BTreeMap;

use proptest::prelude::*;
use skydive_flow::{Flow, FlowMetric};
use skydive_store::{FlowSearch, FlowStore};

use crate::common::*;

const FLOWS: u8 = 6;

/// One update: which flow, its `Last` (ms after T0), a counter to tell updates apart.
#[derive(Debug, Clone)]
struct Update {
    flow: u8,
    last: i64,
    packets: i64,
}

/// A UUID names one capture point: its node and tracking id are fixed.
fn flow_of(u: &Update) -> Flow {
    Flow {
        uuid: format!("uuid-{}", u.flow),
        node_tid: format!("node-{}", u.flow % 3),
        tracking_id: format!("track-{}", u.flow % 2),
        start: T0,
        last: T0 + u.last,
        metric: FlowMetric {
            ab_packets: u.packets,
            start: T0,
            last: T0 + u.last,
            ..FlowMetric::default()
        },
        ..Flow::default()
    }
}

#[derive(Debug, Clone)]
struct Query {
    start: i64,
    len: i64,
    expire: i64,
    nodes: Option<Vec<u8>>,
    tracks: Option<Vec<u8>>,
    limit: Option<usize>,
}

fn update() -> impl Strategy<Value = Update> {
    (0..FLOWS, 0..60i64, 0..1000i64).prop_map(|(flow, last, packets)| Update {
        flow,
        last,
        packets,
    })
}

fn query() -> impl Strategy<Value = Query> {
    (
        -10..70i64,
        0..30i64,
        prop_oneof![Just(0i64), 0..20i64],
        proptest::option::of(proptest::collection::vec(0..4u8, 0..3)),
        proptest::option::of(proptest::collection::vec(0..3u8, 0..3)),
        proptest::option::of(0..5usize),
    )
        .prop_map(|(start, len, expire, nodes, tracks, limit)| Query {
            start,
            len,
            expire,
            nodes,
            tracks,
            limit,
        })
}

/// What the store must answer, computed naively.
fn oracle(records: &BTreeMap<(i64, String), Flow>, q: &Query) -> Vec<Flow> {
    let (lo, hi) = (T0 + q.start - q.expire, T0 + q.start + q.len);
    let mut latest: BTreeMap<&str, &Flow> = BTreeMap::new();
    for ((last, uuid), f) in records {
        if (lo..=hi).contains(last)
            && latest
                .get(uuid.as_str())
                .is_none_or(|kept| kept.last <= *last)
        {
            latest.insert(uuid, f);
        }
    }
    let mut out: Vec<Flow> = latest
        .into_values()
        .filter(|f| {
            q.nodes
                .as_ref()
                .is_none_or(|n| n.iter().any(|n| f.node_tid == format!("node-{n}")))
                && q.tracks
                    .as_ref()
                    .is_none_or(|t| t.iter().any(|t| f.tracking_id == format!("track-{t}")))
        })
        .cloned()
        .collect();
    out.sort_by(|a, b| (b.last, &b.uuid).cmp(&(a.last, &a.uuid)));
    out.truncate(q.limit.unwrap_or(usize::MAX));
    out
}

fn ask(store: &FlowStore, q: &Query) -> Vec<Flow> {
    let nodes: Option<Vec<String>> = q
        .nodes
        .as_ref()
        .map(|n| n.iter().map(|n| format!("node-{n}")).collect());
    let tracks: Option<Vec<String>> = q
        .tracks
        .as_ref()
        .map(|t| t.iter().map(|t| format!("track-{t}")).collect());
    let search = FlowSearch::new(slice(T0 + q.start, T0 + q.start + q.len))
        .expire_ms(q.expire)
        .node_tids(nodes.as_deref())
        .tracking_ids(tracks.as_deref())
        .limit(q.limit);
    store.search(&search).expect("search")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn search_matches_the_oracle(
        batches in proptest::collection::vec(proptest::collection::vec(update(), 1..8), 1..6),
        queries in proptest::collection::vec(query(), 1..12),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = open(&dir);
        let mut records: BTreeMap<(i64, String), Flow> = BTreeMap::new();
        for batch in &batches {
            let flows: Vec<Flow> = batch.iter().map(flow_of).collect();
            for f in &flows {
                records.insert((f.last, f.uuid.clone()), f.clone());
            }
            store.store(&flows).unwrap();
        }
        store.flush().unwrap();
        for q in &queries {
            prop_assert_eq!(ask(&store, q), oracle(&records, q), "{:?}", q);
        }
        // The metric series: one point per stored (Last, UUID), oldest first.
        let uuids: Vec<String> = (0..FLOWS).map(|i| format!("uuid-{i}")).collect();
        let series = store.metrics(&uuids, i64::MIN, i64::MAX).unwrap();
        for (uuid, points) in &series {
            let expected: Vec<FlowMetric> = records
                .iter()
                .filter(|((_, u), _)| u == uuid)
                .map(|(_, f)| f.metric)
                .collect();
            prop_assert_eq!(points, &expected);
        }
        store.close().unwrap();
        let store = open(&dir);
        for q in &queries {
            prop_assert_eq!(ask(&store, q), oracle(&records, q), "after reopening: {:?}", q);
        }
    }
}
