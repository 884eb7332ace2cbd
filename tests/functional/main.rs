//! Functional tests: the real `skydive` binary on real labs, one module per scenario
//! (`skydive_functional_tests` holds the harness, `skydive_testlab` the labs).
//!
//! - `seed_walkthrough`: Skydive's seed blog post, step by step: the seed's skydive.yml,
//!   `skydive analyzer` and `skydive agent`, `scripts/simple.sh`, the topology through
//!   `/rpc/topology` and Gremlin, ping flows on br-int, an OVSDB restart, the agent's exit;
//!   and a TCP transfer counted to the byte.
//! - `capture_api`: a capture made, listed and deleted through `/api/capture`.
//! - `multinode`: two "nodes" (namespaces with their own OVS and agent) joined by a GRE
//!   tunnel, `scripts/multinode.sh` on each, one ping seen on both bridges.
//!
//! Every test needs root and Open vSwitch, and skips with a printed reason without them.

mod capture_api;
mod multinode;
mod seed_walkthrough;
mod simple_lab;
