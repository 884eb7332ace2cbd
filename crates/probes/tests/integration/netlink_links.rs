//! Link kinds and their relations: a macvlan and a VXLAN on top of a veth get a `layer2` edge
//! from their lower device (edge `Type` = their kind), also when the macvlan is moved into a
//! namespace; a tap device is typed `tun`; a veth between two namespaces links them.

use skydive_probes::netns::NetnsConfig;
use skydive_probes::{NetlinkConfig, TopologyConfig};

use crate::graph_query::*;
use skydive_testlab::Lab;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lower_devices_link_to_their_children() {
    let Some(mut lab) = Lab::new("nl-kinds") else {
        return;
    };
    let ns = lab.netns("k");
    let dir = lab.dir("run");
    let f = lab.placeholder(&dir, "kinds");
    lab.bind_netns(&ns, &f);
    let cfg = TopologyConfig {
        netns: NetnsConfig {
            run_path: dir.clone(),
        },
        ..Default::default()
    };
    let (graph, topo) = start_agent(cfg).await;
    let host = topo.host_node_id().clone();

    let (va, _va_ns) = lab.veth_into("va", "vaN", &ns);
    let mv = lab.ifname("mv");
    let vx = lab.ifname("vx");
    let tap = lab.ifname("tap");
    lab.ip(&[
        "link", "add", &mv, "link", &va, "type", "macvlan", "mode", "bridge",
    ]);
    lab.ip(&[
        "link", "add", &vx, "type", "vxlan", "id", "42", "dev", &va, "dstport", "4789",
    ]);
    lab.ip(&["tuntap", "add", "dev", &tap, "mode", "tap"]);
    // Children of `va` die with it (Lab deletes `va`); the tap needs its own cleanup.
    let _tap_guard = scopeguard(&tap);

    wait_until(
        &graph,
        "macvlan and vxlan children of the veth, tap typed tun",
        |g| {
            let (Some(lower), Some(m), Some(x), Some(t)) = (
                owned_named(g, &host, &va),
                owned_named(g, &host, &mv),
                owned_named(g, &host, &vx),
                owned_named(g, &host, &tap),
            ) else {
                return false;
            };
            m.metadata.get_str("Type") == Some("macvlan")
                && x.metadata.get_str("Type") == Some("vxlan")
                && t.metadata.get_str("Type") == Some("tun")
                && edge_from(g, &lower.id, &m.id, "layer2")
                    .is_some_and(|e| e.metadata.get_str("Type") == Some("macvlan"))
                && edge_from(g, &lower.id, &x.id, "layer2")
                    .is_some_and(|e| e.metadata.get_str("Type") == Some("vxlan"))
        },
    )
    .await;

    // The macvlan moves into the namespace; its lower device stays in the host.
    lab.ip(&["link", "set", &mv, "netns", &ns]);
    wait_until(&graph, "cross-namespace lower-device edge", |g| {
        let (Some(lower), Some(m)) = (owned_named(g, &host, &va), iface_in_ns(g, "kinds", &mv))
        else {
            return false;
        };
        owned_named(g, &host, &mv).is_none()
            && edge_from(g, &lower.id, &m.id, "layer2")
                .is_some_and(|e| e.metadata.get_str("Type") == Some("macvlan"))
    })
    .await;
    lab.unbind(&f);
    topo.stop().await;
}

/// Deletes a host interface the test made outside the lab's bookkeeping.
fn scopeguard(name: &str) -> impl Drop + use<> {
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = std::process::Command::new("ip")
                .args(["link", "del", &self.0])
                .output();
        }
    }
    Del(name.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn namespace_to_namespace_veth_and_counters() {
    let Some(mut lab) = Lab::new("nl-metrics") else {
        return;
    };
    let ns_a = lab.netns("a");
    let ns_b = lab.netns("b");
    let dir = lab.dir("run");
    let fa = lab.placeholder(&dir, "ma");
    let fb = lab.placeholder(&dir, "mb");
    lab.bind_netns(&ns_a, &fa);
    lab.bind_netns(&ns_b, &fb);
    let cfg = TopologyConfig {
        netns: NetnsConfig {
            run_path: dir.clone(),
        },
        netlink: NetlinkConfig {
            metrics_update: 1,
            ..Default::default()
        },
        ..Default::default()
    };
    let (graph, topo) = start_agent(cfg).await;

    // A veth whose two ends are both in namespaces.
    let (a, b) = (lab.ifname("ea"), lab.ifname("eb"));
    lab.ip_in(
        &ns_a,
        &[
            "link", "add", &a, "type", "veth", "peer", "name", &b, "netns", &ns_b,
        ],
    );
    lab.ip_in(&ns_a, &["addr", "add", "10.99.3.1/24", "dev", &a]);
    lab.ip_in(&ns_b, &["addr", "add", "10.99.3.2/24", "dev", &b]);
    lab.ip_in(&ns_a, &["link", "set", &a, "up"]);
    lab.ip_in(&ns_b, &["link", "set", &b, "up"]);

    wait_until(
        &graph,
        "veth edge between two namespaces, each end naming the other's namespace",
        |g| {
            let (Some(na), Some(nb)) = (iface_in_ns(g, "ma", &a), iface_in_ns(g, "mb", &b)) else {
                return false;
            };
            edge_between(g, &na.id, &nb.id, "layer2")
                .is_some_and(|e| e.metadata.get_str("Type") == Some("veth"))
                && na.metadata.get_str("LinkNetNsName") == Some("mb")
                && nb.metadata.get_str("LinkNetNsName") == Some("ma")
        },
    )
    .await;

    let ping = std::process::Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns_a,
            "ping",
            "-c",
            "3",
            "-i",
            "0.2",
            "-W",
            "2",
            "10.99.3.2",
        ])
        .output()
        .expect("ping runs");
    assert!(
        ping.status.success(),
        "ping inside the lab: {}",
        String::from_utf8_lossy(&ping.stderr)
    );

    let m = wait_for(&graph, "counters polled with a delta", |g| {
        let n = iface_in_ns(g, "ma", &a)?;
        let metric = n.metadata.get("Metric")?.clone();
        let last = n.metadata.get("LastUpdateMetric")?.clone();
        (metric["TxPackets"].as_i64()? >= 3 && metric["RxPackets"].as_i64()? >= 3)
            .then_some((metric, last))
    })
    .await;
    let (metric, last) = m;
    assert!(metric["TxBytes"].as_i64().unwrap() > 0);
    assert!(metric["Last"].as_i64().unwrap() > 0);
    let (start, end) = (
        last["Start"].as_i64().unwrap(),
        last["Last"].as_i64().unwrap(),
    );
    assert!(start < end, "LastUpdateMetric covers [Start, Last]: {last}");
    assert!(
        last["TxPackets"].as_i64().unwrap() > 0 || last["RxPackets"].as_i64().unwrap() > 0,
        "{last}"
    );
    lab.unbind(&fa);
    lab.unbind(&fb);
    topo.stop().await;
}
