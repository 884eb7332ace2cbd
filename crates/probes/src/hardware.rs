//! `hardware` probe: facts about the machine on the host node, read once at start, with the
//! keys of Skydive's hardware probe (`topology/probes/hardware/`): `CPU` (one entry per logical
//! CPU: `CPU, VendorID, Family, Model, Stepping, PhysicalID, CoreID, Cores, ModelName, Mhz,
//! CacheSize, Microcode`, empty values omitted), `OS`, `Platform`, `PlatformFamily`,
//! `PlatformVersion`, `KernelVersion`, `VirtualizationRole` (when `/proc/cpuinfo` shows a
//! hypervisor), `KernelCmdLine` (a map), `IsolatedCPU`, `InstanceID` (cloud-init).
//!
//! Sources: `/proc/cpuinfo`, `/etc/os-release`, `/etc/debian_version`, `uname(2)`,
//! `/proc/cmdline`, `/sys/devices/system/cpu/isolated`, `/var/lib/cloud/data/instance-id`.
//! A missing source only leaves its keys out.

use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

use crate::probe::{
    Probe, ProbeContext, ProbeError, ProbeHandle, ProbeState, ProbeStatus, StateCell, Unavailable,
};
use crate::topology::TopologyConfig;

/// The `hardware` probe.
pub struct HardwareProbe;

impl Probe for HardwareProbe {
    const NAME: &'static str = "hardware";
    const ALWAYS_ON: bool = true;

    fn check(_cfg: &TopologyConfig) -> Result<(), Unavailable> {
        Ok(())
    }

    fn start(_cfg: &TopologyConfig, cx: ProbeContext) -> Result<ProbeHandle, ProbeError> {
        let facts = collect();
        let state = StateCell::new(ProbeState::Running);
        let res = cx.graph.write().update_node(&cx.host.node_id, |m| {
            for (k, v) in facts {
                m.set(&k, v);
            }
        });
        if let Err(e) = res {
            tracing::warn!(error = %e, "hardware probe could not update the host node");
            state.set(ProbeState::Failed {
                error: e.to_string(),
            });
        }
        let cell = state.clone();
        Ok(ProbeHandle::new(CancellationToken::new(), move || {
            ProbeStatus::new(Self::NAME, cell.get())
        }))
    }
}

fn read(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Every fact this host offers, as host-node metadata keys.
pub fn collect() -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(cpuinfo) = read("/proc/cpuinfo") {
        let cpus = parse_cpuinfo(&cpuinfo);
        if !cpus.is_empty() {
            m.insert("CPU".into(), Value::Array(cpus));
        }
        if cpuinfo
            .lines()
            .any(|l| l.starts_with("flags") && l.split_whitespace().any(|f| f == "hypervisor"))
        {
            m.insert("VirtualizationRole".into(), json!("guest"));
        }
    }
    m.insert("OS".into(), json!(std::env::consts::OS));
    if let Some(osr) = read("/etc/os-release") {
        let (platform, family, version) =
            parse_os_release(&osr, read("/etc/debian_version").as_deref());
        for (k, v) in [
            ("Platform", platform),
            ("PlatformFamily", family),
            ("PlatformVersion", version),
        ] {
            if let Some(v) = v {
                m.insert(k.into(), json!(v));
            }
        }
    }
    if let Ok(u) = nix::sys::utsname::uname() {
        m.insert("KernelVersion".into(), json!(u.release().to_string_lossy()));
    }
    if let Some(cmdline) = read("/proc/cmdline") {
        m.insert(
            "KernelCmdLine".into(),
            Value::Object(parse_cmdline(&cmdline)),
        );
    }
    if let Some(iso) = read("/sys/devices/system/cpu/isolated")
        && let Some(cpus) = parse_cpu_list(iso.trim())
        && !cpus.is_empty()
    {
        m.insert("IsolatedCPU".into(), json!(cpus));
    }
    if let Some(id) = read("/var/lib/cloud/data/instance-id") {
        let id = id.trim();
        if !id.is_empty() {
            m.insert("InstanceID".into(), json!(id));
        }
    }
    m
}

/// One `CPU` entry per `processor` block of `/proc/cpuinfo`.
pub fn parse_cpuinfo(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut cpu = Map::new();
        let mut seen = false;
        for line in block.lines() {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            let (k, v) = (k.trim(), v.trim());
            let int = |s: &str| {
                s.split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<f64>().ok())
                    .map(|f| f as i64)
            };
            let (key, value) = match k {
                "processor" => {
                    seen = true;
                    ("CPU", int(v).map(Value::from))
                }
                "vendor_id" => ("VendorID", Some(json!(v))),
                "cpu family" => ("Family", Some(json!(v))),
                "model" => ("Model", Some(json!(v))),
                "stepping" => ("Stepping", int(v).map(Value::from)),
                "physical id" => ("PhysicalID", Some(json!(v))),
                "core id" => ("CoreID", Some(json!(v))),
                "model name" => ("ModelName", Some(json!(v))),
                "cpu MHz" => ("Mhz", int(v).map(Value::from)),
                "cache size" => ("CacheSize", int(v).map(Value::from)),
                "microcode" => ("Microcode", Some(json!(v))),
                _ => continue,
            };
            match value {
                Some(Value::String(s)) if s.is_empty() => {}
                Some(Value::Number(n)) if n.as_i64() == Some(0) && key != "CPU" => {}
                Some(v) => {
                    cpu.insert(key.into(), v);
                }
                None => {}
            }
        }
        if seen {
            cpu.insert("Cores".into(), json!(1));
            out.push(Value::Object(cpu));
        }
    }
    out
}

/// `(Platform, PlatformFamily, PlatformVersion)` from `/etc/os-release` (and Debian's
/// `/etc/debian_version`, which carries the point release).
pub fn parse_os_release(
    text: &str,
    debian_version: Option<&str>,
) -> (Option<String>, Option<String>, Option<String>) {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches('"').to_owned())
    };
    let id = get("ID");
    let like = get("ID_LIKE").unwrap_or_default();
    let family = id.as_deref().map(|id| {
        let words: Vec<&str> = std::iter::once(id).chain(like.split_whitespace()).collect();
        if words.iter().any(|w| *w == "debian" || *w == "ubuntu") {
            "debian".to_owned()
        } else if words
            .iter()
            .any(|w| ["rhel", "fedora", "centos"].contains(w))
        {
            "rhel".to_owned()
        } else if words.iter().any(|w| w.contains("suse")) {
            "suse".to_owned()
        } else {
            id.to_owned()
        }
    });
    let version = match (id.as_deref(), debian_version) {
        (Some("debian"), Some(v)) if !v.trim().is_empty() => Some(v.trim().to_owned()),
        _ => get("VERSION_ID"),
    };
    (id, family, version)
}

/// `/proc/cmdline` as a map: `key=value` → string, bare `flag` → true.
pub fn parse_cmdline(text: &str) -> Map<String, Value> {
    let mut m = Map::new();
    for arg in text.split_whitespace() {
        match arg.split_once('=') {
            Some((k, v)) => m.insert(k.to_owned(), json!(v)),
            None => m.insert(arg.to_owned(), json!(true)),
        };
    }
    m
}

/// A kernel CPU list (`0-2,5`); `None` when malformed. Bounded: at most 65 536 CPUs.
pub fn parse_cpu_list(text: &str) -> Option<Vec<i64>> {
    let mut out = Vec::new();
    if text.is_empty() {
        return Some(out);
    }
    for part in text.split(',') {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.trim().parse::<i64>().ok()?, b.trim().parse::<i64>().ok()?),
            None => {
                let v = part.trim().parse::<i64>().ok()?;
                (v, v)
            }
        };
        if a > b || b - a > 65_536 || out.len() > 65_536 {
            return None;
        }
        out.extend(a..=b);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CPUINFO: &str = "processor\t: 0\nvendor_id\t: GenuineIntel\ncpu family\t: 6\nmodel\t\t: 85\n\
model name\t: Intel(R) Xeon(R) Platinum\nstepping\t: 7\nmicrocode\t: 0x1\ncpu MHz\t\t: 2500.000\n\
cache size\t: 36608 KB\nphysical id\t: 0\ncore id\t\t: 0\nflags\t\t: fpu hypervisor\n\n\
processor\t: 1\nvendor_id\t: GenuineIntel\n";

    #[test]
    fn cpuinfo_entries() {
        let cpus = parse_cpuinfo(CPUINFO);
        assert_eq!(cpus.len(), 2);
        assert_eq!(
            cpus[0],
            json!({"CPU": 0, "VendorID": "GenuineIntel", "Family": "6", "Model": "85",
                   "ModelName": "Intel(R) Xeon(R) Platinum", "Stepping": 7, "Microcode": "0x1",
                   "Mhz": 2500, "CacheSize": 36608, "PhysicalID": "0", "CoreID": "0", "Cores": 1})
        );
        assert_eq!(cpus[1]["CPU"], 1);
    }

    #[test]
    fn os_release_platform() {
        let deb = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n";
        assert_eq!(
            parse_os_release(deb, Some("12.8\n")),
            (
                Some("debian".into()),
                Some("debian".into()),
                Some("12.8".into())
            )
        );
        let rocky = "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n";
        assert_eq!(
            parse_os_release(rocky, None),
            (
                Some("rocky".into()),
                Some("rhel".into()),
                Some("9.3".into())
            )
        );
    }

    #[test]
    fn cmdline_and_cpu_lists() {
        let m = parse_cmdline("BOOT_IMAGE=/vmlinuz root=/dev/vda1 ro quiet\n");
        assert_eq!(m["root"], json!("/dev/vda1"));
        assert_eq!(m["quiet"], json!(true));
        assert_eq!(parse_cpu_list("0-2,5"), Some(vec![0, 1, 2, 5]));
        assert_eq!(parse_cpu_list(""), Some(vec![]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("x"), None);
        assert_eq!(parse_cpu_list("0-99999999999"), None);
    }

    #[test]
    fn collect_on_this_machine() {
        let m = collect();
        assert_eq!(m["OS"], json!("linux"));
        assert!(m.contains_key("KernelVersion"));
        assert!(
            m.get("CPU")
                .and_then(Value::as_array)
                .is_some_and(|c| !c.is_empty())
        );
    }
}
