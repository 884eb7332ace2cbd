//! `NetnsLab`: many network namespaces, each holding one end of a veth pair whose other end
//! stays in the host namespace, made and removed in bulk with `ip -batch -` (one process for
//! hundreds of namespaces, where one `ip` per command would dominate the churn's cost).
//!
//! Names carry this process's tag, `sdb<pid in hex>`, so concurrent runs and other people's
//! labs never collide: namespaces `<tag>-<i>` (the standing set) and `<tag>-c<i>` (churn),
//! interfaces `<tag>h<i>` / `<tag>n<i>` (host end / namespace end) and `<tag>x<i>` / `<tag>y<i>`
//! for churn, at most 15 bytes. On drop it deletes every namespace and host link bearing its
//! tag, and nothing else (never `ip -all netns delete`). Needs root.

use std::io::Write;
use std::process::{Command, Stdio};

/// Where `ip netns add` mounts namespaces.
pub const RUN_PATH: &str = "/var/run/netns";

/// Which set a namespace belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// Created once, kept for the whole run.
    Standing,
    /// Created and deleted during the churn phase.
    Churn,
}

pub struct NetnsLab {
    tag: String,
}

impl Default for NetnsLab {
    fn default() -> Self {
        Self::new()
    }
}

impl NetnsLab {
    pub fn new() -> Self {
        NetnsLab {
            tag: format!("sdb{:x}", std::process::id()),
        }
    }

    pub fn tag(&self) -> &str {
        &self.tag
    }

    pub fn netns(&self, set: Set, i: usize) -> String {
        match set {
            Set::Standing => format!("{}-{i}", self.tag),
            Set::Churn => format!("{}-c{i}", self.tag),
        }
    }

    /// (host end, namespace end) of namespace `i`'s veth.
    pub fn veth(&self, set: Set, i: usize) -> (String, String) {
        let (h, n) = veth_letters(set);
        (format!("{}{h}{i}", self.tag), format!("{}{n}{i}", self.tag))
    }

    /// Gremlin regular expressions matching the names of a set: (namespaces, veth ends).
    pub fn patterns(&self, set: Set) -> (String, String) {
        match set {
            Set::Standing => (
                format!("{}-[0-9]+", self.tag),
                format!("{}[hn][0-9]+", self.tag),
            ),
            Set::Churn => (
                format!("{}-c[0-9]+", self.tag),
                format!("{}[xy][0-9]+", self.tag),
            ),
        }
    }

    /// Commands creating namespace `i` of `set` with its veth (host end up).
    pub fn create_cmds(&self, set: Set, i: usize) -> String {
        let ns = self.netns(set, i);
        let (h, n) = self.veth(set, i);
        format!(
            "netns add {ns}\nlink add {h} type veth peer name {n} netns {ns}\nlink set {h} up\n"
        )
    }

    /// Command deleting namespace `i` of `set`; the kernel then destroys its veth pair.
    pub fn delete_cmds(&self, set: Set, i: usize) -> String {
        format!("netns del {}\n", self.netns(set, i))
    }

    /// Runs `ip -batch -` on `cmds`.
    pub fn batch(&self, cmds: &str) -> Result<(), String> {
        ip_batch(&["-batch", "-"], cmds)
    }

    /// Names of this lab's namespaces that exist now.
    pub fn existing_netns(&self) -> Vec<String> {
        let prefix = format!("{}-", self.tag);
        std::fs::read_dir(RUN_PATH)
            .map(|rd| {
                rd.filter_map(Result::ok)
                    .filter_map(|e| e.file_name().into_string().ok())
                    .filter(|n| n.starts_with(&prefix))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Names of this lab's links in the host namespace that exist now.
    pub fn existing_host_links(&self) -> Vec<String> {
        let Ok(rd) = std::fs::read_dir("/sys/class/net") else {
            return Vec::new();
        };
        rd.filter_map(Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| n.starts_with(&self.tag))
            .collect()
    }

    /// Host ends of `set`'s veths that exist now.
    pub fn existing_host_links_of(&self, set: Set) -> Vec<String> {
        let prefix = format!("{}{}", self.tag, veth_letters(set).0);
        let mut links = self.existing_host_links();
        links.retain(|l| l.starts_with(&prefix));
        links
    }

    /// Deletes whatever of this lab exists: host links first (their peers go with them), then
    /// the namespaces.
    pub fn clean(&self) -> Result<(), String> {
        let mut cmds = String::new();
        for l in self.existing_host_links() {
            cmds.push_str(&format!("link del {l}\n"));
        }
        for ns in self.existing_netns() {
            cmds.push_str(&format!("netns del {ns}\n"));
        }
        // `-force` goes on after an error (a link already gone with its namespace).
        let _ = ip_batch(&["-force", "-batch", "-"], &cmds);
        let left = self.existing_netns();
        if left.is_empty() {
            Ok(())
        } else {
            Err(format!("namespaces left behind: {}", left.join(" ")))
        }
    }
}

fn veth_letters(set: Set) -> (char, char) {
    match set {
        Set::Standing => ('h', 'n'),
        Set::Churn => ('x', 'y'),
    }
}

fn ip_batch(args: &[&str], cmds: &str) -> Result<(), String> {
    if cmds.is_empty() {
        return Ok(());
    }
    let mut child = Command::new("ip")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run `ip`: {e}"))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(cmds.as_bytes())
            .map_err(|e| format!("ip -batch: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("ip -batch: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip -batch failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Drop for NetnsLab {
    fn drop(&mut self) {
        if let Err(e) = self.clean() {
            eprintln!("cleanup: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gremlin's `Regex` matches the whole value, like this.
    fn matches(re: &str, s: &str) -> bool {
        regex::Regex::new(&format!("^(?:{re})$"))
            .unwrap()
            .is_match(s)
    }

    #[test]
    fn names_fit_in_an_interface_name_and_sets_do_not_overlap() {
        let lab = NetnsLab {
            tag: "sdb3fffff".to_owned(),
        };
        let (h, n) = lab.veth(Set::Standing, 99_999);
        assert!(h.len() <= 15 && n.len() <= 15, "{h} {n}");
        let (ns_re, veth_re) = lab.patterns(Set::Standing);
        let (churn_ns_re, churn_veth_re) = lab.patterns(Set::Churn);
        assert!(matches(&ns_re, &lab.netns(Set::Standing, 7)));
        assert!(!matches(&ns_re, &lab.netns(Set::Churn, 7)));
        assert!(matches(&churn_ns_re, &lab.netns(Set::Churn, 7)));
        assert!(matches(&veth_re, &lab.veth(Set::Standing, 3).1));
        assert!(!matches(&veth_re, &lab.veth(Set::Churn, 3).0));
        assert!(matches(&churn_veth_re, &lab.veth(Set::Churn, 3).1));
    }
}
