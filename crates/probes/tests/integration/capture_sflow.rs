//! `sflow` captures: a plain collector fed by an exporter built with `skydive_flow`'s
//! `DatagramEncoder` (what a switch or hsflowd would send), on loopback. Checks the flows
//! (attributed to the selected node, sampling rate carried), the node's `SFlow` counters and
//! `Captures` entry, the counters of bad datagrams, a port clash, and the clean stop. Needs
//! no privilege.

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::json;
use skydive_flow::FrameBuilder;
use skydive_flow::sflow::{
    CounterRecord, CounterSampleInfo, DatagramEncoder, FlowRecord, FlowSampleInfo,
    GenericInterfaceCounters, Interface, RawPacketHeader, SourceId,
};
use skydive_graph::{GraphOptions, Metadata, SharedGraph, gen_id};
use skydive_probes::capture::{self, CaptureContext, CaptureSpec, CaptureTarget, CapturesConfig};
use tokio::sync::mpsc;

use crate::capture_ovssflow::{collect, unique, wait_flows};
use crate::graph_query::*;

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

const RATE: u32 = 10;

/// A datagram of `n` request/reply sample pairs of one ICMP conversation, and a counter
/// sample of interface 7.
fn datagram(seq: u32, n: u32, in_octets: u64) -> Vec<u8> {
    let (a, b) = ([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2]);
    let mut enc = DatagramEncoder::new([192, 0, 2, 1].into(), 0, seq, 5000 + seq);
    for i in 0..n {
        for (src, dst, sip, dip, reply) in [
            (a, b, [10, 0, 0, 1], [10, 0, 0, 2], false),
            (b, a, [10, 0, 0, 2], [10, 0, 0, 1], true),
        ] {
            let f = FrameBuilder::new().ethernet(src, dst).ipv4(sip, dip);
            let frame = if reply {
                f.icmpv4_echo_reply(42, i as u16).build()
            } else {
                f.icmpv4_echo_request(42, i as u16).build()
            };
            let info = FlowSampleInfo {
                sequence: seq * 100 + i,
                source: SourceId { kind: 0, index: 7 },
                sampling_rate: RATE,
                sample_pool: RATE * (i + 1),
                input: Interface {
                    format: 0,
                    value: 7,
                },
                output: Interface {
                    format: 0,
                    value: 8,
                },
                ..FlowSampleInfo::default()
            };
            let rec = FlowRecord::RawHeader(RawPacketHeader {
                protocol: 1,
                frame_length: frame.len() as u32 + 4,
                stripped: 4,
                header: &frame,
            });
            enc.flow_sample(&info, &[rec]);
        }
    }
    let counters = GenericInterfaceCounters {
        if_index: 7,
        if_type: 6,
        if_speed: 1_000_000_000,
        if_status: 3,
        if_in_octets: in_octets,
        if_in_ucast_pkts: 10,
        if_out_octets: 2 * in_octets,
        ..Default::default()
    };
    enc.counter_sample(
        &CounterSampleInfo {
            expanded: false,
            sequence: seq,
            source: SourceId { kind: 0, index: 7 },
        },
        &[CounterRecord::GenericInterface(counters)],
    );
    enc.finish()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sflow_capture_collects_any_exporter_for_its_node() {
    init_tracing();
    let graph = SharedGraph::new(GraphOptions::new("h", "agent.h"));
    let node = graph
        .write()
        .create_node(
            gen_id(&["skt-switch-port"]),
            Metadata::from_pairs([
                ("Name", json!("eth7")),
                ("Type", json!("device")),
                ("TID", json!("tid-eth7")),
            ]),
        )
        .unwrap();
    let target = CaptureTarget::from_node(&node, "host-tid").unwrap();
    let (tx, rx) = mpsc::channel(64);
    let flows = collect(rx);
    let mut cfg = CapturesConfig::default();
    cfg.flow.update = 1;
    let ctx = CaptureContext::new(graph.clone(), unique("agent"), cfg, tx);
    let port = free_udp_port();
    let capture_id = unique("cap");
    let spec = CaptureSpec {
        id: capture_id.clone(),
        capture_type: "sflow".into(),
        port: u32::from(port),
        ..CaptureSpec::default()
    };
    let cap = capture::start(spec.clone(), target.clone(), &ctx)
        .await
        .expect("the collector starts");
    assert_eq!(
        cap.collector_address().unwrap().to_string(),
        format!("127.0.0.1:{port}")
    );

    // A second capture on the same port is refused, and its entry says why.
    let clash = CaptureSpec {
        id: unique("cap"),
        ..spec.clone()
    };
    let err = capture::start(clash.clone(), target.clone(), &ctx)
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains(&format!("127.0.0.1:{port}")), "{err}");
    let caps = graph
        .read()
        .node(&node.id)
        .unwrap()
        .metadata
        .get("Captures")
        .cloned();
    let caps = caps.unwrap();
    let failed = caps
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ID"] == clash.id.as_str())
        .unwrap();
    assert_eq!(failed["State"], "error");
    capture::remove_capture_entry(&graph, &node.id, &clash.id);

    // The exporter: 3 datagrams of 4 request/reply pairs, then garbage.
    let exporter = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 1..=3u32 {
        exporter
            .send_to(
                &datagram(seq, 4, 1000 * u64::from(seq)),
                ("127.0.0.1", port),
            )
            .unwrap();
    }
    exporter
        .send_to(&[0, 0, 0, 5, 0, 0, 0, 9], ("127.0.0.1", port))
        .unwrap();

    let flow = wait_flows(&flows, "the ICMP flow with 12 samples each way", |r| {
        r.latest
            .values()
            .find(|f| f.metric.ab_packets == 12 && f.metric.ba_packets == 12)
            .cloned()
    })
    .await;
    assert_eq!(flow.node_tid, "tid-eth7");
    assert_eq!(flow.capture_id, capture_id);
    assert_eq!(
        flow.sampling_rate, RATE,
        "samples stand for RATE packets each"
    );
    assert_eq!(flow.network.as_ref().unwrap().a, "10.0.0.1");
    assert_eq!(flow.icmp.as_ref().unwrap().id, 42);

    let sflow = wait_for(&graph, "the node's SFlow counters", |g| {
        let m = g.node(&node.id)?.metadata.get("SFlow")?.clone();
        (m["IfMetrics"]["7"]["IfInOctets"] == 3000).then_some(m)
    })
    .await;
    assert_eq!(sflow["IfMetrics"]["7"]["IfOutOctets"], 6000);
    assert_eq!(sflow["Metric"]["IfInOctets"], 3000);
    let entry = wait_for(&graph, "the entry's counters", |g| {
        let caps = g.node(&node.id)?.metadata.get("Captures")?.clone();
        let e = caps
            .as_array()?
            .iter()
            .find(|e| e["ID"] == capture_id.as_str())?
            .clone();
        (e["PacketsReceived"] == 4).then_some(e)
    })
    .await;
    assert_eq!(entry["State"], "active");
    assert_eq!(entry["Type"], "sflow");
    assert_eq!(entry["SamplesDecoded"], 24);
    assert_eq!(entry["CounterSamples"], 3);
    assert_eq!(entry["DatagramErrors"], 1);
    assert_eq!(entry["SFlowSocket"], format!("127.0.0.1:{port}"));

    let stats = cap.stop().await.unwrap();
    assert_eq!(stats.packets_received, 4);
    assert_eq!(stats.samples_decoded, 24);
    assert_eq!(stats.headers_accounted, 24);
    assert_eq!(stats.flows_created, 1);
    assert_eq!(stats.flow_records_dropped, 0);
    {
        let g = graph.read();
        let n = g.node(&node.id).unwrap();
        assert!(n.metadata.get("Captures").is_none(), "entry removed");
        assert!(n.metadata.get("SFlow").is_none(), "counters removed");
    }
    // The port is free again.
    tokio::time::sleep(Duration::from_millis(50)).await;
    UdpSocket::bind(("127.0.0.1", port)).expect("the port is released");
}
