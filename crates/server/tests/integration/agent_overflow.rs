//! A burst of changes larger than the agent's send queue: the changes that did not fit are
//! counted, the agent resyncs, and the analyzer ends up with exactly the agent's graph.

use serde_json::json;
use skydive_graph::Metadata;

use crate::agents::{TestAgent, agent_settings, host_id, wait_identical, wait_mirrored};
use crate::util::TestAnalyzer;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_burst_beyond_the_send_queue_costs_a_resync_not_a_loss() {
    let a = TestAnalyzer::start().await;
    let h = host_id("burst");
    let dir = tempfile::tempdir().unwrap();
    let mut s = agent_settings(&h, vec![a.addr.to_string()]);
    s.agent.topology.netns.run_path = dir.path().to_owned();
    s.http.ws.queue_size = 16;
    let ag = TestAgent::start_with(s, Some(dir)).await;
    wait_mirrored(&a, &ag).await;

    {
        let mut g = ag.running().graph().write();
        for i in 0..20_000 {
            g.create_node(
                format!("burst-{i}").into(),
                Metadata::from_pairs([
                    ("Name", json!(format!("burst-{i}"))),
                    ("Type", json!("device")),
                ]),
            )
            .unwrap();
        }
    }
    for i in (0..20_000).step_by(3) {
        ag.running()
            .graph()
            .write()
            .set_node_metadata(&format!("burst-{i}"), "MTU", json!(i))
            .unwrap();
    }
    wait_identical(&a, &ag).await;
    assert_eq!(
        a.query("G.V().Has('Name', 'burst-19998').Values('MTU')")
            .await,
        json!([19998])
    );
    let st = crate::util::http(ag.addr, hyper::Method::GET, "/api/status", None, &[])
        .await
        .json();
    let f = &st["Forwarder"];
    eprintln!("forwarder after the burst: {f}");
    let (dropped, resyncs) = (
        f["Dropped"].as_u64().unwrap(),
        f["Resyncs"].as_u64().unwrap(),
    );
    assert!(
        dropped == 0 || resyncs >= 1,
        "every loss is repaired by a resync: {f}"
    );
    let agent = &a.get("/api/status").await.json()["Agents"][&h];
    assert_eq!(agent["Rejected"], 0, "{agent}");
    ag.stop().await;
    a.stop().await;
}
