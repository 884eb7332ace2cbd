//! The seed's single-node lab, private to one test: a namespace `sw` running a private Open
//! vSwitch (ovsdb-server with the seed's `ovsdb-server/add-remote ptcp:…`, ovs-vswitchd with
//! the userspace datapath), `scripts/simple.sh start 192.168.0.1/24 192.168.0.2/24` against it
//! (namespaces vm1 and vm2 under unique names, their host ends in `sw`), and `skydive
//! analyzer` + `skydive agent` started from a config file with only what running side by
//! side needs overridden through `SKYDIVE_*` variables.
//!
//! Isolation: the agent's `agent.topology.netns.run_path` is a private directory where the
//! lab's namespaces are bind-mounted, so it sees this lab's namespaces only (plus the host's
//! own interfaces), and its sFlow collectors open in `sw` (`agent.flow.sflow.netns`), where
//! ovs-vswitchd sends its samples to 127.0.0.1.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use serde_json::Value;
use skydive_functional_tests::{Lab, Ovs, Skydive, eventually, free_port, http, repo_root, run_in};

/// The seed's skydive.yml, verbatim.
pub const SEED_CONFIG: &str = "\
analyzer:
  listen: 0.0.0.0:8082

agent:
  listen: 0.0.0.0:8081
  analyzers: 127.0.0.1:8082
  topology:
    probes:
      - netns
      - netlink
      - ovsdb
  flow:
    probes:
      - ovssflow
";

/// The seed's file without `agent.flow.probes` (its last section): captures come from
/// `/api/capture` only.
pub fn no_flow_probe_config() -> &'static str {
    let (topology, flow) = SEED_CONFIG
        .split_once("  flow:\n")
        .expect("the seed's file ends with agent.flow");
    assert!(flow.trim_start().starts_with("probes:"), "{flow}");
    topology
}

pub const VM1_IP: &str = "192.168.0.1";
pub const VM2_IP: &str = "192.168.0.2";

/// Whether the programs the labs run are installed (prints why not, for a skip).
pub fn tools_present(test: &str) -> bool {
    for cmd in ["ping", "ethtool", "python3", "bash", "mount"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {cmd}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            eprintln!("skipping {test}: `{cmd}` is not installed");
            return false;
        }
    }
    Ovs::available(test)
}

/// `ping -c <count> -i 0.2 <to>` from namespace `ns` (at least one reply, or a panic).
pub fn ping(ns: &str, to: &str, count: u32) -> String {
    run_in(
        ns,
        &["ping", "-c", &count.to_string(), "-i", "0.2", "-W", "2", to],
    )
}

/// Runs one of the repository's lab scripts with `env`, panicking with its output on failure.
pub fn run_script(script: &str, args: &[&str], env: &[(&str, &str)]) {
    let path = repo_root().join("scripts").join(script);
    let out = Command::new("bash")
        .arg(&path)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        out.status.success(),
        "`{script} {}` failed ({}):\n{}{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Bind-mounts each of `namespaces` into `run_dir` under its own name (what the agent's netns
/// probe watches).
pub fn expose_netns(lab: &mut Lab, run_dir: &Path, namespaces: &[&str]) {
    for ns in namespaces {
        let target = lab.placeholder(run_dir, ns);
        lab.bind_netns(ns, &target);
    }
}

/// `SKYDIVE_*` pairs.
pub fn env(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

/// A loopback address with a free port.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// A Gremlin query on `addr`, panicking on an error answer.
pub fn query(addr: SocketAddr, q: &str) -> Value {
    http::gremlin(addr, q).unwrap_or_else(|e| panic!("{e}"))
}

/// Polls a Gremlin query until `ok` accepts its answer; returns that answer.
pub fn wait_query(addr: SocketAddr, what: &str, q: &str, ok: impl Fn(&Value) -> bool) -> Value {
    eventually(what, || {
        let v = http::gremlin(addr, q)?;
        if ok(&v) {
            Ok(v)
        } else {
            Err(format!("{q} answers {v}"))
        }
    })
}

pub fn len_is(n: usize) -> impl Fn(&Value) -> bool {
    move |v| v.as_array().is_some_and(|a| a.len() == n)
}

/// Whether a JSON array holds the string `s`.
pub fn has_str(v: &Value, s: &str) -> bool {
    v.as_array().is_some_and(|a| a.iter().any(|x| x == s))
}

/// A process inside a namespace, killed when dropped (before the lab deletes it).
pub struct Spawned(pub Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `args` inside `ns`, in the background.
pub fn spawn_in(ns: &str, args: &[&str]) -> Spawned {
    Spawned(
        Command::new("ip")
            .args(["netns", "exec", ns])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("ip netns exec {ns} {args:?}: {e}")),
    )
}

/// The lab and its two skydive processes.
pub struct SimpleLab {
    // Field order = drop order: processes, then OVS, then the namespaces.
    pub agent: Option<Skydive>,
    pub analyzer: Option<Skydive>,
    pub ovs: Ovs,
    pub lab: Lab,
    /// ovs-vswitchd's namespace (the veths' host ends are there).
    pub sw: String,
    pub vm1: String,
    pub vm2: String,
    /// The veths' host ends: br-int's ports.
    pub port1: String,
    pub port2: String,
    /// Config file, logs, history.
    pub dir: PathBuf,
    pub analyzer_addr: SocketAddr,
    pub agent_addr: SocketAddr,
    pub agent_host_id: String,
    agent_env: Vec<(String, String)>,
}

impl SimpleLab {
    /// The lab, the analyzer and the agent, all started from `config`; `None` (after printing
    /// why) when this machine cannot run it.
    pub fn start(test: &str, config: &str) -> Option<SimpleLab> {
        let mut lab = Lab::new(test)?;
        if !tools_present(test) {
            return None;
        }
        let sw = lab.netns("sw");
        let ovs = Ovs::switch(test, &sw, false)?;
        // The seed's step: make OVSDB reachable over TCP.
        let ovsdb_port = free_port();
        ovs.add_remote(&format!("ptcp:{ovsdb_port}:127.0.0.1"));

        let (vm1, vm2) = (lab.name("vm1"), lab.name("vm2"));
        lab.adopt_netns(&vm1);
        lab.adopt_netns(&vm2);
        let (port1, port2) = (lab.ifname("p1"), lab.ifname("p2"));
        let db = format!("unix:{}", ovs.path("db.sock"));
        run_script(
            "simple.sh",
            &["start", &format!("{VM1_IP}/24"), &format!("{VM2_IP}/24")],
            &[
                ("OVS_DB", &db),
                ("VM1", &vm1),
                ("VM2", &vm2),
                ("PORT1", &port1),
                ("PORT2", &port2),
                ("SWITCH_NETNS", &sw),
            ],
        );

        let dir = lab.dir("tmp");
        let run_dir = lab.dir("netns");
        expose_netns(&mut lab, &run_dir, &[&sw, &vm1, &vm2]);
        let conf = dir.join("skydive.yml");
        std::fs::write(&conf, config).expect("write skydive.yml");

        let analyzer_addr = free_addr();
        let agent_addr = free_addr();
        let data = dir.join("data").to_string_lossy().into_owned();
        let analyzer = Skydive::start(
            "analyzer",
            "analyzer",
            &conf,
            &env(&[
                ("SKYDIVE_HOST_ID", lab.name("analyzer")),
                ("SKYDIVE_ANALYZER_LISTEN", analyzer_addr.to_string()),
                ("SKYDIVE_STORAGE_DATA_DIR", data.clone()),
            ]),
            analyzer_addr,
            &dir,
        );
        let agent_host_id = lab.name("agent");
        let agent_env = env(&[
            ("SKYDIVE_HOST_ID", agent_host_id.clone()),
            ("SKYDIVE_AGENT_LISTEN", agent_addr.to_string()),
            ("SKYDIVE_AGENT_ANALYZERS", analyzer_addr.to_string()),
            ("SKYDIVE_STORAGE_DATA_DIR", data),
            ("SKYDIVE_OVS_OVSDB", format!("tcp://127.0.0.1:{ovsdb_port}")),
            (
                "SKYDIVE_AGENT_TOPOLOGY_NETNS_RUN_PATH",
                run_dir.to_string_lossy().into_owned(),
            ),
            (
                "SKYDIVE_AGENT_FLOW_SFLOW_NETNS",
                format!("/var/run/netns/{sw}"),
            ),
        ]);
        let mut me = SimpleLab {
            agent: None,
            analyzer: Some(analyzer),
            ovs,
            lab,
            sw,
            vm1,
            vm2,
            port1,
            port2,
            dir,
            analyzer_addr,
            agent_addr,
            agent_host_id,
            agent_env,
        };
        me.start_agent();
        Some(me)
    }

    /// Starts the agent (again).
    pub fn start_agent(&mut self) {
        assert!(self.agent.is_none(), "the agent runs already");
        self.agent = Some(Skydive::start(
            "agent",
            "agent",
            &self.dir.join("skydive.yml"),
            &self.agent_env,
            self.agent_addr,
            &self.dir,
        ));
    }

    /// A Gremlin query on the analyzer.
    pub fn query(&self, q: &str) -> Value {
        query(self.analyzer_addr, q)
    }

    pub fn wait_query(&self, what: &str, q: &str, ok: impl Fn(&Value) -> bool) -> Value {
        wait_query(self.analyzer_addr, what, q, ok)
    }

    /// The analyzer's br-int node (waiting for it).
    pub fn bridge(&self) -> Value {
        self.wait_query(
            "br-int in the analyzer",
            "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int')",
            len_is(1),
        )[0]
        .clone()
    }

    /// br-int's node and its `TID` (what its flows carry as `NodeTID`).
    pub fn bridge_and_tid(&self) -> (Value, String) {
        let br = self.bridge();
        let tid = br["Metadata"]["TID"]
            .as_str()
            .expect("br-int TID")
            .to_owned();
        (br, tid)
    }

    /// `ovs-vsctl list sflow`.
    pub fn sflow_rows(&self) -> String {
        self.ovs.vsctl(&["list", "sflow"])
    }
}

/// br-int's `Captures` entries (empty when the key is absent).
pub fn captures_of_bridge(addr: SocketAddr) -> Result<Vec<Value>, String> {
    let v = http::gremlin(
        addr,
        "G.V().Has('Type', 'ovsbridge', 'Name', 'br-int').Values('Captures')",
    )?;
    Ok(match v.as_array().and_then(|a| a.first()) {
        Some(Value::Array(entries)) => entries.clone(),
        _ => Vec::new(),
    })
}

/// Waits until br-int carries an active capture whose `ID` satisfies `id_ok`; returns it.
pub fn wait_active_capture(addr: SocketAddr, id_ok: impl Fn(&str) -> bool) -> Value {
    eventually("an active capture on br-int", || {
        let caps = captures_of_bridge(addr)?;
        caps.iter()
            .find(|c| c["State"] == "active" && c["ID"].as_str().is_some_and(&id_ok))
            .cloned()
            .ok_or_else(|| format!("Captures: {caps:?}"))
    })
}
