//! `Ovs`: a private Open vSwitch for one test — `ovsdb-server` with its database, sockets, logs
//! and pidfiles in a directory of its own, and optionally `ovs-vswitchd` (userspace `netdev`
//! datapath) running inside a network namespace the test made. A `Drop` stops both daemons
//! and removes the directory, even when the test panics.
//!
//! Why a namespace for ovs-vswitchd: two vswitchd with netdev bridges in one namespace both
//! want the `ovs-netdev` tap, so tests sharing the host namespace would have to run one at a
//! time; in its own namespace each test's switch is isolated and tests run in parallel. Its
//! taps (bridge internal ports) and attached veth ends live in that namespace, which the
//! agent's netns probe watches like any other, so the merge of OVS and netlink nodes is
//! exercised across namespaces. `ovsdb-server` itself stays in the host namespace (it has no
//! interfaces), so the agent reaches it over its unix socket or on 127.0.0.1.
//!
//! Drop order: declare the `Ovs` before the `Lab` in a struct (fields drop in declaration
//! order), or the `Lab` first among locals (locals drop in reverse), so the daemons stop
//! before the namespace is deleted.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Ovs {
    pub dir: PathBuf,
    netns: Option<String>,
    tcp_port: Option<u16>,
    /// Remotes added at run time ([`Ovs::add_remote`]), added again on a restart.
    remotes: Mutex<Vec<String>>,
}

fn run_env(cmd: &str, args: &[&str], dir: &Path) -> Result<String, String> {
    let mut command = Command::new(cmd);
    command
        .args(args)
        .env("OVS_RUNDIR", dir)
        .env("OVS_LOGDIR", dir)
        .env("OVS_DBDIR", dir)
        .env("OVS_SYSCONFDIR", dir);
    crate::lab::run_command(&mut command, cmd, args)
}

fn has(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A free TCP port on 127.0.0.1 (free when asked; good enough for a test's own server).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    l.local_addr().unwrap().port()
}

fn pid_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .map(|s| !s.contains(") Z "))
            .unwrap_or(false)
}

impl Ovs {
    /// Whether the OVS programs are installed (prints why not, for a skip).
    pub fn available(test: &str) -> bool {
        for cmd in ["ovsdb-server", "ovsdb-tool", "ovs-vsctl", "ovs-appctl"] {
            if !has(cmd) {
                eprintln!(
                    "skipping {test}: `{cmd}` is not installed (apt-get install openvswitch-switch)"
                );
                return false;
            }
        }
        true
    }

    /// A database and an ovsdb-server (unix socket `dir/db.sock`, plus 127.0.0.1:<port> when
    /// `tcp`), or `None` after printing why OVS is not available.
    pub fn server(test: &str, tcp: bool) -> Option<Ovs> {
        if !Self::available(test) {
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("skt-{test}-{}-{n}-ovs", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create OVS dir");
        let ovs = Ovs {
            dir,
            netns: None,
            tcp_port: tcp.then(free_port),
            remotes: Mutex::new(Vec::new()),
        };
        ovs.tool(&[
            "create",
            &ovs.path("conf.db"),
            "/usr/share/openvswitch/vswitch.ovsschema",
        ]);
        ovs.start_server();
        ovs.vsctl(&["--no-wait", "init"]);
        Some(ovs)
    }

    /// A server plus `ovs-vswitchd` running inside namespace `netns`.
    pub fn switch(test: &str, netns: &str, tcp: bool) -> Option<Ovs> {
        if !has("ovs-vswitchd") {
            eprintln!("skipping {test}: `ovs-vswitchd` is not installed");
            return None;
        }
        let mut ovs = Self::server(test, tcp)?;
        let sock = format!("unix:{}", ovs.path("db.sock"));
        let args = [
            "netns",
            "exec",
            netns,
            "ovs-vswitchd",
            &sock,
            &format!("--pidfile={}", ovs.path("ovs-vswitchd.pid")),
            &format!("--unixctl={}", ovs.path("ovs-vswitchd.ctl")),
            &format!("--log-file={}", ovs.path("ovs-vswitchd.log")),
            "-vconsole:off",
            "--detach",
        ];
        run_env("ip", &args, &ovs.dir).unwrap_or_else(|e| panic!("{e}"));
        ovs.netns = Some(netns.to_owned());
        Some(ovs)
    }

    pub fn path(&self, file: &str) -> String {
        self.dir.join(file).to_string_lossy().into_owned()
    }

    /// `unix:///…/db.sock`.
    pub fn unix_address(&self) -> String {
        format!("unix://{}", self.path("db.sock"))
    }

    /// `tcp://127.0.0.1:<port>` (servers started with `tcp`).
    pub fn tcp_address(&self) -> String {
        format!(
            "tcp://127.0.0.1:{}",
            self.tcp_port.expect("server started with tcp")
        )
    }

    /// The namespace `ovs-vswitchd` runs in (switches only).
    pub fn switch_netns(&self) -> Option<&str> {
        self.netns.as_deref()
    }

    /// `ovs-appctl -t <dir>/<daemon>.ctl args…` (`daemon`: `ovsdb-server` or `ovs-vswitchd`).
    pub fn appctl(&self, daemon: &str, args: &[&str]) -> String {
        let ctl = self.path(&format!("{daemon}.ctl"));
        let mut all = vec!["-t", ctl.as_str()];
        all.extend_from_slice(args);
        run_env("ovs-appctl", &all, &self.dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .trim()
            .to_owned()
    }

    /// `ovs-appctl -t <ovsdb-server.ctl> ovsdb-server/add-remote <remote>` (e.g.
    /// `ptcp:6400:127.0.0.1`), as Skydive's walkthrough does; re-added after a restart.
    pub fn add_remote(&self, remote: &str) {
        self.appctl("ovsdb-server", &["ovsdb-server/add-remote", remote]);
        self.remotes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(remote.to_owned());
    }

    /// Starts ovsdb-server (again, after [`Ovs::stop_server`]: same database, same remotes).
    pub fn start_server(&self) {
        let mut args = vec![
            self.path("conf.db"),
            format!("--remote=punix:{}", self.path("db.sock")),
            format!("--pidfile={}", self.path("ovsdb-server.pid")),
            format!("--unixctl={}", self.path("ovsdb-server.ctl")),
            format!("--log-file={}", self.path("ovsdb-server.log")),
            "-vconsole:off".into(),
            "--detach".into(),
        ];
        if let Some(p) = self.tcp_port {
            args.push(format!("--remote=ptcp:{p}:127.0.0.1"));
        }
        for r in self
            .remotes
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            args.push(format!("--remote={r}"));
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_env("ovsdb-server", &args, &self.dir).unwrap_or_else(|e| panic!("{e}"));
    }

    /// Stops ovsdb-server (the test restarts it with [`Ovs::start_server`]).
    pub fn stop_server(&self) {
        self.stop("ovsdb-server");
    }

    fn stop(&self, daemon: &str) {
        let pid = std::fs::read_to_string(self.path(&format!("{daemon}.pid")))
            .ok()
            .and_then(|p| p.trim().parse::<i32>().ok());
        let ctl = self.path(&format!("{daemon}.ctl"));
        let mut args = vec!["-t", ctl.as_str(), "exit"];
        if daemon == "ovs-vswitchd" {
            args.push("--cleanup");
        }
        let _ = run_env("ovs-appctl", &args, &self.dir);
        if let Some(pid) = pid {
            let deadline = Instant::now() + Duration::from_secs(5);
            while pid_alive(pid) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if pid_alive(pid) {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            }
        }
        let _ = std::fs::remove_file(self.path(&format!("{daemon}.pid")));
    }

    /// `ovs-vsctl` on this database, panicking with its stderr on failure.
    pub fn vsctl(&self, args: &[&str]) -> String {
        let db = format!("--db=unix:{}", self.path("db.sock"));
        let mut all = vec![db.as_str(), "--timeout=20"];
        all.extend_from_slice(args);
        run_env("ovs-vsctl", &all, &self.dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .trim()
            .to_owned()
    }

    /// `_uuid` of a row (`ovs-vsctl get <table> <record> _uuid`).
    pub fn uuid(&self, table: &str, record: &str) -> String {
        self.vsctl(&["get", table, record, "_uuid"])
    }

    /// `ovsdb-tool` (offline edits, with the server stopped).
    pub fn tool(&self, args: &[&str]) -> String {
        run_env("ovsdb-tool", args, &self.dir).unwrap_or_else(|e| panic!("{e}"))
    }
}

impl Drop for Ovs {
    fn drop(&mut self) {
        if self.netns.is_some() {
            self.stop("ovs-vswitchd");
        }
        self.stop("ovsdb-server");
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
