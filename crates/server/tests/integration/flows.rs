//! Flows on the analyzer: batches taken through the ingestion path agents' updates use,
//! then read over HTTP (Gremlin flow steps, `/rpc/flows`, `/rpc/conversation`, status).

use serde_json::{Value, json};
use skydive_flow::{CaptureIds, Flow, FlowTable, FrameBuilder, LinkType, TableConfig, Timestamp};

use crate::util::TestAnalyzer;

const A: [u8; 6] = [2, 0, 0, 0, 0, 1];
const B: [u8; 6] = [2, 0, 0, 0, 0, 2];

/// `pings` echo requests and replies 10.0.0.1 → 10.0.0.2 on `node_tid`, and one TCP SYN
/// 10.0.0.3:40000 → 10.0.0.4:80 on `other_tid`, as flows.
fn flows(node_tid: &str, other_tid: &str, pings: u16) -> Vec<Flow> {
    let t0 = Timestamp::from_millis(skydive_graph::TimeMs::now().0 - 60_000);
    let ids = |tid: &str| CaptureIds {
        node_tid: tid.into(),
        capture_id: "cap-1".into(),
    };
    let mut table = FlowTable::new(TableConfig::default(), ids(node_tid));
    for seq in 0..pings {
        let at =
            |us: i64| Timestamp::from_nanos(t0.as_nanos() + (i64::from(seq) * 1000 + us) * 1000);
        let ping = FrameBuilder::new()
            .ethernet(A, B)
            .ipv4([10, 0, 0, 1], [10, 0, 0, 2])
            .icmpv4_echo_request(7, seq)
            .build();
        let pong = FrameBuilder::new()
            .ethernet(B, A)
            .ipv4([10, 0, 0, 2], [10, 0, 0, 1])
            .icmpv4_echo_reply(7, seq)
            .build();
        table
            .process_frame(&ping, ping.len() as u32, LinkType::Ethernet, at(0))
            .unwrap();
        table
            .process_frame(&pong, pong.len() as u32, LinkType::Ethernet, at(100))
            .unwrap();
    }
    table.tick(Timestamp::from_millis(t0.as_millis() + 40_000));
    let mut out = Vec::new();
    table.drain_flows(&mut out);

    let mut other = FlowTable::new(TableConfig::default(), ids(other_tid));
    let syn = FrameBuilder::new()
        .ethernet(A, B)
        .ipv4([10, 0, 0, 3], [10, 0, 0, 4])
        .tcp(40000, 80, skydive_flow::tcp_flags::SYN)
        .build();
    other
        .process_frame(&syn, syn.len() as u32, LinkType::Ethernet, t0)
        .unwrap();
    other.tick(Timestamp::from_millis(t0.as_millis() + 40_000));
    other.drain_flows(&mut out);
    out
}

fn as_array(v: &Value) -> &Vec<Value> {
    v.as_array().unwrap_or_else(|| panic!("an array: {v}"))
}

#[tokio::test]
async fn ingested_flows_answer_queries_rpc_and_status() {
    let a = TestAnalyzer::start().await;
    let br =
        json!({"ID": "br", "Metadata": {"Name": "br-int", "Type": "ovsbridge", "TID": "tid-br"}});
    assert_eq!(a.post("/api/node", &br).await.status, 201);
    let batch = flows("tid-br", "tid-other", 3);
    assert_eq!(batch.len(), 2);
    a.running().ingest_flows(batch).await;

    // Gremlin flow steps over the live flows.
    let all = a.query("G.Flows()").await;
    assert_eq!(as_array(&all).len(), 2, "{all}");
    let on_br = a.query("G.V().Has('Name', 'br-int').Flows()").await;
    let on_br = as_array(&on_br);
    assert_eq!(on_br.len(), 1, "{on_br:?}");
    let f = &on_br[0];
    assert_eq!(f["NodeTID"], "tid-br");
    assert_eq!(f["LayersPath"], "Ethernet/IPv4/ICMPv4");
    assert_eq!(f["Network"]["A"], "10.0.0.1");
    assert_eq!(f["Network"]["B"], "10.0.0.2");
    assert_eq!(f["Metric"]["ABPackets"], 3);
    assert_eq!(f["Metric"]["BAPackets"], 3);
    let tcp = a
        .query("G.Flows().Has('Transport.B', 80).Values('Network.A')")
        .await;
    assert_eq!(tcp, json!(["10.0.0.3"]));

    // v0.2's /rpc routes.
    let found = a.get("/rpc/flows?Network.A=10.0.0.1").await;
    assert_eq!(found.status, 200, "{}", found.text());
    let found = found.json();
    assert_eq!(as_array(&found).len(), 1, "{found}");
    assert_eq!(found[0]["UUID"], f["UUID"]);
    let none = a.get("/rpc/flows?Network.A=192.0.2.1").await.json();
    assert_eq!(none, json!([]));
    let conv = a.get("/rpc/conversation/ipv4").await;
    assert_eq!(conv.status, 200, "{}", conv.text());
    let conv = conv.json();
    assert_eq!(as_array(&conv["nodes"]).len(), 4, "{conv}");
    assert_eq!(as_array(&conv["links"]).len(), 2, "{conv}");
    assert_eq!(a.get("/rpc/conversation/ipx").await.status, 404);

    // Counters.
    let status = a.get("/api/status").await.json();
    assert_eq!(status["Flows"]["Live"]["Flows"], 2, "{status}");
    assert_eq!(status["Flows"]["Live"]["UpdatesApplied"], 2, "{status}");
    assert!(status["Flows"]["Store"].is_object(), "{status}");

    // Under At, flows come from the store. The flows' packets are a minute old: the window
    // reaches two minutes back, so a slow run does not leave them out.
    a.running().flows().store().unwrap().flush().unwrap();
    let now = skydive_graph::TimeMs::now().0;
    let past = a
        .query(&format!(
            "G.At({now}, 120).V().Has('Name', 'br-int').Flows().Count()"
        ))
        .await;
    assert_eq!(past, json!(1), "{past}");
    a.stop().await;
}

#[tokio::test]
async fn flow_subscribers_get_ingested_batches_filtered_by_capture() {
    let a = TestAnalyzer::start().await;
    let mut all = a.ws("/ws/subscriber/flow", &[]).await;
    let mut only = a.ws("/ws/subscriber/flow?capture_id=cap-2", &[]).await;
    // Connections are served once upgraded: wait until both are subscribed.
    crate::util::eventually("two flow subscribers", || async {
        a.get("/api/status").await.json()["Flows"]["Subscribers"] == 2
    })
    .await;

    let first = flows("tid-br", "tid-other", 1);
    let mut second = flows("tid-br2", "tid-other2", 2);
    for f in &mut second {
        f.capture_id = "cap-2".into();
    }
    a.running().ingest_flows(first).await;
    a.running().ingest_flows(second).await;

    let m = crate::util::recv(&mut all).await;
    assert_eq!(m["Namespace"], "Flow");
    assert_eq!(m["Type"], "store");
    assert_eq!(as_array(&m["Obj"]).len(), 2, "{m}");
    assert_eq!(m["Obj"][0]["CaptureID"], "cap-1");
    let m = crate::util::recv(&mut all).await;
    assert_eq!(m["Obj"][0]["CaptureID"], "cap-2");

    let m = crate::util::recv(&mut only).await;
    let got = as_array(&m["Obj"]);
    assert_eq!(got.len(), 2, "{m}");
    assert!(got.iter().all(|f| f["CaptureID"] == "cap-2"), "{m}");
    a.stop().await;
}

#[tokio::test]
async fn agents_send_flow_batches_over_the_agent_protocol() {
    let a = TestAnalyzer::start().await;
    // The handshake advertises the `flows` feature.
    let mut req = tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(
        format!("ws://{}/ws/agent/topology", a.addr),
    )
    .unwrap();
    for (k, v) in [
        ("X-Host-ID", "fa"),
        ("X-Client-Type", "agent"),
        crate::agents::PROTOCOL,
        ("X-Skydive-Agent-Features", "flows"),
    ] {
        req.headers_mut().insert(k, v.parse().unwrap());
    }
    let (ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    let offered = resp.headers()["X-Skydive-Agent-Features"].to_str().unwrap();
    assert!(offered.split(',').any(|f| f.trim() == "flows"), "{offered}");
    let mut agent = crate::agents::FakeAgent::from_ws(ws);
    agent.sync(1, vec![], vec![]).await;

    let batch = flows("tid-br", "tid-other", 2);
    agent
        .send("Flows", json!({"Flows": batch, "Dropped": 3}))
        .await;
    crate::util::eventually("flows from the agent", || async {
        a.get("/api/status").await.json()["Flows"]["Live"]["Flows"] == 2
    })
    .await;
    let status = a.get("/api/status").await.json();
    assert_eq!(status["Flows"]["AgentUpdatesDropped"], 3, "{status}");
    let icmp = a
        .query("G.Flows().Has('NodeTID', 'tid-br').Values('Metric.ABPackets')")
        .await;
    assert_eq!(icmp, json!([2]));

    // Too big a batch is a protocol error, like any undecodable message.
    let many: Vec<Value> = (0..10_001).map(|_| json!({})).collect();
    agent.send("Flows", json!({"Flows": many})).await;
    let reply = agent.recv().await;
    assert!(
        matches!(&reply, Ok(v) if v["Type"] == "Error") || reply.is_err(),
        "{reply:?}"
    );
    a.stop().await;
}
