//! Small measurement helpers: resident memory, latency percentiles, CPU time.

use std::time::{Duration, Instant};

/// Resident set size of this process, in bytes (Linux `/proc/self/status`).
pub fn rss_bytes() -> u64 {
    rss_from("/proc/self/status")
}

/// Resident set size of process `pid`, in bytes; 0 once it is gone.
pub fn rss_bytes_of(pid: u32) -> u64 {
    rss_from(&format!("/proc/{pid}/status"))
}

fn rss_from(path: &str) -> u64 {
    let status = std::fs::read_to_string(path).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// CPU time (user + system) used by this process so far.
pub fn cpu_time() -> Duration {
    cpu_from("/proc/self/stat")
}

/// CPU time (user + system, all threads) used by process `pid` so far; zero once it is gone.
pub fn cpu_time_of(pid: u32) -> Duration {
    cpu_from(&format!("/proc/{pid}/stat"))
}

fn cpu_from(path: &str) -> Duration {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name; clock
    // ticks are 10 ms on every Linux this runs on (USER_HZ = 100).
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// CPU use of a process over a window of wall time, as a share of one core.
pub struct CpuWindow {
    pid: u32,
    cpu0: Duration,
    t0: Instant,
}

impl CpuWindow {
    pub fn start(pid: u32) -> Self {
        CpuWindow {
            pid,
            cpu0: cpu_time_of(pid),
            t0: Instant::now(),
        }
    }

    /// CPU seconds used since `start`.
    pub fn cpu(&self) -> Duration {
        cpu_time_of(self.pid).saturating_sub(self.cpu0)
    }

    /// Percent of one core since `start` (100 = one core busy all the time).
    pub fn percent(&self) -> f64 {
        100.0 * self.cpu().as_secs_f64() / self.t0.elapsed().as_secs_f64().max(1e-9)
    }
}

pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// Latency distribution of repeated runs of `f`.
pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub runs: usize,
}

pub fn latency(runs: usize, mut f: impl FnMut()) -> Latency {
    let mut samples: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    let pick = |q: f64| samples[((samples.len() as f64 - 1.0) * q).round() as usize];
    Latency {
        p50: pick(0.5),
        p99: pick(0.99),
        runs,
    }
}

impl std::fmt::Display for Latency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:>10.3} ms  p99 {:>10.3} ms  ({} runs)",
            ms(self.p50),
            ms(self.p99),
            self.runs
        )
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
