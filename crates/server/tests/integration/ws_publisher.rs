//! `/ws/publisher`: writes through messages, validation, origins, persistence policies.

use serde_json::json;

use crate::util::{TestAnalyzer, eventually, ids, msg, node_body, recv, send};

fn headers(host: &str, policy: &'static str) -> Vec<(&'static str, String)> {
    vec![
        ("X-Host-ID", host.to_owned()),
        ("X-Client-Type", "pytest".to_owned()),
        ("X-Persistence-Policy", policy.to_owned()),
    ]
}

async fn publisher(a: &TestAnalyzer, host: &str, policy: &'static str) -> crate::util::Ws {
    let h = headers(host, policy);
    let h: Vec<(&str, &str)> = h.iter().map(|(k, v)| (*k, v.as_str())).collect();
    a.ws("/ws/publisher", &h).await
}

#[tokio::test]
async fn publish_nodes_and_edges_seen_by_rest_and_subscribers() {
    let a = TestAnalyzer::start().await;
    let mut sub = a
        .ws(
            "/ws/subscriber",
            &[("X-Host-ID", "s"), ("X-Client-Type", "webui")],
        )
        .await;
    let mut p = publisher(&a, "pub1", "Persistent").await;

    send(&mut p, &msg("NodeAdded", "1", json!({"ID": "pn1", "Host": "elsewhere", "Origin": "ignored", "Metadata": {"Name": "a", "Type": "t"}}))).await;
    send(&mut p, &msg("NodeAdded", "2", node_body("pn2", "b", "t"))).await;
    send(&mut p, &msg("EdgeAdded", "3", json!({"ID": "pe", "Parent": "pn1", "Child": "pn2", "Metadata": {"RelationType": "ownership"}}))).await;
    // An update without Revision (as the Python client sends) replaces the metadata.
    send(
        &mut p,
        &msg(
            "NodeUpdated",
            "4",
            json!({"ID": "pn2", "Metadata": {"Name": "b", "Type": "t", "Up": true}}),
        ),
    )
    .await;
    send(&mut p, &msg("NodePartiallyUpdated", "5", json!({"ID": "pn1", "Revision": 10, "UpdatedAt": 1, "Ops": [{"Type": 1, "Key": "Color", "Value": "red"}]}))).await;

    let kinds: Vec<String> = {
        let mut v = Vec::new();
        for _ in 0..5 {
            v.push(recv(&mut sub).await["Type"].as_str().unwrap().to_owned());
        }
        v
    };
    assert_eq!(
        kinds,
        [
            "NodeAdded",
            "NodeAdded",
            "EdgeAdded",
            "NodeUpdated",
            "NodeUpdated"
        ]
    );

    let n1 = a.get("/api/node/pn1").await.json();
    assert_eq!(
        n1["Origin"], "pytest.pub1",
        "a publisher's elements carry its origin"
    );
    assert_eq!(n1["Host"], "elsewhere");
    assert_eq!(n1["Revision"], 10);
    assert_eq!(n1["Metadata"]["Color"], "red");
    assert_eq!(a.get("/api/node/pn2").await.json()["Metadata"]["Up"], true);
    assert_eq!(a.get("/api/edge/pe").await.json()["Origin"], "pytest.pub1");

    send(
        &mut p,
        &msg(
            "EdgeDeleted",
            "6",
            json!({"ID": "pe", "Parent": "pn1", "Child": "pn2", "Metadata": null}),
        ),
    )
    .await;
    send(
        &mut p,
        &msg("NodeDeleted", "7", json!({"ID": "pn2", "Metadata": null})),
    )
    .await;
    let (_, _) = crate::util::recv_until(&mut sub, |m| m["Type"] == "NodeDeleted").await;
    assert_eq!(a.get("/api/node/pn2").await.status, 404);
    assert_eq!(a.get("/api/edge/pe").await.status, 404);

    let status = a.get("/api/status").await.json();
    assert_eq!(status["Publishers"]["pub1"]["Received"], 7);
    assert_eq!(
        status["Publishers"]["pub1"]["PersistencePolicy"],
        "Persistent"
    );

    // Persistent: the node stays after the publisher leaves.
    p.close(None).await.unwrap();
    eventually("publisher gone from status", || async {
        a.get("/api/status").await.json()["Publishers"]
            .get("pub1")
            .is_none()
    })
    .await;
    assert_eq!(a.get("/api/node/pn1").await.status, 200);
    a.stop().await;
}

#[tokio::test]
async fn invalid_messages_get_error_replies_and_change_nothing() {
    let a = TestAnalyzer::start().await;
    let mut p = publisher(&a, "pub2", "Persistent").await;
    let cases = [
        (
            msg(
                "NodeAdded",
                "a",
                json!({"ID": "x", "Metadata": {"Name": "n"}}),
            ),
            "Metadata.Type",
        ),
        (
            msg(
                "EdgeAdded",
                "b",
                json!({"ID": "e", "Parent": "x", "Child": "y", "Metadata": {"RelationType": "l"}}),
            ),
            "missing node",
        ),
        (
            msg("NodeUpdated", "c", node_body("ghost", "a", "b")),
            "not found",
        ),
        (
            msg("Frobnicate", "d", json!({})),
            "unknown message type `Frobnicate`",
        ),
        (
            json!({"Namespace": "Flow", "Type": "NodeAdded", "UUID": "e", "Obj": {}}),
            "namespace `Flow`",
        ),
        (
            msg(
                "NodePartiallyUpdated",
                "f",
                json!({"ID": "x", "Revision": 2, "Ops": [{"Type": 3, "Key": "k"}]}),
            ),
            "unknown partial update type 3",
        ),
    ];
    for (m, want) in &cases {
        send(&mut p, m).await;
        let e = recv(&mut p).await;
        assert_eq!(e["Type"], "Error", "{m}");
        assert_eq!(e["UUID"], m["UUID"], "{m}");
        assert_eq!(e["Status"], 400);
        let text = e["Obj"]["error"].as_str().unwrap();
        assert!(text.contains(want), "{m}: `{text}` lacks `{want}`");
    }
    assert_eq!(
        a.get("/api/topology").await.json(),
        json!({"Nodes": [], "Edges": []})
    );
    let status = a.get("/api/status").await.json();
    assert_eq!(status["Publishers"]["pub2"]["Rejected"], cases.len());
    a.stop().await;
}

#[tokio::test]
async fn delete_on_disconnect_removes_the_publishers_subgraph() {
    let a = TestAnalyzer::start().await;
    a.post("/api/node", &node_body("api-node", "keep", "t"))
        .await;
    let mut p = publisher(&a, "pod1", "DeleteOnDisconnect").await;
    send(&mut p, &msg("NodeAdded", "1", node_body("tmp1", "a", "t"))).await;
    send(&mut p, &msg("NodeAdded", "2", node_body("tmp2", "b", "t"))).await;
    send(&mut p, &msg("EdgeAdded", "3", json!({"ID": "x", "Parent": "api-node", "Child": "tmp1", "Metadata": {"RelationType": "l2"}}))).await;
    // A SyncRequest is answered on the publisher endpoint too; its reply orders us after the writes.
    send(&mut p, &msg("SyncRequest", "sync", json!({}))).await;
    let reply = recv(&mut p).await;
    assert_eq!(reply["UUID"], "sync");
    assert_eq!(ids(&reply["Obj"]["Nodes"]), ["api-node", "tmp1", "tmp2"]);

    p.close(None).await.unwrap();
    eventually("the publisher's nodes are deleted", || async {
        ids(&a.get("/api/topology").await.json()["Nodes"]) == ["api-node"]
    })
    .await;
    assert_eq!(a.get("/api/edge/x").await.status, 404);
    a.stop().await;
}

#[tokio::test]
async fn sync_from_a_publisher_replaces_its_elements() {
    let a = TestAnalyzer::start().await;
    let mut p = publisher(&a, "agent9", "Persistent").await;
    send(&mut p, &msg("NodeAdded", "1", node_body("old", "a", "t"))).await;
    send(&mut p, &msg("Sync", "2", json!({"Nodes": [node_body("new1", "b", "t"), node_body("new2", "c", "t")], "Edges": []}))).await;
    send(&mut p, &msg("SyncRequest", "3", json!({}))).await;
    let reply = recv(&mut p).await;
    assert_eq!(ids(&reply["Obj"]["Nodes"]), ["new1", "new2"]);
    a.stop().await;
}

#[tokio::test]
async fn oversized_frames_close_the_connection_with_1009() {
    use futures::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let a = TestAnalyzer::start_with(|s| s.http.ws.max_message_bytes = 4096).await;
    let mut p = publisher(&a, "big", "Persistent").await;
    let big = msg(
        "NodeAdded",
        "1",
        json!({"ID": "big", "Metadata": {"Name": "a", "Type": "t", "Blob": "x".repeat(10_000)}}),
    );
    p.send(Message::Text(big.to_string().into())).await.unwrap();
    let close = loop {
        match tokio::time::timeout(crate::util::PATIENCE, p.next())
            .await
            .expect("an answer in time")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    let frame = close.expect("a close frame with a code");
    assert_eq!(frame.code, CloseCode::Size);
    assert!(
        frame.reason.contains("max_message_bytes"),
        "{}",
        frame.reason
    );
    assert_eq!(a.get("/api/node/big").await.status, 404);
    // The analyzer is fine and the host id is free again.
    eventually("publisher gone", || async {
        a.get("/api/status").await.json()["Publishers"]
            .get("big")
            .is_none()
    })
    .await;
    a.stop().await;
}

#[tokio::test]
async fn shutdown_closes_connections_with_1001_and_keeps_what_was_written() {
    use futures::StreamExt;
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

    let dir = tempfile::tempdir().unwrap();
    let a = TestAnalyzer::start_in(dir.path()).await;
    let mut p = publisher(&a, "stay", "Persistent").await;
    send(&mut p, &msg("NodeAdded", "1", node_body("kept", "a", "t"))).await;
    send(&mut p, &msg("SyncRequest", "2", json!({}))).await;
    assert_eq!(recv(&mut p).await["UUID"], "2");
    a.stop().await;
    let close = loop {
        match tokio::time::timeout(crate::util::PATIENCE, p.next())
            .await
            .expect("closed in time")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    };
    assert_eq!(close.expect("a code").code, CloseCode::Away);

    let b = TestAnalyzer::start_in(dir.path()).await;
    assert_eq!(
        b.get("/api/node/kept").await.json()["Origin"],
        "pytest.stay"
    );
    b.stop().await;
}
