//! Benchmarks of the Skydive engine, printing figures (never asserting timings).
//! `synth` builds deterministic synthetic topologies; `measure` reads RSS, CPU and latency.
//! The binaries under `src/bin/` are the benchmarks; `bench/README.md` says how to run them.

pub mod measure;
pub mod synth;
