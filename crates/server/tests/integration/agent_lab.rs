//! A real agent and a real analyzer on a Linux-bridge lab, like Skydive's `simple.sh`: two
//! namespaces, each with a veth whose host end is a port of one bridge. Everything is asserted
//! through the analyzer, with Gremlin, then the lab changes (an address, a link down, a veth
//! moving between namespaces, a namespace deleted) and the analyzer's graph follows.
//!
//! Needs root; skipped with a message otherwise. Other tests' namespaces may come and go
//! meanwhile (the agent watches /var/run/netns), so assertions name this lab's objects only.

use serde_json::{Value, json};

use crate::agents::{TestAgent, agent_settings, host_id};
use crate::util::{PATIENCE, TestAnalyzer};
use skydive_testlab::Lab;

/// Polls a Gremlin query on the analyzer until `ok` accepts its answer.
async fn wait_query(
    a: &TestAnalyzer,
    what: &str,
    gremlin: &str,
    ok: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let v = a.query(gremlin).await;
        if ok(&v) {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "gave up waiting for {what}: {gremlin} answers {v}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn one(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.len() == 1)
}

fn none(v: &Value) -> bool {
    v.as_array().is_some_and(Vec::is_empty)
}

fn has_str(v: &Value, s: &str) -> bool {
    v.as_array().is_some_and(|a| a.iter().any(|x| x == s))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bridge_lab_through_the_analyzer() {
    let Some(mut lab) = Lab::new("agent-bridge") else {
        return;
    };
    let ns1 = lab.netns("ns1");
    let ns2 = lab.netns("ns2");
    let br = lab.bridge("br");
    let (v1h, v1n) = lab.veth_into("v1h", "v1n", &ns1);
    let (v2h, v2n) = lab.veth_into("v2h", "v2n", &ns2);
    for p in [&v1h, &v2h] {
        lab.ip(&["link", "set", p, "master", &br]);
    }
    lab.ip_in(&ns1, &["addr", "add", "192.168.77.1/24", "dev", &v1n]);
    lab.ip_in(&ns2, &["addr", "add", "192.168.77.2/24", "dev", &v2n]);
    let mac1 = lab.mac(Some(&ns1), &v1n);
    let mac2 = lab.mac(Some(&ns2), &v2n);

    let a = TestAnalyzer::start().await;
    let h = host_id("lab");
    let ag = TestAgent::start_with(agent_settings(&h, vec![a.addr.to_string()]), None).await;
    let origin = format!("agent.{h}");

    // Namespace nodes, owned by the host, under the agent's origin.
    for ns in [&ns1, &ns2] {
        let v = wait_query(
            &a,
            "the namespace node",
            &format!(
                "G.V().Has('Type', 'host', 'Name', '{h}').Out('Type', 'netns', 'Name', '{ns}')"
            ),
            one,
        )
        .await;
        assert_eq!(v[0]["Origin"], origin.as_str());
        assert_eq!(v[0]["Metadata"]["Path"], format!("/var/run/netns/{ns}"));
    }
    // Their interfaces, with the right addresses and MACs.
    for (ns, ifname, ip, mac) in [
        (&ns1, &v1n, "192.168.77.1/24", &mac1),
        (&ns2, &v2n, "192.168.77.2/24", &mac2),
    ] {
        let v = wait_query(
            &a,
            "the namespace's veth with its address",
            &format!("G.V().Has('Type', 'netns', 'Name', '{ns}').Out('Name', '{ifname}').Has('IPV4', '{ip}')"),
            one,
        )
        .await;
        assert_eq!(v[0]["Metadata"]["MAC"], mac.as_str());
        assert_eq!(v[0]["Metadata"]["Type"], "veth");
        // The veth peer edge crosses into the host namespace, to the bridge port.
        wait_query(
            &a,
            "the veth peer edge",
            &format!("G.V().Has('Name', '{ifname}', 'MAC', '{mac}').BothE('RelationType', 'layer2', 'Type', 'veth').BothV().Has('Name', '{}')", if ifname == &v1n { &v1h } else { &v2h }),
            one,
        )
        .await;
    }
    // Bridge membership.
    let ports = wait_query(
        &a,
        "both veths as bridge ports",
        &format!("G.V().Has('Type', 'bridge', 'Name', '{br}').OutE('RelationType', 'layer2').OutV().Values('Name')"),
        |v| has_str(v, &v1h) && has_str(v, &v2h),
    )
    .await;
    assert_eq!(ports.as_array().unwrap().len(), 2, "{ports}");

    // An address added in ns1.
    lab.ip_in(&ns1, &["addr", "add", "192.168.78.1/24", "dev", &v1n]);
    wait_query(
        &a,
        "the new address",
        &format!("G.V().Has('Name', '{v1n}', 'MAC', '{mac1}').Values('IPV4')"),
        |v| {
            v == &json!([["192.168.77.1/24", "192.168.78.1/24"]])
                || has_str(&v[0], "192.168.78.1/24")
        },
    )
    .await;

    // A link set down in ns2.
    lab.ip_in(&ns2, &["link", "set", &v2n, "down"]);
    wait_query(
        &a,
        "the link down",
        &format!("G.V().Has('Name', '{v2n}', 'MAC', '{mac2}').Values('State')"),
        |v| v == &json!(["DOWN"]),
    )
    .await;

    // A veth end moved from ns1 to ns2: it leaves ns1's node for ns2's, its peer edge follows.
    let (v3h, v3n) = lab.veth_into("v3h", "v3n", &ns1);
    wait_query(
        &a,
        "the third veth in ns1",
        &format!("G.V().Has('Type', 'netns', 'Name', '{ns1}').Out('Name', '{v3n}')"),
        one,
    )
    .await;
    lab.ip_in(&ns1, &["link", "set", &v3n, "netns", &ns2]);
    wait_query(
        &a,
        "the third veth in ns2",
        &format!("G.V().Has('Type', 'netns', 'Name', '{ns2}').Out('Name', '{v3n}')"),
        one,
    )
    .await;
    wait_query(
        &a,
        "the third veth gone from ns1",
        &format!("G.V().Has('Type', 'netns', 'Name', '{ns1}').Out('Name', '{v3n}')"),
        none,
    )
    .await;
    wait_query(
        &a,
        "the moved veth's peer edge",
        &format!("G.V().Has('Type', 'netns', 'Name', '{ns2}').Out('Name', '{v3n}').BothE('RelationType', 'layer2', 'Type', 'veth').BothV().Has('Name', '{v3h}')"),
        one,
    )
    .await;

    // A namespace deleted: its node and interfaces go (and the host end of its veth with them).
    lab.delete_netns(&ns1);
    wait_query(
        &a,
        "ns1 gone",
        &format!("G.V().Has('Type', 'netns', 'Name', '{ns1}')"),
        none,
    )
    .await;
    wait_query(
        &a,
        "ns1's veth gone",
        &format!("G.V().Has('Name', '{v1n}', 'MAC', '{mac1}')"),
        none,
    )
    .await;
    wait_query(
        &a,
        "the host end of ns1's veth gone",
        &format!("G.V().Has('Name', '{v1h}')"),
        none,
    )
    .await;
    // ns2 and its veths are still there.
    wait_query(
        &a,
        "ns2 intact",
        &format!("G.V().Has('Type', 'netns', 'Name', '{ns2}').Out().Values('Name')"),
        |v| has_str(v, &v2n) && has_str(v, &v3n),
    )
    .await;

    let st = a.get("/api/status").await.json();
    assert_eq!(st["Agents"][&h]["State"], "synced", "{st}");
    assert_eq!(st["Agents"][&h]["Rejected"], 0, "{st}");
    ag.stop().await;
    a.stop().await;
}
