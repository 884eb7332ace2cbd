//! Agent at scale: N network namespaces, each holding one end of a veth pair (the other end in
//! the host namespace), watched by a real `skydive agent` forwarding to a real
//! `skydive analyzer`, both separate processes. Prints, for each N:
//!
//! - the time from the agent's start until the analyzer holds the N `netns` nodes and the 2N
//!   veth ends (polled with Gremlin counts on `POST /api/topology`);
//! - the agent's idle CPU (share of one core over 30 s, `/proc/<pid>/stat` utime+stime) and RSS;
//! - churn: 10 namespaces (with a veth each) created and 10 deleted every second for 30 s; the
//!   agent's CPU and RSS meanwhile; how many churned namespaces and veth ends the analyzer was
//!   seen to hold at least once; and, after the churn, whether it converges to exactly what
//!   exists (N namespaces, none of the churned ones) and how long that takes.
//!
//! Usage (root; from the workspace root, after `cargo build --release -p skydive -p skydive-bench`):
//!
//! ```text
//! target/release/agent_scale_bench [N...] [--skydive PATH] [--idle-secs S] [--churn-secs S]
//! ```
//!
//! Defaults: N = 100 1000, `target/release/skydive`, 30 s idle, 30 s churn. Namespaces and
//! interfaces are named `sdb<pid hex>…` and deleted on exit, even after an error, a panic or
//! Ctrl-C; the agent watches the default `/var/run/netns`, so only this run's names are counted.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use skydive_bench::http_client::{get, gremlin, gremlin_count};
use skydive_bench::measure::{CpuWindow, cpu_time_of, mib, rss_bytes_of};
use skydive_bench::netns_lab::{NetnsLab, Set};
use skydive_bench::skydive_process::{SkydiveProcess, free_addr, skydive_bin};

/// Namespaces created (and as many deleted) per second of churn.
const CHURN_PER_SEC: usize = 10;
/// Upper bound on any wait for the analyzer, so a broken run ends. Not a timing claim.
const PATIENCE: Duration = Duration::from_secs(300);
/// Left to the agent after the sync and before the idle window (late netlink dumps, metrics).
const SETTLE: Duration = Duration::from_secs(5);

struct Options {
    sizes: Vec<usize>,
    bin: PathBuf,
    idle: Duration,
    churn_secs: usize,
}

fn options() -> Options {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let flag = |name: &str| {
        args.windows(2)
            .find(|w| w[0] == name)
            .and_then(|w| w[1].parse::<u64>().ok())
    };
    let mut sizes = Vec::new();
    let mut skip = false;
    for a in &args {
        if std::mem::take(&mut skip) {
            continue;
        }
        if a.starts_with("--") {
            skip = true;
        } else if let Ok(n) = a.parse() {
            sizes.push(n);
        }
    }
    if sizes.is_empty() {
        sizes = vec![100, 1000];
    }
    Options {
        sizes,
        bin: skydive_bin(&args),
        idle: Duration::from_secs(flag("--idle-secs").unwrap_or(30)),
        churn_secs: flag("--churn-secs").unwrap_or(30) as usize,
    }
}

fn main() -> ExitCode {
    let opts = options();
    // Ctrl-C and SIGTERM end the run through the normal error path, so every guard is dropped
    // and the namespaces are deleted.
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register(sig, stop.clone());
    }
    let mut ok = true;
    for &n in &opts.sizes {
        println!("== agent with {n} namespaces ==");
        if let Err(e) = run(n, &opts, &stop) {
            eprintln!("agent_scale_bench {n}: {e}");
            ok = false;
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Everything one run owns. Fields drop in order: the agent stops first (it says `Bye`), then
/// the analyzer, then the namespaces go, then the temporary directory.
struct Bench<'a> {
    agent: Option<SkydiveProcess>,
    analyzer: SkydiveProcess,
    lab: NetnsLab,
    dir: tempfile::TempDir,
    api: SocketAddr,
    stop: &'a AtomicBool,
}

fn run(n: usize, opts: &Options, stop: &AtomicBool) -> Result<(), String> {
    let lab = NetnsLab::new();
    lab.clean()?;
    let t = Instant::now();
    let cmds: String = (0..n).map(|i| lab.create_cmds(Set::Standing, i)).collect();
    lab.batch(&cmds)?;
    println!(
        "lab: {n} namespaces + {n} veth pairs created in {:.2} s (ip -batch)",
        t.elapsed().as_secs_f64()
    );
    let mut b = Bench::start(lab, &opts.bin, stop)?;
    let agent_api = b.start_agent(&opts.bin)?;
    let result = b.measure(n, opts, agent_api);
    if result.is_err() {
        if let Some(agent) = &b.agent {
            eprintln!("agent log (end):\n{}", agent.log_tail(15));
        }
        eprintln!("analyzer log (end):\n{}", b.analyzer.log_tail(15));
    }
    result
}

impl<'a> Bench<'a> {
    fn start(lab: NetnsLab, bin: &Path, stop: &'a AtomicBool) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let api = free_addr()?;
        let yaml = format!(
            "host_id: {tag}-analyzer\nanalyzer:\n  listen: {api}\nstorage:\n  data_dir: {data}\n\
             logging:\n  level: WARNING\n",
            tag = lab.tag(),
            data = dir.path().join("data").display()
        );
        let mut analyzer = SkydiveProcess::spawn(bin, "analyzer", &yaml, dir.path())?;
        analyzer.wait_listening(api, Duration::from_secs(30))?;
        Ok(Bench {
            agent: None,
            analyzer,
            lab,
            dir,
            api,
            stop,
        })
    }

    /// Starts the agent; returns its own API address.
    fn start_agent(&mut self, bin: &Path) -> Result<SocketAddr, String> {
        let listen = free_addr()?;
        let yaml = format!(
            "host_id: {tag}-agent\nagent:\n  listen: {listen}\n  analyzers: [\"{api}\"]\n\
             logging:\n  level: WARNING\n",
            tag = self.lab.tag(),
            api = self.api
        );
        self.agent = Some(SkydiveProcess::spawn(bin, "agent", &yaml, self.dir.path())?);
        Ok(listen)
    }

    fn agent_pid(&self) -> u32 {
        self.agent.as_ref().map_or(0, SkydiveProcess::pid)
    }

    fn check(&mut self) -> Result<(), String> {
        if self.stop.load(Ordering::Relaxed) {
            return Err("interrupted".to_owned());
        }
        if let Some(agent) = self.agent.as_mut() {
            agent.check_alive()?;
        }
        self.analyzer.check_alive()
    }

    fn measure(&mut self, n: usize, opts: &Options, agent_api: SocketAddr) -> Result<(), String> {
        self.initial_sync(n)?;
        std::thread::sleep(SETTLE);
        self.idle(opts.idle)?;
        let seen = self.churn(opts.churn_secs)?;
        self.after_churn(n, opts.churn_secs, &seen)?;
        print_forwarder(agent_api);
        Ok(())
    }

    /// The agent was just started: waits until the analyzer holds the whole lab.
    fn initial_sync(&mut self, n: usize) -> Result<(), String> {
        let t0 = Instant::now();
        let want = Counts {
            netns: n as u64,
            veth: 2 * n as u64,
            churn_netns: 0,
            churn_veth: 0,
        };
        let mut last = Counts::default();
        while t0.elapsed() < PATIENCE {
            self.check()?;
            last = self.counts()?;
            if last.standing_matches(&want) {
                let pid = self.agent_pid();
                println!(
                    "sync: analyzer holds {} netns + {} veth {:.2} s after the agent started \
                     (agent CPU so far {:.2} s, RSS {:.1} MiB)",
                    last.netns,
                    last.veth,
                    t0.elapsed().as_secs_f64(),
                    cpu_time_of(pid).as_secs_f64(),
                    mib(rss_bytes_of(pid))
                );
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "the analyzer did not reach {want:?} within {PATIENCE:?}: {last:?}"
        ))
    }

    fn idle(&mut self, window: Duration) -> Result<(), String> {
        let pid = self.agent_pid();
        let cpu = CpuWindow::start(pid);
        let mut peak = 0;
        let end = Instant::now() + window;
        while Instant::now() < end {
            self.check()?;
            peak = peak.max(rss_bytes_of(pid));
            std::thread::sleep(Duration::from_millis(500));
        }
        println!(
            "idle {:.0} s: agent CPU {:.2} % of a core ({:.2} s), RSS {:.1} MiB (peak {:.1} MiB)",
            window.as_secs_f64(),
            cpu.percent(),
            cpu.cpu().as_secs_f64(),
            mib(rss_bytes_of(pid)),
            mib(peak)
        );
        Ok(())
    }

    /// Creates [`CHURN_PER_SEC`] namespaces and deletes the previous second's every second,
    /// polling the analyzer in between for the churned names it holds.
    fn churn(&mut self, secs: usize) -> Result<Seen, String> {
        let pid = self.agent_pid();
        let cpu = CpuWindow::start(pid);
        let start = Instant::now();
        let mut seen = Seen::default();
        let mut peak = 0;
        let mut ip_time = Duration::ZERO;
        for tick in 0..=secs {
            self.check()?;
            let mut cmds = String::new();
            if tick > 0 {
                for i in (tick - 1) * CHURN_PER_SEC..tick * CHURN_PER_SEC {
                    cmds.push_str(&self.lab.delete_cmds(Set::Churn, i));
                }
            }
            if tick < secs {
                for i in tick * CHURN_PER_SEC..(tick + 1) * CHURN_PER_SEC {
                    cmds.push_str(&self.lab.create_cmds(Set::Churn, i));
                }
            }
            let t = Instant::now();
            self.lab.batch(&cmds)?;
            ip_time += t.elapsed();
            if tick == secs {
                break;
            }
            let next = start + Duration::from_secs(tick as u64 + 1);
            while Instant::now() < next {
                seen.poll(self.api, &self.lab)?;
                peak = peak.max(rss_bytes_of(pid));
                std::thread::sleep(Duration::from_millis(150));
            }
        }
        println!(
            "churn {secs} s ({CHURN_PER_SEC}/s created and deleted, {} namespaces in all; \
             ip took {:.2} s): agent CPU {:.2} % of a core ({:.2} s), RSS {:.1} MiB (peak {:.1} MiB)",
            secs * CHURN_PER_SEC,
            ip_time.as_secs_f64(),
            cpu.percent(),
            cpu.cpu().as_secs_f64(),
            mib(rss_bytes_of(pid)),
            mib(peak)
        );
        Ok(seen)
    }

    /// Waits for the kernel to destroy the churned namespaces' veths, then for the analyzer to
    /// hold exactly the standing lab.
    fn after_churn(&mut self, n: usize, secs: usize, seen: &Seen) -> Result<(), String> {
        let t0 = Instant::now();
        while !self.lab.existing_host_links_of(Set::Churn).is_empty()
            && t0.elapsed() < Duration::from_secs(60)
        {
            std::thread::sleep(Duration::from_millis(100));
        }
        let kernel_done = t0.elapsed();
        let exists = self.lab.existing_netns().len();
        let want = Counts {
            netns: n as u64,
            veth: 2 * n as u64,
            churn_netns: 0,
            churn_veth: 0,
        };
        let mut seen = seen.clone();
        let mut last = Counts::default();
        while t0.elapsed() < kernel_done + Duration::from_secs(60) {
            self.check()?;
            seen.poll(self.api, &self.lab)?;
            last = self.counts()?;
            if last == want {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let churned = secs * CHURN_PER_SEC;
        println!(
            "after churn: kernel removed the churned veths {:.2} s after the last delete; \
             analyzer {} {:.2} s after it: {} netns (exist: {exists}), {} veth, churned left: \
             {} netns, {} veth",
            kernel_done.as_secs_f64(),
            if last == want {
                "converged"
            } else {
                "DID NOT converge"
            },
            t0.elapsed().as_secs_f64(),
            last.netns,
            last.veth,
            last.churn_netns,
            last.churn_veth
        );
        println!(
            "churned seen in the analyzer at least once: {}/{churned} netns, {}/{} veth ends \
             (polled every ~0.15 s; a namespace lives ~1 s)",
            seen.netns.len(),
            seen.veth.len(),
            2 * churned
        );
        if last == want {
            Ok(())
        } else {
            Err("missed change: the analyzer's graph differs from the kernel's".to_owned())
        }
    }

    fn counts(&self) -> Result<Counts, String> {
        let (ns, veth) = self.lab.patterns(Set::Standing);
        let (cns, cveth) = self.lab.patterns(Set::Churn);
        Ok(Counts {
            netns: gremlin_count(self.api, &netns_query(&ns, ".Count()"))?,
            veth: gremlin_count(self.api, &veth_query(&veth, ".Count()"))?,
            churn_netns: gremlin_count(self.api, &netns_query(&cns, ".Count()"))?,
            churn_veth: gremlin_count(self.api, &veth_query(&cveth, ".Count()"))?,
        })
    }
}

fn netns_query(pattern: &str, tail: &str) -> String {
    format!("G.V().Has('Type','netns','Name',Regex('{pattern}')){tail}")
}

fn veth_query(pattern: &str, tail: &str) -> String {
    format!("G.V().Has('Type','veth','Name',Regex('{pattern}')){tail}")
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    netns: u64,
    veth: u64,
    churn_netns: u64,
    churn_veth: u64,
}

impl Counts {
    fn standing_matches(&self, want: &Counts) -> bool {
        self.netns == want.netns && self.veth == want.veth
    }
}

/// Churned names the analyzer was seen to hold.
#[derive(Debug, Default, Clone)]
struct Seen {
    netns: BTreeSet<String>,
    veth: BTreeSet<String>,
}

impl Seen {
    fn poll(&mut self, api: SocketAddr, lab: &NetnsLab) -> Result<(), String> {
        let (ns, veth) = lab.patterns(Set::Churn);
        let names = |v: Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default()
        };
        self.netns
            .extend(names(gremlin(api, &netns_query(&ns, ".Values('Name')"))?));
        self.veth
            .extend(names(gremlin(api, &veth_query(&veth, ".Values('Name')"))?));
        Ok(())
    }
}

/// The agent's forwarding counters (drops and resyncs would explain a missed change).
fn print_forwarder(agent_api: SocketAddr) {
    match get(agent_api, "/api/status") {
        Ok((200, body)) => {
            let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            println!("agent Forwarder: {}", v["Forwarder"]);
        }
        Ok((status, body)) => println!("agent /api/status: HTTP {status}: {body}"),
        Err(e) => println!("agent /api/status: {e}"),
    }
}
