//! Skydive's seed walkthrough ("Skydive: a real-time network analyzer"), step by step, with
//! the real binary: the post's skydive.yml, `skydive analyzer -c skydive.yml` and `skydive
//! agent -c skydive.yml`, `curl /rpc/topology` on both, `./simple.sh start 192.168.0.1/24
//! 192.168.0.2/24`, `ip netns exec vm1 ping 192.168.0.2`, the flows on br-int through
//! Gremlin and `curl /rpc/flows`. Then what a user meets next: an OVSDB restart (the topology
//! comes back), the agent stopped (it leaves no sFlow row in OVSDB), and "the more audacious
//! of you testing with netcat": a TCP transfer whose bytes the flow counts.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use skydive_functional_tests::{eventually, eventually_for, http, run_in};

use crate::simple_lab::*;

/// ICMP flows from vm1 to vm2 captured on the node with TID `tid`.
fn icmp_flows(addr: std::net::SocketAddr, tid: &str) -> Result<Vec<Value>, String> {
    let v = http::gremlin(
        addr,
        &format!(
            "G.Flows().Has('Network.A', '{VM1_IP}').Has('Network.B', '{VM2_IP}').Has('LayersPath', 'Ethernet/IPv4/ICMPv4').Has('NodeTID', '{tid}')"
        ),
    )?;
    v.as_array()
        .cloned()
        .ok_or_else(|| format!("not a list: {v}"))
}

fn metric(f: &Value, key: &str) -> i64 {
    f["Metric"][key].as_i64().unwrap_or(0)
}

#[test]
fn seed_walkthrough() {
    let Some(mut w) = SimpleLab::start("seed-walk", SEED_CONFIG) else {
        return;
    };

    // `curl http://localhost:8081/rpc/topology` and `…:8082/rpc/topology`: both answer the
    // graph, and both get to see the bridge of simple.sh.
    let agent_addr = w.agent_addr;
    for (who, addr) in [("agent", agent_addr), ("analyzer", w.analyzer_addr)] {
        eventually(&format!("br-int in the {who}'s /rpc/topology"), || {
            let g = http::get_json(addr, "/rpc/topology")?;
            let nodes = g["Nodes"].as_array().ok_or(format!("no Nodes: {g}"))?;
            if !g["Edges"].is_array() {
                return Err(format!("no Edges: {g}"));
            }
            nodes
                .iter()
                .any(|n| n["Metadata"]["Name"] == "br-int" && n["Metadata"]["Type"] == "ovsbridge")
                .then_some(())
                .ok_or_else(|| format!("{} nodes, none is br-int", nodes.len()))
        });
    }

    // The topology through Gremlin on the analyzer: br-int, its ports, the namespaces with
    // eth0 and their addresses, the veth peer edges between eth0 and the bridge's ports.
    let (br, br_tid) = w.bridge_and_tid();
    assert_eq!(br["Host"], w.agent_host_id.as_str(), "{br}");
    let ports = w.wait_query(
        "br-int's ports",
        "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int').Out('Type', 'ovsport').Dedup().Values('Name')",
        |v| has_str(v, &w.port1) && has_str(v, &w.port2),
    );
    assert_eq!(
        ports.as_array().map(Vec::len),
        Some(3),
        "the two veths and br-int's own port: {ports}"
    );
    for (vm, ip, port) in [(&w.vm1, VM1_IP, &w.port1), (&w.vm2, VM2_IP, &w.port2)] {
        let eth0 = w.wait_query(
            "the vm's eth0 with its address",
            &format!("G.V().Has('Type', 'netns', 'Name', '{vm}').Out('Name', 'eth0').Has('IPV4', '{ip}/24')"),
            len_is(1),
        );
        assert_eq!(eth0[0]["Metadata"]["Type"], "veth", "{eth0}");
        w.wait_query(
            "the veth peer edge from eth0 to the bridge port's interface",
            &format!("G.V().Has('Type', 'netns', 'Name', '{vm}').Out('Name', 'eth0').BothE('RelationType', 'layer2', 'Type', 'veth').BothV().Has('Name', '{port}')"),
            len_is(1),
        );
        w.wait_query(
            "the ovsport linked to that interface",
            &format!("G.V().Has('Type', 'ovsport', 'Name', '{port}').OutE('RelationType', 'layer2').OutV('Name', '{port}')"),
            len_is(1),
        );
        w.wait_query(
            "the switch namespace owning the port's interface",
            &format!(
                "G.V().Has('Type', 'netns', 'Name', '{}').Out('Name', '{port}')",
                w.sw
            ),
            len_is(1),
        );
    }

    // `ip netns exec vm1 ping 192.168.0.2`, once the agent's own capture of br-int
    // (agent.flow.probes: ovssflow) is active and OVS's samples reach it (warm-up pings show
    // as flows), then 20 requests and 20 replies, a flow of their own (a new ICMP id).
    let cap = wait_active_capture(w.analyzer_addr, |_| true);
    assert_eq!(cap["Type"], "ovssflow", "{cap}");
    warm_up(&w, &br_tid);
    // Flows of warm-up pings still in flight arrive with the next update (every 2 s).
    std::thread::sleep(Duration::from_secs(3));
    let icmp_id = |f: &Value| f["ICMP"]["ID"].as_i64().unwrap_or(0);
    let warm: BTreeSet<i64> = icmp_flows(w.analyzer_addr, &br_tid)
        .unwrap_or_else(|e| panic!("{e}"))
        .iter()
        .map(icmp_id)
        .collect();
    ping(&w.vm1, VM2_IP, 20);
    let measured = || -> Result<Value, String> {
        let flows = icmp_flows(w.analyzer_addr, &br_tid)?;
        flows
            .iter()
            .find(|f| !warm.contains(&icmp_id(f)))
            .cloned()
            .ok_or_else(|| format!("{flows:#?}"))
    };
    // Wait for all 40 packets; if some never come (a sample lost), judge what came.
    let complete = |f: &Value| metric(f, "ABPackets") + metric(f, "BAPackets") >= 40;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut flow = eventually("the ping's flow on br-int", measured);
    while !complete(&flow) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        flow = measured().unwrap_or(flow);
    }
    let (ab, ba) = (metric(&flow, "ABPackets"), metric(&flow, "BAPackets"));
    assert!(
        (17..=20).contains(&ab) && (17..=20).contains(&ba),
        "sampling 1: each of the 20 requests (A→B) and replies (B→A) once, a few lost at most: {flow:#}"
    );
    assert_eq!(flow["SamplingRate"], 1, "{flow:#}");
    assert_eq!(
        metric(&flow, "ABBytes"),
        ab * 98,
        "98-byte echo frames: {flow:#}"
    );
    assert_eq!(metric(&flow, "BABytes"), ba * 98, "{flow:#}");
    assert_eq!(flow["NodeTID"], br_tid.as_str());
    assert_eq!(flow["CaptureID"], cap["ID"], "{flow:#}");
    assert_eq!(flow["Application"], "ICMPv4");
    assert_eq!(flow["ICMP"]["Type"], "ECHO");
    let vm1_mac = w.lab.mac(Some(&w.vm1), "eth0");
    let vm2_mac = w.lab.mac(Some(&w.vm2), "eth0");
    assert_eq!(flow["Link"]["A"], vm1_mac.as_str(), "{flow:#}");
    assert_eq!(flow["Link"]["B"], vm2_mac.as_str(), "{flow:#}");
    // The flow is on br-int for Gremlin's node steps too.
    let on_bridge = w.query(&format!(
        "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int').Flows().Has('UUID', '{}')",
        flow["UUID"].as_str().unwrap()
    ));
    assert_eq!(on_bridge.as_array().map(Vec::len), Some(1), "{on_bridge}");

    // `curl http://localhost:8082/rpc/flows`.
    let rpc = http::get_json(w.analyzer_addr, &format!("/rpc/flows?Network.A={VM1_IP}"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        rpc.as_array()
            .is_some_and(|a| a.iter().any(|f| f["UUID"] == flow["UUID"])),
        "/rpc/flows misses {}: {rpc:#}",
        flow["UUID"]
    );

    // ovsdb-server restarted: the agent reconnects and the topology comes back, live (a port
    // added after the restart shows up), and the capture still sees traffic.
    w.ovs.stop_server();
    w.ovs.start_server();
    let p3 = w.lab.ifname("p3");
    w.ovs.vsctl(&[
        "add-port",
        "br-int",
        &p3,
        "--",
        "set",
        "interface",
        &p3,
        "type=internal",
    ]);
    eventually_for(
        "br-int with its ports after the OVSDB restart",
        Duration::from_secs(90),
        || {
            let v = http::gremlin(
                w.analyzer_addr,
                "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int').Out('Type', 'ovsport').Dedup().Values('Name')",
            )?;
            (has_str(&v, &w.port1) && has_str(&v, &w.port2) && has_str(&v, &p3))
                .then_some(())
                .ok_or_else(|| v.to_string())
        },
    );
    let before: BTreeSet<String> = icmp_flows(w.analyzer_addr, &br_tid)
        .unwrap_or_default()
        .iter()
        .filter_map(|f| f["UUID"].as_str().map(str::to_owned))
        .collect();
    ping(&w.vm1, VM2_IP, 5);
    eventually("a new ping flow on br-int after the OVSDB restart", || {
        let flows = icmp_flows(w.analyzer_addr, &br_tid)?;
        flows
            .iter()
            .any(|f| {
                !before.contains(f["UUID"].as_str().unwrap_or("")) && metric(f, "ABPackets") > 0
            })
            .then_some(())
            .ok_or_else(|| format!("{flows:#?}"))
    });

    // The agent stopped with SIGTERM: a clean exit, no sFlow row left in OVSDB, and its
    // nodes leave the analyzer.
    let st = w.agent.as_mut().expect("agent").stop();
    assert!(st.success(), "agent exit: {st}");
    assert_eq!(w.sflow_rows(), "", "the agent left its sFlow row");
    assert_eq!(w.ovs.vsctl(&["get", "bridge", "br-int", "sflow"]), "[]");
    w.wait_query(
        "br-int gone with the agent",
        "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int')",
        len_is(0),
    );
    let st = w.analyzer.as_mut().expect("analyzer").stop();
    assert!(st.success(), "analyzer exit: {st}");
}

/// "I let the more audacious of you testing with netcat and beyond": 1 MB over TCP from vm2
/// to vm1 through br-int, counted by the flow (sampling 1) to within its headers.
#[test]
fn seed_tcp_transfer() {
    let Some(w) = SimpleLab::start("seed-tcp", SEED_CONFIG) else {
        return;
    };
    let (_, br_tid) = w.bridge_and_tid();
    wait_active_capture(w.analyzer_addr, |_| true);
    // Samples reach the agent: a warm-up ping shows as a flow.
    warm_up(&w, &br_tid);

    const SIZE: i64 = 1_000_000;
    const PORT: u16 = 5001;
    let server = format!(
        "import socket\n\
         s = socket.socket()\n\
         s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
         s.bind(('{VM2_IP}', {PORT}))\n\
         s.listen(1)\n\
         c, _ = s.accept()\n\
         c.sendall(b'x' * {SIZE})\n\
         c.close()\n"
    );
    let _server = spawn_in(&w.vm2, &["python3", "-c", &server]);
    let client = format!(
        "import socket, time\n\
         for i in range(100):\n\
         \x20   try:\n\
         \x20       s = socket.create_connection(('{VM2_IP}', {PORT}), timeout=10); break\n\
         \x20   except OSError:\n\
         \x20       time.sleep(0.1)\n\
         n = 0\n\
         while True:\n\
         \x20   b = s.recv(65536)\n\
         \x20   if not b: break\n\
         \x20   n += len(b)\n\
         print(n)\n"
    );
    let got = run_in(&w.vm1, &["python3", "-c", &client]);
    assert_eq!(got.trim(), SIZE.to_string(), "the transfer itself");

    // The connection is over before the flow's first update, so the flow arrives finished
    // (FIN) and is not among the live flows: it is read from the flow store.
    let q = format!(
        "G.At('-1s', 600).Flows().Has('Network.A', '{VM1_IP}').Has('Transport.B', {PORT}).Has('NodeTID', '{br_tid}')"
    );
    let flow = eventually_for(
        "the TCP flow with every byte",
        Duration::from_secs(30),
        || {
            let v = http::gremlin(w.analyzer_addr, &q)?;
            v.as_array()
                .and_then(|a| a.iter().find(|f| metric(f, "BABytes") >= SIZE))
                .cloned()
                .ok_or_else(|| format!("{v:#}"))
        },
    );
    assert_eq!(flow["Transport"]["Protocol"], "TCP", "{flow:#}");
    assert_eq!(flow["Network"]["B"], VM2_IP, "{flow:#}");
    assert_eq!(flow["SamplingRate"], 1, "{flow:#}");
    assert_eq!(flow["FinishType"], 2, "TCP_FIN: {flow:#}");
    // Sampling 1: the server's bytes are the payload plus each frame's headers (Ethernet, IP,
    // TCP: at least 54 bytes a frame of at most 1514). A loaded machine makes TCP retransmit
    // some segments, which are on the wire too: up to a fifth over the payload is accepted.
    let (bytes, frames) = (metric(&flow, "BABytes"), metric(&flow, "BAPackets"));
    assert!(
        bytes >= SIZE + frames * 54 && bytes <= frames * 1514,
        "BABytes {bytes} for {SIZE} bytes of payload in {frames} frames: {flow:#}"
    );
    assert!(
        bytes <= SIZE + SIZE / 5,
        "BABytes {bytes}: more than 20 % over the payload ({SIZE})"
    );
    assert!(metric(&flow, "ABPackets") > 0, "{flow:#}");
}

/// Pings vm2 from vm1 until a ping shows as a flow on br-int: OVS's samples reach the agent.
fn warm_up(w: &SimpleLab, br_tid: &str) {
    eventually("a warm-up ping flow on br-int", || {
        ping(&w.vm1, VM2_IP, 1);
        let flows = icmp_flows(w.analyzer_addr, br_tid)?;
        (!flows.is_empty())
            .then_some(())
            .ok_or("no flow yet".to_owned())
    });
}
