//! Unit tests of the capture API: the registry, validation, targets.

use serde_json::json;
use skydive_graph::{GraphOptions, Metadata, Node, SharedGraph, gen_id};

use super::*;

#[test]
fn registry_is_in_declaration_order_and_names_are_unique() {
    for (i, t) in CAPTURE_TYPES.iter().enumerate() {
        assert_eq!(t.capture_type as usize, i, "{}", t.name);
        assert_eq!(CaptureType::parse(t.name).unwrap(), t.capture_type);
        assert_eq!(serde_json::to_value(t.capture_type).unwrap(), json!(t.name));
    }
    let supported: Vec<_> = CAPTURE_TYPES
        .iter()
        .filter(|t| t.supported)
        .map(|t| t.name)
        .collect();
    assert_eq!(supported, ["sflow", "ovssflow"]);
}

#[test]
fn defaults_follow_skydive() {
    assert_eq!(
        CaptureType::default_for("ovsbridge"),
        Some(CaptureType::Ovssflow)
    );
    assert_eq!(
        CaptureType::default_for("veth"),
        Some(CaptureType::Afpacket)
    );
    assert_eq!(
        CaptureType::default_for("ovsport"),
        Some(CaptureType::Ovsmirror)
    );
    assert_eq!(CaptureType::default_for("host"), None);
    assert!(CaptureType::Sflow.allowed_on("host"));
    assert!(CaptureType::Sflow.allowed_on("ovsbridge"));
    assert!(!CaptureType::Ovssflow.allowed_on("veth"));
}

fn spec(ty: &str) -> CaptureSpec {
    CaptureSpec {
        id: "c1".into(),
        capture_type: ty.into(),
        ..CaptureSpec::default()
    }
}

#[test]
fn settings_apply_defaults() {
    let s = spec("").settings("ovsbridge").unwrap();
    assert_eq!(
        s,
        CaptureSettings {
            capture_type: CaptureType::Ovssflow,
            header_size: 256,
            sampling_rate: 1,
            polling_interval: 10,
            port: 0,
            layer_key_mode: None,
        }
    );
    let s = spec("sflow").settings("device").unwrap();
    assert_eq!((s.capture_type, s.port), (CaptureType::Sflow, 6343));
    let mut custom = spec("sflow");
    custom.port = 7000;
    custom.header_size = 128;
    custom.sampling_rate = 100;
    custom.polling_interval = 5;
    custom.layer_key_mode = "L3".into();
    let s = custom.settings("host").unwrap();
    assert_eq!(
        (s.port, s.header_size, s.sampling_rate, s.polling_interval),
        (7000, 128, 100, 5)
    );
    assert_eq!(s.layer_key_mode, Some(LayerKeyMode::L3));
}

#[test]
fn refusals_say_why() {
    let cases: Vec<(CaptureSpec, &str, &str)> = vec![
        (
            spec("afpacket"),
            "veth",
            "capture type afpacket is not supported yet",
        ),
        (
            spec(""),
            "veth",
            "capture type afpacket is not supported yet",
        ),
        (
            spec("ebpf"),
            "device",
            "capture type ebpf is not supported yet",
        ),
        (
            spec("pcap"),
            "device",
            "capture type pcap is not supported yet",
        ),
        (
            spec("ovssflow"),
            "veth",
            "cannot run on a node of type `veth`",
        ),
        (
            spec(""),
            "host",
            "no default capture type for a node of type `host`",
        ),
        (spec("tcpdump"), "veth", "unknown capture type `tcpdump`"),
        (
            CaptureSpec {
                bpf_filter: "tcp port 80".into(),
                ..spec("ovssflow")
            },
            "ovsbridge",
            "BPFFilter is not supported by ovssflow captures",
        ),
        (
            CaptureSpec {
                header_size: 9000,
                ..spec("sflow")
            },
            "veth",
            "HeaderSize 9000 is larger than 4096",
        ),
        (
            CaptureSpec {
                port: 6400,
                ..spec("ovssflow")
            },
            "ovsbridge",
            "Port (6400) applies to sflow captures only",
        ),
        (
            CaptureSpec {
                port: 70000,
                ..spec("sflow")
            },
            "veth",
            "Port 70000 is not a UDP port",
        ),
        (
            CaptureSpec {
                layer_key_mode: "L4".into(),
                ..spec("sflow")
            },
            "veth",
            "LayerKeyMode `L4` is not L2 or L3",
        ),
        (
            CaptureSpec {
                extra_tcp_metric: true,
                ..spec("sflow")
            },
            "veth",
            "ExtraTCPMetric",
        ),
        (
            CaptureSpec {
                extra_layers: json!(["DNS"]),
                ..spec("sflow")
            },
            "veth",
            "ExtraLayers",
        ),
        (
            CaptureSpec {
                target: "1.2.3.4:2055".into(),
                target_type: "netflowv5".into(),
                ..spec("ovssflow")
            },
            "ovsbridge",
            "Target/TargetType",
        ),
    ];
    for (s, node_type, want) in cases {
        let err = s.settings(node_type).unwrap_err().to_string();
        assert!(err.contains(want), "{node_type}: `{err}` lacks `{want}`");
    }
}

#[test]
fn skydive_capture_json_parses() {
    let s: CaptureSpec = serde_json::from_value(json!({
        "UUID": "7f3c", "GremlinQuery": "G.V().Has('Name', 'br-int')", "Name": "n", "Description": "d",
        "Type": "ovssflow", "HeaderSize": 0, "SamplingRate": 1, "PollingInterval": 10, "Port": 0,
        "LayerKeyMode": "L2", "ExtraLayers": 0, "RawPacketLimit": 0, "BPFFilter": "",
        "ExtraTCPMetric": false, "IPDefrag": false, "ReassembleTCP": false, "Count": 0
    }))
    .unwrap();
    assert_eq!(s.id, "7f3c");
    assert!(s.settings("ovsbridge").is_ok());
}

#[test]
fn targets_need_a_tid() {
    let mut n = Node::new(
        gen_id(&["br"]),
        Metadata::from_pairs([
            ("Name", json!("br-int")),
            ("Type", json!("ovsbridge")),
            ("UUID", json!("0b0a")),
        ]),
        "h".into(),
        "agent.h".into(),
    );
    let err = CaptureTarget::from_node(&n, "h").unwrap_err().to_string();
    assert!(err.contains("`br-int` has no `TID`"), "{err}");
    n.metadata.set("TID", json!("t1"));
    let t = CaptureTarget::from_node(&n, "h").unwrap();
    assert_eq!(
        (t.node_tid.as_str(), t.node_type.as_str(), t.uuid.as_deref()),
        ("t1", "ovsbridge", Some("0b0a"))
    );
}

#[tokio::test]
async fn a_failed_start_leaves_an_error_entry() {
    let graph = SharedGraph::new(GraphOptions::new("h", "agent.h"));
    let id = gen_id(&["veth"]);
    graph
        .write()
        .create_node(
            id.clone(),
            Metadata::from_pairs([
                ("Name", json!("v0")),
                ("Type", json!("veth")),
                ("TID", json!("t-v0")),
            ]),
        )
        .unwrap();
    let node = graph.read().node(&id).unwrap().clone();
    let (tx, _rx) = mpsc::channel(1);
    let ctx = CaptureContext::new(graph.clone(), "h", CapturesConfig::default(), tx);
    let target = CaptureTarget::from_node(&node, "h-tid").unwrap();
    let err = start(spec(""), target, &ctx).await.unwrap_err();
    assert!(matches!(
        err,
        CaptureError::Unsupported(CaptureType::Afpacket)
    ));
    let caps = graph
        .read()
        .node(&id)
        .unwrap()
        .metadata
        .get("Captures")
        .cloned();
    let caps = caps.expect("an error entry");
    assert_eq!(caps[0]["ID"], "c1");
    assert_eq!(caps[0]["State"], "error");
    assert_eq!(caps[0]["Type"], "afpacket");
    assert!(
        caps[0]["Error"]
            .as_str()
            .unwrap()
            .contains("not supported yet")
    );
    remove_capture_entry(&graph, &id, "c1");
    assert!(
        graph
            .read()
            .node(&id)
            .unwrap()
            .metadata
            .get("Captures")
            .is_none()
    );
}
