//! A notification burst larger than the socket buffer makes the kernel drop messages
//! (`ENOBUFS`); the listener must notice, re-read the namespace, and end up exact — and say so
//! in its counters.

use skydive_probes::netns::NetnsConfig;
use skydive_probes::{NetlinkConfig, TopologyConfig};

use crate::graph_query::*;
use skydive_testlab::Lab;

const ADDRESSES: usize = 400;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overrun_triggers_a_resync_that_converges() {
    let Some(mut lab) = Lab::new("nl-overrun") else {
        return;
    };
    let ns = lab.netns("o");
    let dir = lab.dir("run");
    let cfg = TopologyConfig {
        netns: NetnsConfig {
            run_path: dir.clone(),
        },
        netlink: NetlinkConfig {
            socket_buffer_bytes: 4096,
            ..Default::default()
        },
        ..Default::default()
    };
    let (graph, topo) = start_agent(cfg).await;
    let f = lab.placeholder(&dir, "burst");
    lab.bind_netns(&ns, &f);
    wait_for(&graph, "namespace lo", |g| {
        iface_in_ns(g, "burst", "lo").cloned()
    })
    .await;

    // Keep the listener from reading (it blocks on the graph lock at its first write) while
    // the kernel emits far more notifications than the 4 KiB buffer holds.
    let batch: String = (0..ADDRESSES)
        .map(|i| format!("addr add 10.97.{}.{}/32 dev lo\n", i / 250, i % 250 + 1))
        .collect();
    let batch_file = dir.join("batch");
    std::fs::write(&batch_file, batch).unwrap();
    {
        let _hold = graph.write();
        lab.ip_in(&ns, &["-batch", &batch_file.to_string_lossy()]);
    }

    let count =
        |g: &skydive_graph::Graph| iface_in_ns(g, "burst", "lo").map(|n| strings(n, "IPV4").len());
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while count(&graph.read()) != Some(ADDRESSES + 1) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "addresses never converged: {:?} of {}; listener: {:?}; kernel has {}",
            count(&graph.read()),
            ADDRESSES + 1,
            ns_status(&topo, "burst"),
            lab.ip_in(&ns, &["-4", "-o", "addr", "show", "dev", "lo"])
                .lines()
                .count()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let st = ns_status(&topo, "burst").expect("listener status");
    assert!(st.overruns >= 1, "the burst overflowed the buffer: {st:?}");
    assert!(
        st.resyncs >= 1,
        "an overrun is followed by a resync: {st:?}"
    );

    // And it keeps following changes afterwards.
    lab.ip_in(&ns, &["addr", "del", "10.97.0.1/32", "dev", "lo"]);
    wait_until(&graph, "deletion after the resync", |g| {
        iface_in_ns(g, "burst", "lo").is_some_and(|n| strings(n, "IPV4").len() == ADDRESSES)
    })
    .await;
    let st = ns_status(&topo, "burst").expect("listener status");
    assert!(st.events > 0, "the deletion came as a notification: {st:?}");
    lab.unbind(&f);
    topo.stop().await;
}
