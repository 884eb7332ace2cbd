//! History: `At()` answers the same before and after an analyzer restart on the same data
//! directory; API-created elements survive; a `SyncRequest` with `Time` reads the past.

use std::time::Duration;

use serde_json::json;

use crate::util::{TestAnalyzer, ids, msg, node_body, recv, send};

/// Waits until the wall clock has passed `t` (epoch ms), so later changes get later times.
async fn after(t: i64) {
    while now_ms() <= t {
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test]
async fn at_answers_the_same_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAnalyzer::start_in(dir.path()).await;
    a.post("/api/node", &node_body("keep", "eth0", "device"))
        .await;
    a.post("/api/node", &node_body("gone", "eth1", "device"))
        .await;
    a.patch(
        "/api/node/keep",
        &json!([{"op": "add", "path": "/Metadata/State", "value": "UP"}]),
    )
    .await;
    let t1 = now_ms();
    after(t1).await;
    a.delete("/api/node/gone").await;
    a.patch(
        "/api/node/keep",
        &json!([{"op": "replace", "path": "/Metadata/State", "value": "DOWN"}]),
    )
    .await;
    a.post("/api/node", &node_body("late", "eth2", "device"))
        .await;

    let past_query = format!("G.At({t1}).V()");
    let before = a.query(&past_query).await;
    assert_eq!(ids(&before), ["gone", "keep"]);
    let state_then = |v: &serde_json::Value| {
        v.as_array()
            .unwrap()
            .iter()
            .find(|n| n["ID"] == "keep")
            .map(|n| n["Metadata"]["State"].clone())
    };
    assert_eq!(state_then(&before), Some(json!("UP")));
    let live_before = a.query("G.V()").await;
    assert_eq!(ids(&live_before), ["keep", "late"]);
    a.stop().await;

    let b = TestAnalyzer::start_in(dir.path()).await;
    let after_restart = b.query(&past_query).await;
    assert_eq!(ids(&after_restart), ids(&before));
    assert_eq!(state_then(&after_restart), Some(json!("UP")));
    // API-created elements survive the restart, in their last state.
    let live = b.query("G.V()").await;
    assert_eq!(ids(&live), ["keep", "late"]);
    let keep = b.get("/api/node/keep").await.json();
    assert_eq!(keep["Metadata"]["State"], "DOWN");
    assert_eq!(keep["Origin"], "api.test-analyzer");

    // The past through a subscriber's SyncRequest{Time}.
    let mut ws = b
        .ws(
            "/ws/subscriber",
            &[("X-Host-ID", "h"), ("X-Client-Type", "webui")],
        )
        .await;
    send(&mut ws, &msg("SyncRequest", "past", json!({"Time": t1}))).await;
    let reply = recv(&mut ws).await;
    assert_eq!(
        (
            reply["Type"].as_str(),
            reply["UUID"].as_str(),
            reply["Status"].as_i64()
        ),
        (Some("SyncReply"), Some("past"), Some(200))
    );
    assert_eq!(ids(&reply["Obj"]["Nodes"]), ["gone", "keep"]);
    b.stop().await;
}

#[tokio::test]
async fn without_history_at_and_past_syncs_are_refused_clearly() {
    let a = TestAnalyzer::start_with(|s| s.history = None).await;
    let r = a
        .post(
            "/api/topology",
            &json!({"GremlinQuery": "G.At(1700000000000).V()"}),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.text());
    let mut ws = a
        .ws(
            "/ws/subscriber",
            &[("X-Host-ID", "h"), ("X-Client-Type", "webui")],
        )
        .await;
    send(
        &mut ws,
        &msg("SyncRequest", "p", json!({"Time": 1700000000000i64})),
    )
    .await;
    let reply = recv(&mut ws).await;
    assert_eq!(reply["Status"], 400);
    assert!(reply["Obj"].as_str().unwrap().contains("memory"), "{reply}");
    assert_eq!(
        a.get("/api/status").await.json()["HistoryBackend"],
        "memory"
    );
    a.stop().await;
}

/// A query of the past does not need the live graph: it answers while a writer holds the
/// live graph's lock (before, `G.At(…)` waited for the lock, and a long history read held
/// it against every agent's sync).
#[tokio::test]
async fn a_query_of_the_past_answers_while_the_live_graph_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAnalyzer::start_in(dir.path()).await;
    a.post("/api/node", &node_body("then", "eth0", "device"))
        .await;
    let t = now_ms();
    after(t).await;

    let graph = a.running().graph().clone();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let writer = std::thread::spawn(move || {
        let _held = graph.write();
        locked_tx.send(()).unwrap();
        let _ = release_rx.recv_timeout(Duration::from_secs(30));
    });
    locked_rx.recv().unwrap();
    let past = tokio::time::timeout(Duration::from_secs(10), a.query(&format!("G.At({t}).V()")))
        .await
        .expect("the past answered while the live graph was locked");
    assert_eq!(ids(&past), ["then"]);
    // A live query waits for the writer, as it must.
    let live = tokio::time::timeout(Duration::from_millis(300), a.query("G.V()")).await;
    assert!(live.is_err(), "a live query ran under a writer's lock");
    release_tx.send(()).unwrap();
    writer.join().unwrap();
    assert_eq!(ids(&a.query("G.V()").await), ["then"]);
}
