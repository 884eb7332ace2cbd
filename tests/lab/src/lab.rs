//! `Lab`: a throw-away network world for one test — namespaces, veths, bridges, bind mounts —
//! with unique names (`skt-<test>-<pid>-<n>-<role>` for namespaces, `skt<pid><n><role>` for
//! interfaces, which must fit in 15 bytes) and a `Drop` that removes everything it made, even
//! when the test panics. It only ever deletes what it created, and all traffic stays inside its
//! namespaces.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use serde_json::Value;

static COUNTER: AtomicU32 = AtomicU32::new(0);

pub struct Lab {
    test: String,
    tag: String,
    namespaces: Vec<String>,
    links: Vec<String>,
    mounts: Vec<PathBuf>,
    dirs: Vec<PathBuf>,
}

/// Runs `cmd` with `args`: its stdout, or an error quoting the command and its stderr.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    run_command(Command::new(cmd).args(args), cmd, args)
}

/// Runs a prepared `command` (`cmd` with `args`, maybe an environment): its stdout, or an
/// error quoting the command and its stderr.
pub(crate) fn run_command(
    command: &mut Command,
    cmd: &str,
    args: &[&str],
) -> Result<String, String> {
    let out = command.output().map_err(|e| format!("{cmd}: {e}"))?;
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

/// Runs `args` inside network namespace `ns` (`ip netns exec`): its stdout; panics with its
/// output when it fails (for commands a test cannot go on without).
pub fn run_in(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip")
        .args(["netns", "exec", ns])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("ip netns exec {ns} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "`{}` in {ns} failed: {}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether this process runs as root (owner of `/proc/self`).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

impl Lab {
    /// A new lab, or `None` (after printing why) when this process cannot build one.
    pub fn new(test: &str) -> Option<Lab> {
        if !is_root() {
            eprintln!(
                "skipping {test}: needs root (creates network namespaces, veths and bridges)"
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
            mounts: Vec::new(),
            dirs: Vec::new(),
        })
    }

    /// A name for `role` unique to this lab (`skt-<test>-<pid>-<n>-<role>`), for namespaces,
    /// host ids and the like (too long for an interface: see [`Lab::ifname`]).
    pub fn name(&self, role: &str) -> String {
        format!("skt-{}-{role}", self.test)
    }

    /// An interface name for `role` (≤ 4 chars), unique to this lab.
    pub fn ifname(&self, role: &str) -> String {
        let name = format!("skt{}{role}", self.tag);
        assert!(name.len() <= 15, "interface name `{name}` is too long");
        name
    }

    /// Creates a namespace with `ip netns add` (in /var/run/netns) and brings its `lo` up.
    pub fn netns(&mut self, role: &str) -> String {
        let name = self.name(role);
        self.ip(&["netns", "add", &name]);
        self.namespaces.push(name.clone());
        self.ip(&["-n", &name, "link", "set", "lo", "up"]);
        name
    }

    /// Takes over a namespace made by someone else for this lab (a script the test ran): the
    /// lab deletes it on drop.
    pub fn adopt_netns(&mut self, name: &str) {
        self.namespaces.push(name.to_owned());
    }

    /// Takes over a host-namespace link made for this lab by someone else (deleted on drop).
    pub fn adopt_link(&mut self, name: &str) {
        self.links.push(name.to_owned());
    }

    /// Deletes a namespace this lab created (the test wants to see it go).
    pub fn delete_netns(&mut self, name: &str) {
        self.ip(&["netns", "del", name]);
        self.namespaces.retain(|n| n != name);
    }

    /// Runs `ip` with `args`, panicking with its stderr on failure.
    pub fn ip(&self, args: &[&str]) -> String {
        run("ip", args).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Runs `ip -n ns` with `args`.
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

    /// A veth pair between two namespaces of this lab: `a` in `ns_a`, `b` in `ns_b`, both up.
    pub fn veth_between(
        &mut self,
        role_a: &str,
        ns_a: &str,
        role_b: &str,
        ns_b: &str,
    ) -> (String, String) {
        let (a, b) = (self.ifname(role_a), self.ifname(role_b));
        self.ip(&["link", "add", &a, "type", "veth", "peer", "name", &b]);
        self.links.push(a.clone());
        self.ip(&["link", "set", &a, "netns", ns_a]);
        self.ip(&["link", "set", &b, "netns", ns_b]);
        self.ip_in(ns_a, &["link", "set", &a, "up"]);
        self.ip_in(ns_b, &["link", "set", &b, "up"]);
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

    pub fn ifindex(&self, ns: Option<&str>, name: &str) -> i64 {
        self.link_json(ns, name)["ifindex"]
            .as_i64()
            .expect("ifindex")
    }

    pub fn mac(&self, ns: Option<&str>, name: &str) -> String {
        self.link_json(ns, name)["address"]
            .as_str()
            .expect("address")
            .to_owned()
    }

    /// A private directory (for a test's own `run_path`).
    pub fn dir(&mut self, role: &str) -> PathBuf {
        let d = std::env::temp_dir().join(self.name(role));
        std::fs::create_dir_all(&d).expect("create lab dir");
        self.dirs.push(d.clone());
        d
    }

    /// Creates an empty file `dir/name` (what `ip netns add` does before mounting).
    pub fn placeholder(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, b"").expect("create placeholder");
        p
    }

    /// Bind-mounts namespace `ns` onto `target` (an existing file).
    pub fn bind_netns(&mut self, ns: &str, target: &Path) {
        let src = format!("/var/run/netns/{ns}");
        run("mount", &["--bind", &src, &target.to_string_lossy()])
            .unwrap_or_else(|e| panic!("{e}"));
        self.mounts.push(target.to_owned());
    }

    /// Unmounts and removes a bind mount made by [`Lab::bind_netns`].
    pub fn unbind(&mut self, target: &Path) {
        run("umount", &[&target.to_string_lossy()]).unwrap_or_else(|e| panic!("{e}"));
        self.mounts.retain(|m| m != target);
        let _ = std::fs::remove_file(target);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for m in self.mounts.drain(..).rev() {
            let _ = run("umount", &["-l", &m.to_string_lossy()]);
            let _ = std::fs::remove_file(&m);
        }
        for l in self.links.drain(..).rev() {
            let _ = run("ip", &["link", "del", &l]);
        }
        for ns in self.namespaces.drain(..).rev() {
            let _ = run("ip", &["netns", "del", &ns]);
        }
        for d in self.dirs.drain(..).rev() {
            let _ = std::fs::remove_dir_all(&d);
        }
    }
}
