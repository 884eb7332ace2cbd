//! The analyzer restarts (same data directory, same address) under a running agent: the agent
//! reconnects and resyncs, the restored subgraph is reconciled rather than re-created, and
//! `At()` a time before the restart gives the earlier answer.

use std::time::Duration;

use serde_json::{Value, json};

use crate::agents::{TestAgent, host_id, wait_mirrored};
use crate::util::{Resp, TestAnalyzer, eventually, http, settings};

async fn on_agent(ag: &TestAgent, method: hyper::Method, path: &str, body: Option<Value>) -> Resp {
    let body = body.map(|b| b.to_string());
    http(
        ag.addr,
        method,
        path,
        body.as_deref().map(str::as_bytes),
        &[("Content-Type", "application/json")],
    )
    .await
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn host_node(a: &TestAnalyzer, h: &str) -> Value {
    let v = a
        .query(&format!("G.V().Has('Type', 'host', 'Name', '{h}')"))
        .await;
    assert_eq!(v.as_array().map(Vec::len), Some(1), "{v}");
    v[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn analyzer_restart_resyncs_and_keeps_history() {
    let dir = tempfile::tempdir().unwrap();
    let a = TestAnalyzer::start_in(dir.path()).await;
    let addr = a.addr;
    let h = host_id("restart");
    let ag = TestAgent::start(&h, addr).await;
    wait_mirrored(&a, &ag).await;

    // A node made on the agent (through its own API) reaches the analyzer under the agent's origin.
    let r = on_agent(
        &ag,
        hyper::Method::POST,
        "/api/node",
        Some(
            json!({"ID": "marker-before", "Metadata": {"Name": "marker-before", "Type": "device"}}),
        ),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());
    eventually("the marker reaches the analyzer", || async {
        a.query("G.V().Has('Name', 'marker-before').Values('@Origin')")
            .await
            == json!([format!("agent.{h}")])
    })
    .await;
    let host_before = host_node(&a, &h).await;
    let t1 = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;

    // The analyzer stops; meanwhile the agent's graph changes.
    a.stop().await;
    let r = on_agent(&ag, hyper::Method::DELETE, "/api/node/marker-before", None).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let r = on_agent(
        &ag,
        hyper::Method::POST,
        "/api/node",
        Some(json!({"ID": "marker-after", "Metadata": {"Name": "marker-after", "Type": "device"}})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text());

    // Same directory, same address: the agent finds it again and resyncs.
    let mut s = settings(Some(dir.path()));
    s.analyzer.listen = addr.to_string();
    let a = TestAnalyzer::start_settings(s).await;
    wait_mirrored(&a, &ag).await;
    assert_eq!(
        a.query("G.V().Has('Name', 'marker-before')").await,
        json!([])
    );
    assert_eq!(
        a.query("G.V().Has('Name', 'marker-after').Values('Name')")
            .await,
        json!(["marker-after"])
    );
    let st = a.get("/api/status").await.json();
    let sync = &st["Agents"][&h]["LastSync"];
    assert_eq!(sync["Added"], 1, "only the new marker is added: {st}");
    assert_eq!(sync["Deleted"], 1, "only the old marker is deleted: {st}");
    // The host node was reconciled, not deleted and re-created.
    let host_after = host_node(&a, &h).await;
    assert_eq!(host_after["CreatedAt"], host_before["CreatedAt"]);
    assert!(host_after["Revision"].as_i64() >= host_before["Revision"].as_i64());

    // The past answers as before the restart.
    assert_eq!(
        a.query(&format!(
            "G.At({t1}).V().Has('Name', 'marker-before').Values('@Origin')"
        ))
        .await,
        json!([format!("agent.{h}")])
    );
    assert_eq!(
        a.query(&format!("G.At({t1}).V().Has('Name', 'marker-after')"))
            .await,
        json!([])
    );
    ag.stop().await;
    a.stop().await;
}
