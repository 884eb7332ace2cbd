//! `/ws/subscriber`: handshake, SyncRequest/SyncReply, live events, filters, update policy,
//! resync after lost events.

use serde_json::{Value, json};
use tokio_tungstenite::tungstenite;

use crate::util::{
    TestAnalyzer, edge_body, ids, msg, node_body, recv, recv_until, send, ws_connect,
};

const SUB: &[(&str, &str)] = &[("X-Host-ID", "sub1"), ("X-Client-Type", "webui")];

#[tokio::test]
async fn sync_then_live_events() {
    let a = TestAnalyzer::start().await;
    a.post("/api/node", &node_body("h", "host1", "host")).await;
    let mut ws = a.ws("/ws/subscriber", SUB).await;

    send(&mut ws, &msg("SyncRequest", "req-1", json!({}))).await;
    let reply = recv(&mut ws).await;
    assert_eq!(reply["Namespace"], "Graph");
    assert_eq!(reply["Type"], "SyncReply");
    assert_eq!(reply["UUID"], "req-1");
    assert_eq!(reply["Status"], 200);
    assert_eq!(ids(&reply["Obj"]["Nodes"]), ["h"]);
    assert_eq!(reply["Obj"]["Edges"], json!([]));

    a.post("/api/node", &node_body("i", "eth0", "device")).await;
    a.post("/api/edge", &edge_body("e", "h", "i")).await;
    a.patch(
        "/api/node/i",
        &json!([{"op": "add", "path": "/Metadata/MTU", "value": 1500}]),
    )
    .await;
    a.delete("/api/node/i").await;

    let mut seen = Vec::new();
    for _ in 0..5 {
        let m = recv(&mut ws).await;
        assert_eq!(m["Namespace"], "Graph");
        assert_eq!(m["Status"], 200);
        seen.push((
            m["Type"].as_str().unwrap().to_owned(),
            m["Obj"]["ID"].as_str().unwrap().to_owned(),
        ));
        if m["Type"] == "NodeUpdated" {
            assert_eq!(
                m["Obj"]["Metadata"]["MTU"], 1500,
                "full policy: the whole node"
            );
        }
        if m["Type"] == "NodeDeleted" {
            assert!(m["Obj"]["DeletedAt"].is_i64(), "{m}");
        }
    }
    let seen: Vec<(&str, &str)> = seen.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("NodeAdded", "i"),
            ("EdgeAdded", "e"),
            ("NodeUpdated", "i"),
            ("EdgeDeleted", "e"),
            ("NodeDeleted", "i")
        ]
    );
    a.stop().await;
}

#[tokio::test]
async fn partial_update_policy() {
    let a = TestAnalyzer::start().await;
    a.post("/api/node", &node_body("n", "eth0", "device")).await;
    let mut ws = a.ws("/ws/subscriber?x-update-policy=partial", SUB).await;
    send(&mut ws, &msg("SyncRequest", "s", json!({}))).await;
    assert_eq!(recv(&mut ws).await["Type"], "SyncReply");
    a.patch(
        "/api/node/n",
        &json!([{"op": "add", "path": "/Metadata/Color", "value": "blue"}]),
    )
    .await;
    let m = recv(&mut ws).await;
    assert_eq!(m["Type"], "NodePartiallyUpdated", "{m}");
    assert_eq!(m["Obj"]["ID"], "n");
    assert_eq!(m["Obj"]["Revision"], 2);
    assert_eq!(
        m["Obj"]["Ops"],
        json!([{"Type": 1, "Key": "Color", "Value": "blue"}])
    );
    a.stop().await;
}

#[tokio::test]
async fn header_filter_restricts_sync_and_events() {
    let a = TestAnalyzer::start().await;
    a.post("/api/node", &node_body("h1", "host1", "host")).await;
    a.post("/api/node", &node_body("d1", "eth0", "device"))
        .await;
    let headers = [
        ("X-Host-ID", "f1"),
        ("X-Client-Type", "webui"),
        ("X-Gremlin-Filter", "G.V().Has('Type', 'host')"),
    ];
    let mut ws = a.ws("/ws/subscriber", &headers).await;
    // The Python client sends the same filter again in its SyncRequest.
    send(
        &mut ws,
        &msg(
            "SyncRequest",
            "s1",
            json!({"GremlinFilter": "G.V().Has('Type', 'host')"}),
        ),
    )
    .await;
    let reply = recv(&mut ws).await;
    assert_eq!(reply["Type"], "SyncReply");
    assert_eq!(ids(&reply["Obj"]["Nodes"]), ["h1"]);

    // A device: not in the filter, nothing sent. A host: sent.
    a.post("/api/node", &node_body("d2", "eth1", "device"))
        .await;
    a.post("/api/node", &node_body("h2", "host2", "host")).await;
    let m = recv(&mut ws).await;
    assert_eq!(
        (m["Type"].as_str(), m["Obj"]["ID"].as_str()),
        (Some("NodeAdded"), Some("h2")),
        "{m}"
    );

    // Updates inside the filter are forwarded; outside they are not.
    a.patch(
        "/api/node/d1",
        &json!([{"op": "add", "path": "/Metadata/X", "value": 1}]),
    )
    .await;
    a.patch(
        "/api/node/h1",
        &json!([{"op": "add", "path": "/Metadata/X", "value": 2}]),
    )
    .await;
    let m = recv(&mut ws).await;
    assert_eq!(
        (m["Type"].as_str(), m["Obj"]["ID"].as_str()),
        (Some("NodeUpdated"), Some("h1")),
        "{m}"
    );

    a.delete("/api/node/d1").await;
    a.delete("/api/node/h2").await;
    let m = recv(&mut ws).await;
    assert_eq!(
        (m["Type"].as_str(), m["Obj"]["ID"].as_str()),
        (Some("NodeDeleted"), Some("h2")),
        "{m}"
    );

    // Clearing the filter: everything again.
    send(
        &mut ws,
        &msg("SyncRequest", "s2", json!({"GremlinFilter": ""})),
    )
    .await;
    let (reply, _) = recv_until(&mut ws, |m| m["UUID"] == "s2").await;
    assert_eq!(ids(&reply["Obj"]["Nodes"]), ["d2", "h1"]);
    a.stop().await;
}

#[tokio::test]
async fn filter_by_query_parameter_and_bad_filters() {
    let a = TestAnalyzer::start().await;
    a.post("/api/node", &node_body("h1", "host1", "host")).await;
    let q = "/ws/subscriber?x-host-id=b1&x-client-type=webui&x-gremlin-filter=G.V().Has(%27Name%27%2C%20%27host1%27)";
    let mut ws = ws_connect(a.addr, q, &[]).await.expect("connects");
    send(&mut ws, &msg("SyncRequest", "s", Value::Null)).await;
    let reply = recv(&mut ws).await;
    assert_eq!(ids(&reply["Obj"]["Nodes"]), ["h1"]);

    // A bad filter in a SyncRequest: a 400 SyncReply, the connection stays usable.
    send(
        &mut ws,
        &msg(
            "SyncRequest",
            "bad",
            json!({"GremlinFilter": "G.V().Nope()"}),
        ),
    )
    .await;
    let reply = recv(&mut ws).await;
    assert_eq!(
        (
            reply["Type"].as_str(),
            reply["UUID"].as_str(),
            reply["Status"].as_i64()
        ),
        (Some("SyncReply"), Some("bad"), Some(400))
    );
    assert!(reply["Obj"].as_str().unwrap().contains("column"), "{reply}");

    // Garbage: an Error message with what was wrong.
    ws_send_text(&mut ws, "{not json").await;
    let e = recv(&mut ws).await;
    assert_eq!(e["Type"], "Error");
    assert_eq!(e["Status"], 400);
    assert!(
        e["Obj"]["error"]
            .as_str()
            .unwrap()
            .contains("malformed JSON"),
        "{e}"
    );

    // A bad filter in the handshake is refused before the upgrade.
    let r = ws_connect(
        a.addr,
        "/ws/subscriber",
        &[("X-Client-Type", "x"), ("X-Gremlin-Filter", "G.V(")],
    )
    .await;
    match r {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 400),
        other => panic!("expected a 400, got {other:?}"),
    }
    a.stop().await;
}

async fn ws_send_text(ws: &mut crate::util::Ws, text: &str) {
    use futures::SinkExt;
    ws.send(tungstenite::Message::Text(text.into()))
        .await
        .expect("send");
}

#[tokio::test]
async fn handshake_rules() {
    let a = TestAnalyzer::start().await;
    let r = ws_connect(a.addr, "/ws/subscriber", &[("X-Host-ID", "nobody")]).await;
    match r {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 400);
            let body =
                String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned();
            assert!(body.contains("X-Client-Type"), "{body}");
        }
        other => panic!("expected a 400, got {other:?}"),
    }
    let _first = a.ws("/ws/subscriber", SUB).await;
    match ws_connect(a.addr, "/ws/subscriber", SUB).await {
        Err(tungstenite::Error::Http(resp)) => assert_eq!(resp.status(), 409),
        other => panic!("expected a 409 for a duplicate host id, got {other:?}"),
    }
    let status = a.get("/api/status").await.json();
    let s = &status["Subscribers"]["sub1"];
    assert_eq!(s["ServiceType"], "webui");
    assert_eq!(s["IsConnected"], true);
    assert!(s["ConnectTime"].is_string());
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_loses_events_is_resynced() {
    let a = TestAnalyzer::start_with(|s| s.http.ws.queue_size = 2).await;
    let mut ws = a.ws("/ws/subscriber", SUB).await;
    send(&mut ws, &msg("SyncRequest", "s", json!({}))).await;
    assert_eq!(recv(&mut ws).await["Type"], "SyncReply");

    // Many changes at once: far more than the queue holds.
    {
        let mut g = a.running().graph().write();
        for i in 0..2000 {
            let id = format!("n{i:04}");
            g.create_node(
                id.clone().into(),
                skydive_graph::Metadata::from_pairs([("Name", json!(id)), ("Type", json!("t"))]),
            )
            .unwrap();
        }
    }
    // Whatever got through, a full SyncReply (fresh UUID) with every node follows.
    let (resync, _) = recv_until(&mut ws, |m| m["Type"] == "SyncReply").await;
    assert_ne!(resync["UUID"], "s");
    assert_eq!(resync["Obj"]["Nodes"].as_array().unwrap().len(), 2000);

    let status = a.get("/api/status").await.json();
    let s = &status["Subscribers"]["sub1"];
    assert!(s["Dropped"].as_u64().unwrap() > 0, "{s}");
    assert!(s["Resyncs"].as_u64().unwrap() >= 1, "{s}");
    assert!(
        status["WebSocket"]["Subscribers"]["Dropped"]
            .as_u64()
            .unwrap()
            > 0
    );
    a.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_behind_the_event_ring_is_resynced() {
    // A tiny event ring: a burst of changes overruns it (or the send queue, whichever the
    // subscriber hits first); either way the loss is counted and repaired by a SyncReply.
    let a = TestAnalyzer::start_with(|s| s.analyzer.topology.buffer_events = 4).await;
    let mut ws = a.ws("/ws/subscriber", SUB).await;
    send(&mut ws, &msg("SyncRequest", "s", json!({}))).await;
    assert_eq!(recv(&mut ws).await["Type"], "SyncReply");
    {
        let mut g = a.running().graph().write();
        for i in 0..500 {
            let id = format!("n{i:03}");
            g.create_node(
                id.clone().into(),
                skydive_graph::Metadata::from_pairs([("Name", json!(id)), ("Type", json!("t"))]),
            )
            .unwrap();
        }
    }
    let (resync, skipped) = recv_until(&mut ws, |m| m["Type"] == "SyncReply").await;
    assert_eq!(resync["Obj"]["Nodes"].as_array().unwrap().len(), 500);
    assert!(
        skipped.len() < 500,
        "some events were lost, hence the resync"
    );
    let status = a.get("/api/status").await.json();
    let s = &status["Subscribers"]["sub1"];
    assert!(s["Dropped"].as_u64().unwrap() > 0, "{s}");
    assert!(s["Resyncs"].as_u64().unwrap() >= 1, "{s}");
    a.stop().await;
}

#[tokio::test]
async fn write_messages_are_refused_on_the_subscriber_endpoint() {
    let a = TestAnalyzer::start().await;
    let mut ws = a.ws("/ws/subscriber", SUB).await;
    send(&mut ws, &msg("NodeAdded", "w", node_body("x", "a", "b"))).await;
    let e = recv(&mut ws).await;
    assert_eq!(
        (e["Type"].as_str(), e["UUID"].as_str(), e["Status"].as_i64()),
        (Some("Error"), Some("w"), Some(400))
    );
    assert!(
        e["Obj"]["error"]
            .as_str()
            .unwrap()
            .contains("/ws/publisher"),
        "{e}"
    );
    assert_eq!(a.get("/api/node/x").await.status, 404);
    a.stop().await;
}
