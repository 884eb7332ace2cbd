//! The `ovsdb` probe across server outages: ovsdb-server restarted mid-test (with a bridge
//! deleted while it was down), a server that appears after the agent, and a server that sends
//! malformed messages. The probe must report each state, reconnect with backoff and resync,
//! and never panic.

use std::time::Duration;

use skydive_probes::ProbeState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::graph_query::*;
use crate::ovsdb_lab::{ovs_config, ovsdb_status, typed};
use skydive_testlab::Lab;
use skydive_testlab::Ovs;

/// Polls the probe's status until `f` holds.
async fn wait_status(
    topo: &skydive_probes::AgentTopology,
    what: &str,
    f: impl Fn(&skydive_probes::ProbeStatus) -> bool,
) -> skydive_probes::ProbeStatus {
    let start = tokio::time::Instant::now();
    loop {
        let st = ovsdb_status(topo);
        if f(&st) {
            eprintln!("waited {:?} for {what}", start.elapsed());
            return st;
        }
        assert!(
            start.elapsed() < DEADLINE,
            "timed out waiting for {what}: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn server_restart_resyncs_and_drops_what_vanished() {
    let Some(mut lab) = Lab::new("ovs-restart") else {
        return;
    };
    let sw = lab.netns("sw");
    let Some(ovs) = Ovs::switch("ovs-restart", &sw, true) else {
        return;
    };
    let (keep, gone) = (lab.ifname("bk"), lab.ifname("bg"));
    for br in [&keep, &gone] {
        ovs.vsctl(&[
            "add-br",
            br,
            "--",
            "set",
            "bridge",
            br,
            "datapath_type=netdev",
        ]);
    }
    let p = lab.ifname("p");
    ovs.vsctl(&[
        "add-port",
        &keep,
        &p,
        "--",
        "set",
        "interface",
        &p,
        "type=internal",
    ]);
    let gone_uuid = ovs.uuid("bridge", &gone);

    let (graph, topo) = start_agent(ovs_config(ovs.tcp_address())).await;
    let keep_node = wait_for(&graph, "both bridges", |g| {
        typed(g, "ovsbridge", &gone)?;
        typed(g, "ovsbridge", &keep).cloned()
    })
    .await;
    let p_node = wait_for(&graph, "internal port merged", |g| {
        iface_in_ns(g, &sw, &p)
            .filter(|n| n.metadata.get("UUID").is_some())
            .cloned()
    })
    .await;

    // The server goes away: the probe says so, the graph stays as it was.
    ovs.stop_server();
    let st = wait_status(&topo, "failed state", |s| {
        matches!(s.state, ProbeState::Failed { .. })
    })
    .await;
    assert!(st.counters["Failures"] >= 1);
    assert!(graph.read().node(&keep_node.id).is_some());

    // Meanwhile the other bridge is deleted from the database (offline), then the server is
    // back: after the resync the deleted bridge is gone, the kept one has its old ID.
    ovs.tool(&[
        "transact",
        &ovs.path("conf.db"),
        &format!(
            r#"["Open_vSwitch",{{"op":"mutate","table":"Open_vSwitch","where":[],"mutations":[["bridges","delete",["uuid","{gone_uuid}"]]]}}]"#
        ),
    ]);
    ovs.start_server();
    wait_until(
        &graph,
        "resync: deleted bridge removed, kept bridge kept",
        |g| {
            typed(g, "ovsbridge", &gone).is_none()
                && typed(g, "ovsbridge", &keep).is_some_and(|n| n.id == keep_node.id)
                && iface_in_ns(g, &sw, &p).is_some_and(|n| {
                    n.id == p_node.id && n.metadata.get("UUID") == p_node.metadata.get("UUID")
                })
        },
    )
    .await;
    let st = wait_status(&topo, "running again", |s| s.state == ProbeState::Running).await;
    assert_eq!(st.counters["Connects"], 2);
    assert_eq!(st.counters["Resyncs"], 1);
    assert_eq!(st.counters["Bridges"], 1);
    assert_eq!(st.counters["Malformed"], 0);

    // Still following changes after the reconnection.
    ovs.vsctl(&["set", "bridge", &keep, "external_ids:after=restart"]);
    wait_until(&graph, "update after reconnection", |g| {
        typed(g, "ovsbridge", &keep)
            .is_some_and(|n| n.metadata.get_str("ExtID.after") == Some("restart"))
    })
    .await;
    topo.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailable_until_the_server_appears() {
    let Some(ovs) = Ovs::server("ovs-late", false) else {
        return;
    };
    ovs.stop_server();
    let (graph, topo) = start_agent(ovs_config(ovs.unix_address())).await;
    let st = wait_status(&topo, "unavailable", |s| {
        matches!(s.state, ProbeState::Unavailable { .. })
    })
    .await;
    let ProbeState::Unavailable { reason } = &st.state else {
        unreachable!()
    };
    assert!(
        reason.contains(&format!("no {}", ovs.path("db.sock"))),
        "{reason}"
    );

    ovs.start_server();
    ovs.vsctl(&["--no-wait", "add-br", "sktlate0"]);
    wait_until(&graph, "bridge of the late server", |g| {
        typed(g, "ovsbridge", "sktlate0").is_some()
    })
    .await;
    let st = wait_status(&topo, "running", |s| s.state == ProbeState::Running).await;
    assert_eq!(st.counters["Connects"], 1);
    assert_eq!(st.counters["Resyncs"], 0);
    topo.stop().await;
}

/// A scripted server: answers `get_schema` with an error, `monitor` with one bridge, then
/// (on its first connection only) sends what the test asks for; reports each connection on
/// `conns`.
async fn fake_server(
    listener: tokio::net::UnixListener,
    script: Vec<&'static [u8]>,
    conns: tokio::sync::mpsc::Sender<usize>,
) {
    let mut n = 0;
    while let Ok((mut sock, _)) = listener.accept().await {
        n += 1;
        let _ = conns.send(n).await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let mut answered = 0;
        // Requests are small: read until each complete object is answered.
        while answered < 2 {
            let Ok(k) = sock.read(&mut chunk).await else {
                break;
            };
            if k == 0 {
                break;
            }
            buf.extend_from_slice(&chunk[..k]);
            let text = String::from_utf8_lossy(&buf).into_owned();
            let mut stream =
                serde_json::Deserializer::from_str(&text).into_iter::<serde_json::Value>();
            let mut consumed = 0;
            while let Some(Ok(req)) = stream.next() {
                consumed = stream.byte_offset();
                let id = &req["id"];
                let reply = match req["method"].as_str() {
                    Some("get_schema") => format!(r#"{{"id":{id},"result":null,"error":"nope"}}"#),
                    Some("monitor") => format!(
                        r#"{{"id":{id},"result":{{"Bridge":{{"b1":{{"new":{{"name":"sktfake0","ports":["set",[]]}}}}}}}},"error":null}}"#
                    ),
                    _ => format!(r#"{{"id":{id},"result":[],"error":null}}"#),
                };
                answered += 1;
                let _ = sock.write_all(reply.as_bytes()).await;
            }
            buf.drain(..consumed);
        }
        if n == 1 {
            for msg in &script {
                let _ = sock.write_all(msg).await;
            }
        }
        // Keep the connection until the client drops it.
        let _ = sock.read(&mut chunk).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_messages_are_counted_and_resynced_never_fatal() {
    let dir = TempDir::new("skt-ovs-fake");
    let sock = dir.0.join("db.sock");
    let listener = tokio::net::UnixListener::bind(&sock).unwrap();
    let (tx, mut conns) = tokio::sync::mpsc::channel(16);
    let script: Vec<&'static [u8]> = vec![
        // Delimited but not JSON, then not JSON-RPC: skipped and counted.
        br#"{"id":null,"method":"update","params":["skydive",{"Bridge":{"b1":{"new":{"name":tru}}}}]}"#,
        br#"{"what":"ever"}"#,
        // A row update of the wrong shape: skipped and counted.
        br#"{"id":null,"method":"update","params":["skydive",{"Bridge":{"b2":7}}]}"#,
        // Table-updates that are not an object: the probe resynchronises.
        br#"{"id":null,"method":"update","params":["skydive",[1,2]]}"#,
    ];
    let server = tokio::spawn(fake_server(listener, script, tx));
    let (graph, topo) = start_agent(ovs_config(format!("unix://{}", sock.display()))).await;
    wait_for(&graph, "the fake bridge", |g| {
        typed(g, "ovsbridge", "sktfake0").cloned()
    })
    .await;
    // First connection, then the resync's.
    for want in [1, 2] {
        let n = tokio::time::timeout(DEADLINE, conns.recv())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, want);
    }
    let st = wait_status(&topo, "resynced and running", |s| {
        s.counters["Connects"] == 2 && s.state == ProbeState::Running
    })
    .await;
    assert_eq!(st.counters["Malformed"], 4, "{st:?}");
    assert_eq!(st.counters["Resyncs"], 1);
    assert_eq!(st.counters["Failures"], 1);
    assert!(typed(&graph.read(), "ovsbridge", "sktfake0").is_some());
    topo.stop().await;
    server.abort();
}

/// A directory removed on drop (even when the test panics).
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new(prefix: &str) -> Self {
        let d = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TempDir(d)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
