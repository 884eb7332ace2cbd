//! Capture orchestration between analyzer and agent, without OVS: an `sflow` capture (a plain
//! collector) created through the analyzer's API runs on the agent node its `GremlinQuery`
//! selects, flows from an exporter reach the analyzer, `Count` follows, and deleting the
//! capture stops it (the port is free again, the node's entry goes). Needs no privilege.

use std::net::UdpSocket;
use std::time::Duration;

use serde_json::{Value, json};
use skydive_flow::FrameBuilder;
use skydive_flow::sflow::{
    DatagramEncoder, FlowRecord, FlowSampleInfo, Interface, RawPacketHeader, SourceId,
};

use crate::agents::{TestAgent, agent_settings, host_id};
use crate::util::{TestAnalyzer, eventually};

fn free_udp_port() -> u16 {
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One datagram: `n` ICMP echo requests from 10.9.0.1 to 10.9.0.2, sampled 1 in 1.
fn datagram(seq: u32, n: u16) -> Vec<u8> {
    let mut enc = DatagramEncoder::new([192, 0, 2, 9].into(), 0, seq, 1000 + seq);
    for i in 0..n {
        let frame = FrameBuilder::new()
            .ethernet([2, 0, 0, 0, 9, 1], [2, 0, 0, 0, 9, 2])
            .ipv4([10, 9, 0, 1], [10, 9, 0, 2])
            .icmpv4_echo_request(7, i)
            .build();
        let info = FlowSampleInfo {
            sequence: seq * 1000 + u32::from(i),
            source: SourceId { kind: 0, index: 3 },
            sampling_rate: 1,
            sample_pool: u32::from(i) + 1,
            input: Interface {
                format: 0,
                value: 3,
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
    enc.finish()
}

async fn agent_status(agent: &TestAgent) -> Value {
    crate::util::http(agent.addr, hyper::Method::GET, "/api/status", None, &[])
        .await
        .json()
}

/// The capture's entry on the analyzer's copy of the host node, if any.
async fn host_entry(a: &TestAnalyzer, host: &str, capture: &str) -> Option<Value> {
    let v = a
        .query(&format!(
            "G.V().Has('Type', 'host', 'Name', '{host}').Values('Captures')"
        ))
        .await;
    v.as_array()?
        .iter()
        .flat_map(|l| l.as_array().cloned().unwrap_or_default())
        .find(|e| e["ID"] == capture)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_capture_runs_on_the_selected_agent_node_and_stops_when_deleted() {
    let a = TestAnalyzer::start().await;
    let host = host_id("cap");
    let port = free_udp_port();
    // Created before the agent connects: the list is pushed on connect.
    let created = a
        .post(
            "/api/capture",
            &json!({
                "GremlinQuery": format!("G.V().Has('Type', 'host', 'Name', '{host}')"),
                "Type": "sflow", "Port": port, "Name": "exporter",
            }),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.text());
    let id = created.json()["UUID"].as_str().unwrap().to_owned();
    // A capture this node cannot run: an error entry, no count.
    let wrong = a
        .post(
            "/api/capture",
            &json!({
                "GremlinQuery": format!("G.V().Has('Type', 'host', 'Name', '{host}')"),
                "Type": "ovssflow",
            }),
        )
        .await;
    let wrong_id = wrong.json()["UUID"].as_str().unwrap().to_owned();

    let dir = tempfile::tempdir().unwrap();
    let mut s = agent_settings(&host, vec![a.addr.to_string()]);
    s.agent.topology.netns.run_path = dir.path().to_owned();
    s.flow.update = 1;
    let agent = TestAgent::start_with(s, Some(dir)).await;

    eventually("the capture runs on the host node", || async {
        host_entry(&a, &host, &id)
            .await
            .is_some_and(|e| e["State"] == "active")
    })
    .await;
    let entry = host_entry(&a, &host, &id).await.unwrap();
    assert_eq!(entry["Type"], "sflow");
    assert_eq!(entry["SFlowSocket"], format!("127.0.0.1:{port}"));
    let wrong_entry = host_entry(&a, &host, &wrong_id).await.expect("error entry");
    assert_eq!(wrong_entry["State"], "error");
    assert!(
        wrong_entry["Error"].as_str().unwrap().contains("ovsbridge"),
        "{wrong_entry}"
    );
    let listed = a.get("/api/capture").await.json();
    assert_eq!(listed[&id]["Count"], 1, "{listed}");
    assert_eq!(listed[&wrong_id]["Count"], 0, "{listed}");
    let status = agent_status(&agent).await;
    let per_node = status["Captures"][&id].as_object().expect("status entry");
    assert_eq!(per_node.len(), 1, "{status}");
    assert_eq!(per_node.values().next().unwrap()["State"], "active");

    // An exporter sends 3 datagrams of 5 samples: one flow of 15 packets, on the host node.
    let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
    for seq in 1..=3 {
        tx.send_to(&datagram(seq, 5), ("127.0.0.1", port)).unwrap();
    }
    let host_tid = a
        .query(&format!(
            "G.V().Has('Type', 'host', 'Name', '{host}').Values('TID')"
        ))
        .await[0]
        .clone();
    let q = format!("G.Flows().Has('CaptureID', '{id}', 'Network.A', '10.9.0.1')");
    eventually(
        "the flow reaches the analyzer with its 15 packets",
        || async {
            let f = a.query(&q).await;
            f.as_array()
                .and_then(|l| l.first())
                .is_some_and(|f| f["Metric"]["ABPackets"] == 15)
        },
    )
    .await;
    let flow = a.query(&q).await[0].clone();
    assert_eq!(flow["NodeTID"], host_tid, "{flow}");
    assert_eq!(flow["Network"]["B"], "10.9.0.2");
    let forwarded = agent_status(&agent).await["Forwarder"]["FlowsSent"]
        .as_u64()
        .unwrap();
    assert!(forwarded >= 1, "FlowsSent {forwarded}");

    // Deleting stops it on the agent: the entry goes, the port is free again.
    assert_eq!(a.delete(&format!("/api/capture/{id}")).await.status, 200);
    assert_eq!(
        a.delete(&format!("/api/capture/{wrong_id}")).await.status,
        200
    );
    eventually("the capture's entries leave the host node", || async {
        host_entry(&a, &host, &id).await.is_none()
            && host_entry(&a, &host, &wrong_id).await.is_none()
    })
    .await;
    eventually("the collector's port is free", || async {
        UdpSocket::bind(("127.0.0.1", port)).is_ok()
    })
    .await;
    assert_eq!(agent_status(&agent).await["Captures"], json!({}));
    agent.stop().await;
    a.stop().await;
    tokio::time::sleep(Duration::from_millis(10)).await;
}
