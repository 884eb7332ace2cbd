//! Two real agents with distinct host ids forward into one analyzer: both subgraphs are there,
//! each under its own origin; one stops (with a `Bye`) and only its subgraph goes; it starts
//! again and comes back. Assertions are scoped to each agent's own elements (both agents see
//! the same host namespace, under different host ids).

use serde_json::json;

use crate::agents::{TestAgent, host_id, origin_node_ids, wait_mirrored};
use crate::util::{TestAnalyzer, eventually};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_agents_one_analyzer() {
    let a = TestAnalyzer::start().await;
    let (h1, h2) = (host_id("multi-1"), host_id("multi-2"));
    let ag1 = TestAgent::start(&h1, a.addr).await;
    let ag2 = TestAgent::start(&h2, a.addr).await;
    wait_mirrored(&a, &ag1).await;
    wait_mirrored(&a, &ag2).await;

    // Each host node, with the host namespace's loopback under it, in its own origin.
    for h in [&h1, &h2] {
        let lo = a
            .query(&format!(
                "G.V().Has('Type', 'host', 'Name', '{h}').Out().Has('Name', 'lo').Values('@Origin')"
            ))
            .await;
        assert_eq!(lo, json!([format!("agent.{h}")]), "{h}");
    }
    let st = a.get("/api/status").await.json();
    for h in [&h1, &h2] {
        assert_eq!(st["Agents"][h]["State"], "synced", "{st}");
        assert_eq!(st["Agents"][h]["IsConnected"], true);
    }
    // The agent's own API shows its connection and probes.
    let ast = crate::util::http(ag1.addr, hyper::Method::GET, "/api/status", None, &[])
        .await
        .json();
    assert_eq!(ast["Service"], "agent");
    let analyzer = &ast["Analyzers"][a.addr.to_string()];
    assert_eq!(analyzer["State"], "synced", "{ast}");
    assert_eq!(analyzer["Active"], true);
    assert_eq!(
        ast["TopologyProbes"]["netlink"]["State"], "running",
        "{ast}"
    );
    assert!(ast["Clients"].is_object(), "{ast}");
    // Skydive's agent lists its flow probes by name.
    assert!(
        ast["FlowProbes"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("ovssflow"))),
        "{ast}"
    );
    assert_eq!(ast["Captures"], json!({}), "{ast}");
    // Its own /ws/subscriber serves its graph and says who answers.
    let (mut ws, resp) = tokio_tungstenite::connect_async(
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/ws/subscriber?x-client-type=test",
            ag1.addr
        ))
        .unwrap(),
    )
    .await
    .expect("the agent's /ws/subscriber");
    assert_eq!(resp.headers()["X-Service-Type"], "agent");
    assert_eq!(resp.headers()["X-Host-ID"], h1.as_str());
    crate::util::send(&mut ws, &crate::util::msg("SyncRequest", "1", json!({}))).await;
    let (reply, _) = crate::util::recv_until(&mut ws, |m| m["Type"] == "SyncReply").await;
    let hosts: Vec<&serde_json::Value> = reply["Obj"]["Nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["Metadata"]["Type"] == "host")
        .collect();
    assert_eq!(hosts.len(), 1);
    assert_eq!(hosts[0]["Metadata"]["Name"], h1.as_str());
    drop(ws);
    // `GET /rpc/topology` (Skydive 0.2's route) answers the whole graph, on both sides.
    for addr in [ag1.addr, a.addr] {
        let g = crate::util::http(addr, hyper::Method::GET, "/rpc/topology", None, &[])
            .await
            .json();
        assert!(
            g["Nodes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n["Metadata"]["Name"] == h1.as_str()),
            "{addr}"
        );
    }

    // One stops: its subgraph goes, the other's stays (mirroring its agent: the host
    // namespace is shared with other tests, whose interfaces come and go).
    let origin1 = ag1.origin();
    ag1.stop().await;
    eventually("the stopped agent's subgraph is removed", || async {
        origin_node_ids(&a, &origin1).await.is_empty()
    })
    .await;
    wait_mirrored(&a, &ag2).await;
    assert_eq!(
        a.query(&format!(
            "G.V().Has('Type', 'host', 'Name', '{h2}').Values('@Origin')"
        ))
        .await,
        json!([ag2.origin()])
    );
    assert!(a.get("/api/status").await.json()["Agents"][&h1].is_null());

    // It starts again: it is back.
    let ag1 = TestAgent::start(&h1, a.addr).await;
    wait_mirrored(&a, &ag1).await;
    wait_mirrored(&a, &ag2).await;

    ag1.stop().await;
    ag2.stop().await;
    a.stop().await;
}

/// An agent with several analyzers forwards to the first one that answers, and fails over to
/// the next when it goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fails_over_to_the_next_analyzer() {
    let a1 = TestAnalyzer::start().await;
    let a2 = TestAnalyzer::start().await;
    let h = host_id("failover");
    // The first address answers nothing: the agent skips it.
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut s = crate::agents::agent_settings(
        &h,
        vec![dead.to_string(), a1.addr.to_string(), a2.addr.to_string()],
    );
    s.agent.topology.netns.run_path = dir.path().to_owned();
    let ag = TestAgent::start_with(s, Some(dir)).await;
    wait_mirrored(&a1, &ag).await;
    assert!(
        origin_node_ids(&a2, &ag.origin()).await.is_empty(),
        "one analyzer at a time"
    );

    // The analyzer in use goes away: the agent moves to the next one and syncs there.
    a1.stop().await;
    wait_mirrored(&a2, &ag).await;
    let st = crate::util::http(ag.addr, hyper::Method::GET, "/api/status", None, &[])
        .await
        .json();
    assert_eq!(st["Analyzers"][a2.addr.to_string()]["Active"], true, "{st}");
    assert!(st["Forwarder"]["Failures"].as_u64().unwrap() >= 1, "{st}");
    ag.stop().await;
    a2.stop().await;
}
