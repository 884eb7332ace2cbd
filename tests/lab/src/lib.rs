//! Lab guards for root-only tests (dev-dependency only): a throw-away network world built
//! under unique names and torn down by `Drop`, even when the test panics (DESIGN §5, STYLE §9).
//!
//! Main types:
//! - [`Lab`]: network namespaces, veths, Linux bridges, private directories and namespace
//!   bind mounts (`skt-<test>-<pid>-<n>-<role>` for namespaces, `skt<pid><n><role>` for
//!   interfaces, which must fit in 15 bytes);
//! - [`Ovs`]: a private Open vSwitch: `ovsdb-server` with its database, sockets and logs in a
//!   directory of its own, and optionally `ovs-vswitchd` (userspace `netdev` datapath) inside a
//!   namespace of the test.
//!
//! Used by the integration tests of `skydive-probes` and `skydive-server` and by the
//! functional tests (`tests/`, `skydive-functional-tests`). Constructors return `None` after
//! printing why when the process cannot build a lab (not root, a program missing), so callers
//! skip with a reason.
//!
//! Must not: touch anything it did not create (it only deletes its own names), send traffic
//! outside the namespaces it made, or depend on any skydive crate (it is below all of them).

#![forbid(unsafe_code)]

mod lab;
mod ovs;

pub use lab::{Lab, is_root, run, run_in};
pub use ovs::{Ovs, free_port};
