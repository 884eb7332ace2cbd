//! Skydive agent probes: the only crate that talks to the kernel and to OVS. It keeps the
//! agent's graph in step with the host's network: the host node, its network namespaces,
//! their interfaces, addresses, routes, neighbours and counters, and Open vSwitch's bridges,
//! ports and interfaces.
//!
//! Main types:
//! - [`AgentTopology`]: starts the host node and every topology probe into a
//!   [`skydive_graph::SharedGraph`], reports [`ProbeStatus`]es, stops them.
//! - [`TopologyConfig`]: `agent.topology.*` (+ `agent.metadata` and `ovs.*`), with per-probe
//!   configs ([`NetlinkConfig`], [`NetnsConfig`], [`OvsConfig`]) living beside their probes.
//! - [`Probe`] and [`TOPOLOGY_PROBES`]: the probe model (one trait, one file per probe, one
//!   registry): `hardware` (host facts), `netlink` (interfaces, per namespace), `netns`
//!   (namespaces in `/var/run/netns`), `ovsdb` (OVS, merged with netlink's interfaces through
//!   [`interface_claims`]).
//! - [`OvsdbClient`]: an RFC 7047 client (`transact`, `monitor`…) for the OVS probes.
//! - [`HugePageAlloc`]: the process allocator of the `skydive` binary: transparent huge
//!   pages for large tables (it is `unsafe` FFI, hence here).
//! - [`heap::trim`]: gives glibc's free memory back to the kernel after bursts.
//! - [`capture`]: captures started on selected nodes (`ovssflow`, `sflow`): sFlow collectors
//!   on dedicated threads, flow tables, flow batches towards the analyzer, the `sFlow` rows
//!   of OVSDB, the nodes' `Captures` and `SFlow` metadata.
//!
//! Threads: tokio for every socket but the packet paths; `setns` only on dedicated threads
//! (short-lived ones that open a namespace's sockets and exit,
//! [`namespace::NsHandle::run_inside`], or a capture's own receive thread). Packet paths (the
//! sFlow collectors) run on named `std::thread`s and hand batches over bounded channels.
//!
//! Must not: depend on the server, store or query crates, speak HTTP, or hold the graph lock
//! across an `.await`. `unsafe` is allowed here only (ioctl/recv/setsockopt/mmap/malloc_trim FFI), each block
//! with a `// SAFETY:` note.
//!
//! ```no_run
//! # async fn demo() -> Result<(), skydive_probes::ProbeError> {
//! use skydive_graph::{GraphOptions, SharedGraph};
//! let graph = SharedGraph::new(GraphOptions::new("h1", "agent.h1"));
//! let topo = skydive_probes::AgentTopology::start(Default::default(), graph.clone(), "h1".into()).await?;
//! for s in topo.status() {
//!     println!("{}: {:?}", s.name, s.state);
//! }
//! topo.stop().await;
//! # Ok(()) }
//! ```

pub mod capture;
pub mod fuzzing;
pub mod hardware;
pub mod heap;
pub mod host;
pub mod huge_pages;
pub mod interface_claims;
pub mod namespace;
pub mod netlink;
pub mod netns;
pub mod ovsdb;
pub mod probe;
pub mod relation;
pub mod tid;
pub mod topology;

pub use host::HostIdentity;
pub use huge_pages::HugePageAlloc;
pub use netlink::{NamespaceRegistry, NetlinkConfig, NetlinkProbe};
pub use netns::{NetnsConfig, NetnsProbe};
pub use ovsdb::{OvsConfig, OvsdbClient, OvsdbProbe};
pub use probe::{
    NamespaceStatus, Probe, ProbeContext, ProbeError, ProbeHandle, ProbeSpec, ProbeState,
    ProbeStatus, TOPOLOGY_PROBES, Unavailable,
};
pub use topology::{AgentTopology, TopologyConfig};
