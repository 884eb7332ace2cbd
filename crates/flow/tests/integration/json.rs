//! The flow JSON against an independent description of Skydive's: field names, order,
//! omitted-when-empty fields and enum spellings, from `flow/flow.proto` and its Go JSON tags.

use serde::Deserialize;
use serde_json::{Value, json};
use skydive_flow::{CaptureIds, Flow, FlowTable, FrameBuilder, LinkType, TableConfig, Timestamp};

use crate::fixtures::{self, T0_MS};

/// Skydive's `Flow` as its API shows it. Unknown fields fail, so a renamed field breaks this
/// test. (`SamplingRate` is ours: absent from unsampled captures.)
#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkydiveFlow {
    #[serde(rename = "UUID", default)] // omitempty
    uuid: String,
    #[serde(rename = "LayersPath", default)] // omitempty
    layers_path: String,
    #[serde(rename = "Application", default)] // omitempty
    application: String,
    #[serde(rename = "Link")]
    link: Option<SkydiveLayer>,
    #[serde(rename = "Network")]
    network: Option<SkydiveLayer>,
    #[serde(rename = "Transport")]
    transport: Option<SkydiveTransport>,
    #[serde(rename = "ICMP")]
    icmp: Option<SkydiveIcmp>,
    #[serde(rename = "LastUpdateMetric")]
    last_update_metric: Option<SkydiveMetric>,
    #[serde(rename = "Metric")]
    metric: SkydiveMetric,
    #[serde(rename = "Start")]
    start: i64,
    #[serde(rename = "Last")]
    last: i64,
    #[serde(rename = "TrackingID", default)] // omitempty
    tracking_id: String,
    #[serde(rename = "L3TrackingID", default)] // omitempty
    l3_tracking_id: String,
    #[serde(rename = "ParentUUID")]
    parent_uuid: String,
    #[serde(rename = "NodeTID", default)] // omitempty
    node_tid: String,
    #[serde(rename = "CaptureID", default)] // omitempty
    capture_id: String,
    #[serde(rename = "RawPacketsCaptured")]
    raw_packets_captured: i64,
    #[serde(rename = "FinishType")]
    finish_type: Option<i64>,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkydiveLayer {
    #[serde(rename = "Protocol")]
    protocol: String,
    #[serde(rename = "A", default)] // omitempty
    a: String,
    #[serde(rename = "B", default)] // omitempty
    b: String,
    #[serde(rename = "ID")]
    id: i64,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkydiveTransport {
    #[serde(rename = "Protocol")]
    protocol: String,
    #[serde(rename = "A")]
    a: i64,
    #[serde(rename = "B")]
    b: i64,
    #[serde(rename = "ID")]
    id: i64,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkydiveIcmp {
    #[serde(rename = "Type")]
    icmp_type: String,
    #[serde(rename = "Code", default)]
    code: u32,
    #[serde(rename = "ID", default)]
    id: u32,
}

#[allow(dead_code)]
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SkydiveMetric {
    #[serde(rename = "ABPackets")]
    ab_packets: i64,
    #[serde(rename = "ABBytes")]
    ab_bytes: i64,
    #[serde(rename = "BAPackets")]
    ba_packets: i64,
    #[serde(rename = "BABytes")]
    ba_bytes: i64,
    #[serde(rename = "Start")]
    start: i64,
    #[serde(rename = "Last")]
    last: i64,
    #[serde(rename = "RTT", default)]
    rtt: i64,
}

fn flows_of(frames: &[(i64, Vec<u8>)]) -> Vec<Flow> {
    let ids = CaptureIds {
        node_tid: "7c6ad0d9-host1-eth0".into(),
        capture_id: "f4b3bc6a-capture".into(),
    };
    let mut t = FlowTable::with_hash_seed(TableConfig::default(), ids, 3);
    for (ms, f) in frames {
        t.process_frame(
            f,
            f.len() as u32,
            LinkType::Ethernet,
            Timestamp::from_millis(T0_MS + ms),
        )
        .unwrap();
    }
    t.tick(Timestamp::from_millis(T0_MS + 2_000));
    let mut out = Vec::new();
    t.drain_flows(&mut out);
    out
}

/// Replaces the hash ids with a marker after checking their form.
fn redact(v: &mut Value) {
    for key in ["UUID", "TrackingID", "L3TrackingID"] {
        let id = v[key].as_str().unwrap();
        assert!(
            !id.is_empty()
                && id.len() <= 16
                && id.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')),
            "{key}={id}"
        );
        v[key] = json!("<id>");
    }
}

#[test]
fn tcp_flow_json_is_skydive_shaped() {
    let frames = [
        (0, fixtures::tcp(true, skydive_flow::tcp_flags::SYN, 0)),
        (
            2,
            fixtures::tcp(
                false,
                skydive_flow::tcp_flags::SYN | skydive_flow::tcp_flags::ACK,
                0,
            ),
        ),
        (3, fixtures::tcp(true, skydive_flow::tcp_flags::RST, 0)),
    ];
    let flows = flows_of(&frames);
    assert_eq!(flows.len(), 1);
    let text = serde_json::to_string(&flows[0]).unwrap();
    let parsed: SkydiveFlow = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed.finish_type, Some(3));

    let mut v: Value = serde_json::from_str(&text).unwrap();
    redact(&mut v);
    assert_eq!(
        v,
        json!({
            "UUID": "<id>",
            "LayersPath": "Ethernet/IPv4/TCP",
            "Application": "TCP",
            "Link": {"Protocol": "ETHERNET", "A": "02:42:ac:11:00:02", "B": "02:42:ac:11:00:03", "ID": 0},
            "Network": {"Protocol": "IPV4", "A": "172.17.0.2", "B": "172.17.0.3", "ID": 0},
            "Transport": {"Protocol": "TCP", "A": 51234, "B": 80, "ID": 0},
            "LastUpdateMetric": {
                "ABPackets": 2, "ABBytes": 108, "BAPackets": 1, "BABytes": 54,
                "Start": T0_MS, "Last": T0_MS + 2_000, "RTT": 2_000_000
            },
            "Metric": {
                "ABPackets": 2, "ABBytes": 108, "BAPackets": 1, "BABytes": 54,
                "Start": T0_MS, "Last": T0_MS + 3, "RTT": 2_000_000
            },
            "Start": T0_MS,
            "Last": T0_MS + 3,
            "TrackingID": "<id>",
            "L3TrackingID": "<id>",
            "ParentUUID": "",
            "NodeTID": "7c6ad0d9-host1-eth0",
            "CaptureID": "f4b3bc6a-capture",
            "RawPacketsCaptured": 0,
            "FinishType": 3
        })
    );
}

#[test]
fn fields_come_in_skydive_order() {
    let frames = [(
        0,
        FrameBuilder::new()
            .ethernet(fixtures::MAC_A, fixtures::MAC_B)
            .ipv4(fixtures::IP_A, fixtures::IP_B)
            .icmpv4_echo_request(1, 1)
            .build(),
    )];
    let flows = flows_of(&frames);
    let text = serde_json::to_string(&flows[0]).unwrap();
    let order = [
        "\"UUID\"",
        "\"LayersPath\"",
        "\"Application\"",
        "\"Link\"",
        "\"Network\"",
        "\"ICMP\"",
        "\"LastUpdateMetric\"",
        "\"Metric\"",
        "\"TrackingID\"",
        "\"L3TrackingID\"",
        "\"ParentUUID\"",
        "\"NodeTID\"",
        "\"CaptureID\"",
        "\"RawPacketsCaptured\"",
    ];
    let positions: Vec<_> = order
        .iter()
        .map(|k| {
            text.find(k)
                .unwrap_or_else(|| panic!("{k} missing in {text}"))
        })
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(text.contains(r#""ICMP":{"Type":"ECHO","ID":1}"#), "{text}");
    assert!(
        !text.contains("FinishType"),
        "NOT_FINISHED is omitted, as Go's omitempty does"
    );
    let parsed: SkydiveFlow = serde_json::from_str(&text).unwrap();
    assert!(parsed.transport.is_none());
}

#[test]
fn flows_read_back() {
    let r = std::fs::read(fixtures::dir().join("vxlan-tcp.pcap")).unwrap();
    let reader = skydive_flow::pcap::PcapReader::new(&r).unwrap();
    let mut t = FlowTable::new(TableConfig::default(), CaptureIds::default());
    for rec in reader {
        let rec = rec.unwrap();
        t.process_frame(rec.data, rec.orig_len, LinkType::Ethernet, rec.ts)
            .unwrap();
    }
    for f in t.snapshot_flows() {
        let text = serde_json::to_string(&f).unwrap();
        let _: SkydiveFlow = serde_json::from_str(&text).unwrap();
        let back: Flow = serde_json::from_str(&text).unwrap();
        assert_eq!(back, f);
    }
}
