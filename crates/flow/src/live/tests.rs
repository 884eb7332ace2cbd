//! Live flows fed with what a real flow table emits.

use super::*;
use crate::flow::FinishType;
use crate::{CaptureIds, FlowTable, FrameBuilder, LinkType, TableConfig, Timestamp, tcp_flags};

const T0: i64 = 1_700_000_000_000;
const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn table(node: &str) -> FlowTable {
    let ids = CaptureIds {
        node_tid: node.into(),
        capture_id: "cap".into(),
    };
    FlowTable::new(TableConfig::default(), ids)
}

fn frame(table: &mut FlowTable, ms: i64, f: &[u8]) {
    table
        .process_frame(
            f,
            f.len() as u32,
            LinkType::Ethernet,
            Timestamp::from_millis(ms),
        )
        .unwrap();
}

fn tcp(sport: u16, flags: u8) -> Vec<u8> {
    FrameBuilder::new()
        .ethernet(A, B)
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
        .tcp(sport, 80, flags)
        .build()
}

/// The updates a table emits up to `ms`.
fn updates(table: &mut FlowTable, ms: i64) -> Vec<Flow> {
    table.tick(Timestamp::from_millis(ms));
    let mut out = Vec::new();
    table.drain_flows(&mut out);
    out
}

#[test]
fn updates_replace_and_final_updates_remove() {
    let live = LiveFlows::default();
    let mut t = table("tid-1");
    frame(&mut t, T0, &tcp(1000, tcp_flags::SYN));
    frame(&mut t, T0 + 10, &tcp(2000, tcp_flags::SYN));
    let first = updates(&mut t, T0 + 2_500);
    assert_eq!(first.len(), 2);
    let r = live.apply(first.clone(), T0 + 2_600);
    assert_eq!((r.applied, live.len()), (2, 2));

    frame(&mut t, T0 + 3_000, &tcp(1000, tcp_flags::ACK));
    let second = updates(&mut t, T0 + 5_000);
    assert_eq!(second.len(), 1);
    live.apply(second.clone(), T0 + 5_100);
    let kept = live.get(&second[0].uuid).unwrap();
    assert_eq!(kept.metric.ab_packets, 2);
    assert!(kept.last_update_metric.is_some());

    // FIN: the next update carries TCP_FIN and the flow leaves.
    frame(
        &mut t,
        T0 + 6_000,
        &tcp(1000, tcp_flags::FIN | tcp_flags::ACK),
    );
    let fin = updates(&mut t, T0 + 7_000);
    assert_eq!(fin[0].finish_type, FinishType::TcpFin);
    live.apply(fin, T0 + 7_100);
    assert_eq!(live.len(), 1);
    assert!(live.get(&second[0].uuid).is_none());

    // A late, older update of the other flow is ignored.
    let mut older = first[1].clone();
    older.last -= 1;
    live.apply([Arc::new(older)], T0 + 7_200);
    assert_eq!(live.get(&first[1].uuid).unwrap().last, first[1].last);

    let s = live.stats();
    assert_eq!(
        (
            s.flows,
            s.updates_applied,
            s.updates_stale,
            s.flows_finished
        ),
        (1, 4, 1, 1)
    );
}

#[test]
fn idle_flows_expire_on_the_analyzer_clock() {
    let live = LiveFlows::new(LiveConfig {
        expire: Duration::from_secs(60),
        ..LiveConfig::default()
    });
    let mut t = table("tid-1");
    frame(&mut t, T0, &tcp(1000, tcp_flags::SYN));
    live.apply(updates(&mut t, T0 + 2_500), 5_000);
    assert_eq!(live.expire(64_999), 0);
    assert_eq!(live.expire(65_000), 1);
    assert!(live.is_empty());
    assert_eq!(live.stats().flows_expired, 1);
    // A final update for a flow already gone is applied (nothing to remove).
    let mut timeout = updates(&mut t, T0 + 700_000);
    assert_eq!(timeout[0].finish_type, FinishType::Timeout);
    assert_eq!(live.apply(timeout.drain(..), 70_000).applied, 1);
    assert!(live.is_empty());
}

#[test]
fn bounded_and_counted() {
    let live = LiveFlows::new(LiveConfig {
        max_flows: 2,
        ..LiveConfig::default()
    });
    let mut t = table("tid-1");
    for p in 0..3 {
        frame(&mut t, T0 + i64::from(p), &tcp(1000 + p, tcp_flags::SYN));
    }
    let mut batch = updates(&mut t, T0 + 2_500);
    batch.push(Flow::default());
    let r = live.apply(batch, 0);
    assert_eq!(
        r,
        Applied {
            applied: 2,
            stale: 0,
            dropped: 1,
            invalid: 1
        }
    );
    assert_eq!(live.len(), 2);
}

#[test]
fn select_by_node_and_predicate() {
    let live = LiveFlows::default();
    for node in ["tid-1", "tid-2"] {
        let mut t = table(node);
        frame(&mut t, T0, &tcp(1000, tcp_flags::SYN));
        frame(&mut t, T0, &tcp(2000, tcp_flags::SYN));
        live.apply(updates(&mut t, T0 + 2_500), 0);
    }
    assert_eq!(live.snapshot().len(), 4);
    let on = |tids: &[&str]| {
        let tids: Vec<String> = tids.iter().map(|s| s.to_string()).collect();
        live.select(Some(&tids), |_| true, None).len()
    };
    assert_eq!(on(&["tid-1"]), 2);
    assert_eq!(on(&["tid-1", "tid-2", "tid-1"]), 4);
    assert_eq!(on(&["nope"]), 0);
    let port_2000 = live.select(
        None,
        |f| f.transport.as_ref().is_some_and(|t| t.a == 2000),
        None,
    );
    assert_eq!(port_2000.len(), 2);
    assert_eq!(live.select(None, |_| true, Some(3)).len(), 3);
}
