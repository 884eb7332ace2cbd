//! Benchmarks of the Skydive engine, printing figures (never asserting timings).
//! `synth` builds deterministic synthetic topologies; `measure` reads RSS, CPU and latency;
//! `skydive_process` runs `skydive analyzer|agent` as separate processes, `http_client` queries
//! their API, `netns_lab` makes namespaces and veths in bulk (root only).
//! The binaries under `src/bin/` are the benchmarks; `bench/README.md` says how to run them.

pub mod http_client;
pub mod measure;
pub mod netns_lab;
pub mod skydive_process;
pub mod synth;

/// Graph sizes the synthetic benchmarks run at: the numeric arguments, else 100k and 1M nodes.
pub fn sizes<S: AsRef<str>>(args: impl IntoIterator<Item = S>) -> Vec<usize> {
    let sizes: Vec<usize> = args
        .into_iter()
        .filter_map(|a| a.as_ref().parse().ok())
        .collect();
    if sizes.is_empty() {
        vec![100_000, 1_000_000]
    } else {
        sizes
    }
}
