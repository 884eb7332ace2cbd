//! Functional tests of Skydive: the real `skydive` binary (`analyzer`, `agent`) run as child
//! processes against real labs — network namespaces, veths, a private Open vSwitch with the
//! userspace datapath — built by `scripts/simple.sh` and `scripts/multinode.sh`, and checked
//! only through what a user sees: the HTTP API (`/rpc/topology`, `/api/topology` Gremlin,
//! `/rpc/flows`, `/api/capture`) and OVSDB (`ovs-vsctl`). The walkthrough of Skydive's seed
//! blog post is the script (`functional/seed_walkthrough.rs`).
//!
//! This library holds the harness; the tests are the `functional` test target.
//! Main items: [`skydive_bin`] (the binary under test), [`Skydive`] (a child process that is
//! stopped by `Drop` and whose log is printed when the test fails), [`http`] (a tiny blocking
//! HTTP/1.1 client), [`eventually`] (polling with a generous deadline, never a timing claim).
//! Labs come from `skydive-testlab` ([`Lab`], [`Ovs`]).
//!
//! # The binary under test
//!
//! Cargo gives `CARGO_BIN_EXE_<name>` only to tests of the package that owns the binary, and
//! binary ("artifact") dependencies are unstable, so this package depends on no skydive crate
//! and finds the binary at run time: `$SKYDIVE_BIN` when set (any build, e.g. a release to
//! test), else `skydive` in the directory of the running test's profile (`target/<profile>/`,
//! which also follows `CARGO_TARGET_DIR`), brought up to date first with `cargo build -p
//! skydive` for that profile (a no-op when it is fresh), so a test never runs a stale binary.
//! `scripts/test.sh` builds it before the tests too.
//!
//! Must not: touch anything a test did not create, or talk to anything but loopback and the
//! namespaces of its lab. Tests need root and Open vSwitch; without them they are skipped with
//! a printed reason.

#![forbid(unsafe_code)]

mod binary;
pub mod http;
mod process;
mod wait;

pub use binary::skydive_bin;
pub use process::Skydive;
pub use skydive_testlab::{Lab, Ovs, free_port, is_root, run, run_in};
pub use wait::{PATIENCE, eventually, eventually_for};

/// The repository's root (`scripts/`, `Cargo.toml`).
pub fn repo_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_owned()
}
