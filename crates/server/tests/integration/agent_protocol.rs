//! `/ws/agent/topology` frame by frame: the handshake's refusals, a sync reconciled rather
//! than replaced, deltas, protocol errors, `Bye`, and the grace period of a lost agent.

use std::time::Duration;

use serde_json::{Value, json};

use crate::agents::{FakeAgent, PROTOCOL, edge, node};
use crate::util::{TestAnalyzer, eventually, ids, ws_connect};

async fn handshake_status(a: &TestAnalyzer, headers: &[(&str, &str)]) -> (u16, String) {
    match ws_connect(a.addr, "/ws/agent/topology", headers).await {
        Ok(_) => (101, String::new()),
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => (
            resp.status().as_u16(),
            String::from_utf8_lossy(resp.body().as_deref().unwrap_or_default()).into_owned(),
        ),
        Err(e) => panic!("{e}"),
    }
}

#[tokio::test]
async fn handshake_refusals_say_what_to_do() {
    let a = TestAnalyzer::start().await;
    let (s, body) = handshake_status(&a, &[("X-Host-ID", "h"), ("X-Client-Type", "agent")]).await;
    assert_eq!(s, 400);
    assert!(
        body.contains("X-Skydive-Agent-Protocol header is required"),
        "{body}"
    );
    let (s, body) = handshake_status(
        &a,
        &[
            ("X-Host-ID", "h"),
            ("X-Client-Type", "agent"),
            ("X-Skydive-Agent-Protocol", "9"),
        ],
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("speaks version 1"), "{body}");
    let (s, body) = handshake_status(
        &a,
        &[("X-Host-ID", "h"), ("X-Client-Type", "webui"), PROTOCOL],
    )
    .await;
    assert_eq!(s, 400);
    assert!(body.contains("is for agents"), "{body}");
    let (s, body) = handshake_status(&a, &[("X-Client-Type", "agent"), PROTOCOL]).await;
    assert_eq!(s, 400);
    assert!(body.contains("X-Host-ID is required"), "{body}");

    let _first = FakeAgent::connect(&a, "dup").await;
    let (s, body) = handshake_status(
        &a,
        &[("X-Host-ID", "dup"), ("X-Client-Type", "agent"), PROTOCOL],
    )
    .await;
    assert_eq!(s, 409, "{body}");
    assert!(body.contains("`dup` is already connected"), "{body}");
    a.stop().await;
}

#[tokio::test]
async fn resync_reconciles_instead_of_replacing() {
    let a = TestAnalyzer::start().await;
    let mut ag = FakeAgent::connect(&a, "h1").await;
    let done = ag
        .sync(
            1,
            vec![
                node("host", "h1", json!({"Type": "host"})),
                node("eth0", "eth0", json!({"MTU": 1500})),
                node("eth1", "eth1", json!({})),
            ],
            vec![edge("o1", "host", "eth0"), edge("o2", "host", "eth1")],
        )
        .await;
    assert_eq!(done["Added"], 5, "{done}");
    assert_eq!(done["Seq"], 3);
    let v = a.query("G.V().Has('Name', 'eth0')").await;
    assert_eq!(v[0]["Origin"], "agent.h1");
    assert_eq!(v[0]["Host"], "h1");
    let created = v[0]["CreatedAt"].clone();
    let published = a.get("/api/status").await.json()["History"]["EventsRecorded"].clone();

    // Reconnect (as after a network cut): same graph but eth0's MTU changed and eth1 went.
    drop(ag);
    let mut ag = reconnect(&a, "h1").await;
    let done = ag
        .sync(
            1,
            vec![
                node("host", "h1", json!({"Type": "host"})),
                node("eth0", "eth0", json!({"MTU": 9000})),
            ],
            vec![edge("o1", "host", "eth0")],
        )
        .await;
    assert_eq!(
        (
            &done["Added"],
            &done["Updated"],
            &done["Unchanged"],
            &done["Deleted"]
        ),
        (&json!(0), &json!(1), &json!(2), &json!(2)),
        "{done}"
    );
    let v = a.query("G.V().Has('Name', 'eth0')").await;
    assert_eq!(v[0]["Metadata"]["MTU"], 9000);
    assert_eq!(
        v[0]["CreatedAt"], created,
        "updated in place, not re-created"
    );
    assert!(v[0]["Revision"].as_i64().unwrap() >= 2);
    assert_eq!(
        ids(&a.query("G.V().Has('@Origin', 'agent.h1')").await),
        ["eth0", "host"]
    );
    // One update, two deletions (edge o2 and node eth1): nothing else reached history.
    let recorded = a.get("/api/status").await.json()["History"]["EventsRecorded"].clone();
    assert_eq!(recorded.as_u64().unwrap() - published.as_u64().unwrap(), 3);

    // Deltas, in order; revisions from a restarted agent (low) still apply.
    ag.send(
        "NodePartiallyUpdated",
        json!({"ID": "eth0", "UpdatedAt": 0, "Revision": 2, "Ops": [{"Type": 1, "Key": "State", "Value": "UP"}, {"Type": 2, "Key": "MTU"}]}),
    )
    .await;
    ag.send("NodeAdded", node("eth2", "eth2", json!({}))).await;
    ag.send("EdgeAdded", edge("o3", "host", "eth2")).await;
    ag.send("EdgeDeleted", json!({"ID": "o1", "DeletedAt": 0}))
        .await;
    eventually("deltas applied", || async {
        let v = a.query("G.V().Has('Name', 'eth0')").await;
        v[0]["Metadata"]["State"] == "UP"
            && v[0]["Metadata"].get("MTU").is_none()
            && a.query("G.E().Has('@ID', 'o1')").await == json!([])
            && a.query("G.V().Has('@ID', 'host').Out().Values('Name')")
                .await
                == json!(["eth2"])
    })
    .await;

    // Bye: the subgraph goes at once.
    ag.send("Bye", json!({})).await;
    eventually("Bye removes the subgraph", || async {
        a.query("G.V().Has('@Origin', 'agent.h1')").await == json!([])
    })
    .await;
    a.stop().await;
}

#[tokio::test]
async fn refusals_and_protocol_errors() {
    let a = TestAnalyzer::start().await;
    api_node(&a, "api-owned").await;
    let mut ag = FakeAgent::connect(&a, "h2").await;
    // A delta before any sync is a protocol error.
    ag.send("NodeAdded", node("x", "x", json!({}))).await;
    assert_eq!(ag.recv().await.err(), Some(Some(1002)));

    let mut ag = reconnect(&a, "h2").await;
    let done = ag
        .sync(
            1,
            vec![
                node("a", "a", json!({})),
                node("api-owned", "stolen", json!({})),
                json!({"ID": "bad", "Metadata": {"Name": "no type"}}),
            ],
            vec![],
        )
        .await;
    assert_eq!(
        (&done["Added"], &done["Rejected"]),
        (&json!(1), &json!(2)),
        "{done}"
    );
    assert_eq!(
        a.query("G.V().Has('@ID', 'api-owned').Values('Name')")
            .await,
        json!(["api-owned"]),
        "another origin's node is untouched"
    );

    // An update of a node the analyzer lacks: refused, and a sync is asked for (once).
    ag.send(
        "NodePartiallyUpdated",
        json!({"ID": "ghost", "Revision": 5, "Ops": []}),
    )
    .await;
    let err = ag.recv_type("Error").await;
    assert_eq!(err["Seq"], 4);
    assert!(err["Error"].as_str().unwrap().contains("ghost"), "{err}");
    let req = ag.recv_type("SyncRequest").await;
    assert!(req["Reason"].as_str().unwrap().contains("ghost"), "{req}");

    // Unknown types are ignored (and answered), a gap in Seq closes the connection.
    ag.send("FutureThing", json!({})).await;
    let err = ag.recv_type("Error").await;
    assert!(
        err["Error"]
            .as_str()
            .unwrap()
            .contains("unknown message type"),
        "{err}"
    );
    ag.send_raw(json!({"Seq": 99, "Type": "Bye"})).await;
    assert_eq!(ag.recv().await.err(), Some(Some(1002)));

    // The lost connection leaves the subgraph waiting for the agent.
    eventually("agent h2 shown as orphaned", || async {
        a.get("/api/status").await.json()["Agents"]["h2"]["State"] == "orphaned"
    })
    .await;
    a.stop().await;
}

#[tokio::test]
async fn lost_agent_is_removed_after_the_grace_period_and_history_keeps_it() {
    let a = TestAnalyzer::start_with(|s| s.analyzer.topology.agent_grace_secs = 1).await;
    let mut ag = FakeAgent::connect(&a, "h3").await;
    ag.sync(1, vec![node("n3", "n3", json!({}))], vec![]).await;
    let t = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;
    drop(ag);
    eventually("the subgraph is removed after the grace period", || async {
        a.query("G.V().Has('Name', 'n3')").await == json!([])
    })
    .await;
    assert_eq!(
        ids(&a.query(&format!("G.At({t}).V().Has('Name', 'n3')")).await),
        ["n3"]
    );
    let st = a.get("/api/status").await.json();
    assert_eq!(st["AgentsExpired"], 1);
    assert!(st["Agents"]["h3"].is_null());
    a.stop().await;
}

#[tokio::test]
async fn chunks_beyond_what_was_announced_are_refused() {
    let a = TestAnalyzer::start().await;
    let mut ag = FakeAgent::connect(&a, "h4").await;
    ag.send(
        "SyncBegin",
        json!({"Generation": 1, "Nodes": 1, "Edges": 0}),
    )
    .await;
    ag.send(
        "SyncChunk",
        json!({"Generation": 1, "Nodes": [node("a", "a", json!({})), node("b", "b", json!({}))]}),
    )
    .await;
    assert_eq!(ag.recv().await.err(), Some(Some(1002)));
    let mut ag = reconnect(&a, "h4").await;
    ag.send(
        "SyncBegin",
        json!({"Generation": 1, "Nodes": 1, "Edges": 0}),
    )
    .await;
    ag.send("SyncChunk", json!({"Generation": 2, "Nodes": []}))
        .await;
    assert_eq!(ag.recv().await.err(), Some(Some(1002)));
    a.stop().await;
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

async fn api_node(a: &TestAnalyzer, id: &str) -> Value {
    let r = a
        .post(
            "/api/node",
            &json!({"ID": id, "Metadata": {"Name": id, "Type": "device"}}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    r.json()
}

/// Connects again once the analyzer has let the previous connection go.
async fn reconnect(a: &TestAnalyzer, host: &str) -> FakeAgent {
    let mut last = String::new();
    for _ in 0..500 {
        match ws_connect(
            a.addr,
            "/ws/agent/topology",
            &[("X-Host-ID", host), ("X-Client-Type", "agent"), PROTOCOL],
        )
        .await
        {
            Ok(ws) => return FakeAgent::from_ws(ws),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("cannot reconnect as {host}: {last}");
}

/// After a restart, an agent's subgraph restored from history waits for the agent, and goes
/// (recorded in history) when it does not come back.
#[tokio::test]
async fn restored_subgraph_of_an_agent_that_never_returns_is_removed() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::util::settings(Some(dir.path()));
    s.analyzer.topology.agent_grace_secs = 1;
    let a = TestAnalyzer::start_settings(s.clone()).await;
    let mut ag = FakeAgent::connect(&a, "h5").await;
    ag.sync(1, vec![node("n5", "n5", json!({}))], vec![]).await;
    // Stopping the analyzer keeps the agent's elements as they are.
    a.stop().await;
    let t = now_ms();
    tokio::time::sleep(Duration::from_millis(5)).await;

    let a = TestAnalyzer::start_settings(s).await;
    let st = a.get("/api/status").await.json();
    let h5 = &st["Agents"]["h5"];
    assert_eq!(h5["State"], "orphaned", "{st}");
    assert_eq!(h5["Reason"], "restored from history");
    eventually(
        "the restored subgraph is removed after the grace period",
        || async { a.query("G.V().Has('Name', 'n5')").await == json!([]) },
    )
    .await;
    assert_eq!(
        ids(&a.query(&format!("G.At({t}).V().Has('Name', 'n5')")).await),
        ["n5"]
    );
    a.stop().await;
}
