//! `Lab`: a throw-away network world for one test — namespaces, veths, a bridge — with unique
//! names (`skt-<test>-<pid>-<n>-<role>` for namespaces, `sks<pid><n><role>` for interfaces,
//! at most 15 bytes) and a `Drop` that removes everything it made, even when the test panics.
//! It only deletes what it created; traffic stays inside its namespaces.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    test: String,
    tag: String,
    namespaces: Vec<String>,
    links: Vec<String>,
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`{cmd} {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl Lab {
    /// A new lab, or `None` (after printing why) when this process cannot build one.
    pub fn new(test: &str) -> Option<Lab> {
        if !is_root() {
            eprintln!(
                "skipping {test}: needs root (creates network namespaces, veths and a bridge)"
            );
            return None;
        }
        if run("ip", &["-V"]).is_err() {
            eprintln!("skipping {test}: the `ip` command (iproute2) is not installed");
            return None;
        }
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        Some(Lab {
            test: format!("{test}-{pid}-{n}"),
            tag: format!("{pid:x}{}", char::from_digit(n % 36, 36).unwrap_or('z')),
            namespaces: Vec::new(),
            links: Vec::new(),
        })
    }

    /// An interface name for `role` (≤ 4 chars), unique to this lab.
    pub fn ifname(&self, role: &str) -> String {
        let name = format!("sks{}{role}", self.tag);
        assert!(name.len() <= 15, "interface name `{name}` is too long");
        name
    }

    /// A namespace made with `ip netns add` (in /var/run/netns), its `lo` up.
    pub fn netns(&mut self, role: &str) -> String {
        let name = format!("skt-{}-{role}", self.test);
        self.ip(&["netns", "add", &name]);
        self.namespaces.push(name.clone());
        self.ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// Deletes a namespace of this lab (the test wants to see it go).
    pub fn delete_netns(&mut self, name: &str) {
        self.ip(&["netns", "del", name]);
        self.namespaces.retain(|n| n != name);
    }

    pub fn ip(&self, args: &[&str]) -> String {
        run("ip", args).unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn ip_in(&self, ns: &str, args: &[&str]) -> String {
        let mut all = vec!["-n", ns];
        all.extend_from_slice(args);
        self.ip(&all)
    }

    /// A host-namespace bridge, up.
    pub fn bridge(&mut self, role: &str) -> String {
        let br = self.ifname(role);
        self.ip(&["link", "add", &br, "type", "bridge"]);
        self.links.push(br.clone());
        self.ip(&["link", "set", &br, "up"]);
        br
    }

    /// A veth pair: `host` stays in the host namespace (up), `peer` goes into `ns` (up).
    pub fn veth_into(&mut self, host_role: &str, peer_role: &str, ns: &str) -> (String, String) {
        let (a, b) = (self.ifname(host_role), self.ifname(peer_role));
        self.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        self.links.push(a.clone());
        self.ip(&["link", "set", &b, "netns", ns]);
        self.ip(&["link", "set", &a, "up"]);
        self.ip_in(ns, &["link", "set", &b, "up"]);
        (a, b)
    }

    /// `ip -j link show` of one interface.
    pub fn link_json(&self, ns: Option<&str>, name: &str) -> Value {
        let out = match ns {
            Some(ns) => self.ip_in(ns, &["-j", "link", "show", "dev", name]),
            None => self.ip(&["-j", "link", "show", "dev", name]),
        };
        let v: Value = serde_json::from_str(&out).expect("ip -j output is JSON");
        v[0].clone()
    }

    pub fn mac(&self, ns: Option<&str>, name: &str) -> String {
        self.link_json(ns, name)["address"]
            .as_str()
            .expect("address")
            .to_owned()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for l in self.links.drain(..).rev() {
            let _ = run("ip", &["link", "del", &l]);
        }
        for ns in self.namespaces.drain(..).rev() {
            let _ = run("ip", &["netns", "del", &ns]);
        }
    }
}
