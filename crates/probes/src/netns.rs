//! `netns` probe: one `netns` node per network namespace found in `agent.topology.netns.run_path`
//! (default `/var/run/netns`, where `ip netns add` mounts them), owned by the host node, with a
//! netlink listener inside each (so its interfaces are owned by the netns node).
//!
//! Node: `{Type: netns, Name: <file name>, Path, Inode, Device, TID}`; TID as Skydive's
//! v5(hostTID + Path + "netns").
//!
//! Watching: inotify on the directory (create, delete, rename, and the directory itself going
//! away), plus a check every [`CHECK_PERIOD`] that each registered path still names the same
//! namespace and that no entry was missed. A new file is retried until it is a real nsfs mount
//! (`ip netns add` creates the file before bind-mounting the namespace on it), for at most
//! [`VALIDATE_FOR`]. Namespaces are deduplicated by (device, inode): two paths naming one
//! namespace give one node, removed with the last path. The agent's own namespace is skipped.
//! When a namespace goes, its listener is stopped first, then the netns node and everything it
//! owns are deleted.
//!
//! Failure: an inotify error is logged and the watch rebuilt after a pause; the status says
//! `failed` meanwhile. Without CAP_SYS_ADMIN (needed by `setns`) the probe is `unavailable`.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Duration;

use futures::StreamExt;
use inotify::{EventMask, Inotify, WatchMask};
use serde::Deserialize;
use serde_json::json;
use skydive_graph::{Id, Metadata};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::namespace::{NsHandle, NsKey, NsOpenError, has_cap_sys_admin, key_of_path};
use crate::probe::{
    Probe, ProbeContext, ProbeError, ProbeHandle, ProbeState, ProbeStatus, StateCell, Unavailable,
};
use crate::relation::{EdgeSpec, OWNERSHIP, delete_subtree, ensure_edge};
use crate::tid::{netns_node_id, netns_tid};
use crate::topology::TopologyConfig;

/// How long a new entry may take to become a namespace mount.
pub const VALIDATE_FOR: Duration = Duration::from_secs(5);
/// Period of the consistency check (missed events, paths re-mounted elsewhere).
pub const CHECK_PERIOD: Duration = Duration::from_secs(2);
/// How often a missing `run_path` is looked for.
const DIR_POLL: Duration = Duration::from_millis(200);

/// `agent.topology.netns.*`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct NetnsConfig {
    /// `run_path`: directory of namespace bind mounts to watch (Skydive's key and default).
    pub run_path: PathBuf,
}

impl Default for NetnsConfig {
    fn default() -> Self {
        NetnsConfig {
            run_path: PathBuf::from("/var/run/netns"),
        }
    }
}

impl NetnsConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.run_path.is_absolute() {
            return Err(format!(
                "agent.topology.netns.run_path must be absolute, got `{}`",
                self.run_path.display()
            ));
        }
        Ok(())
    }
}

/// The `netns` probe.
pub struct NetnsProbe;

impl Probe for NetnsProbe {
    const NAME: &'static str = "netns";
    const ALWAYS_ON: bool = true;

    fn check(_cfg: &TopologyConfig) -> Result<(), Unavailable> {
        if has_cap_sys_admin() {
            Ok(())
        } else {
            Err(Unavailable(
                "entering network namespaces (setns) needs CAP_SYS_ADMIN: run the agent as root"
                    .into(),
            ))
        }
    }

    fn start(cfg: &TopologyConfig, cx: ProbeContext) -> Result<ProbeHandle, ProbeError> {
        let state = StateCell::new(ProbeState::Starting);
        let watcher = Watcher::new(cfg.netns.run_path.clone(), cx.clone(), state.clone());
        let task = tokio::spawn(watcher.run());
        Ok(ProbeHandle::new(cx.cancel.clone(), move || {
            ProbeStatus::new(Self::NAME, state.get())
        })
        .with_task(task))
    }
}

struct Record {
    node_id: Id,
    paths: BTreeSet<PathBuf>,
}

type Validated = (PathBuf, u64, Result<NsHandle, NsOpenError>);

struct Watcher {
    run_path: PathBuf,
    cx: ProbeContext,
    state: StateCell,
    paths: HashMap<PathBuf, NsKey>,
    namespaces: HashMap<NsKey, Record>,
    validating: HashMap<PathBuf, (u64, AbortHandle)>,
    generation: u64,
    tx: mpsc::Sender<Validated>,
    rx: mpsc::Receiver<Validated>,
}

impl Watcher {
    fn new(run_path: PathBuf, cx: ProbeContext, state: StateCell) -> Self {
        let (tx, rx) = mpsc::channel(64);
        Watcher {
            run_path,
            cx,
            state,
            paths: HashMap::new(),
            namespaces: HashMap::new(),
            validating: HashMap::new(),
            generation: 0,
            tx,
            rx,
        }
    }

    async fn run(mut self) {
        let cancel = self.cx.cancel.clone();
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = self.watch_forever() => {}
        }
        for (_, (_, h)) in self.validating.drain() {
            h.abort();
        }
        self.state.set(ProbeState::Stopped);
    }

    async fn watch_forever(&mut self) {
        loop {
            while !self.run_path.is_dir() {
                if self.state.get() == ProbeState::Starting {
                    self.state.set(ProbeState::Running);
                }
                self.forget_all().await;
                tokio::time::sleep(DIR_POLL).await;
            }
            if let Err(e) = self.watch_dir().await {
                tracing::warn!(path = %self.run_path.display(), error = %e, "netns watch failed; retrying");
                self.state.set(ProbeState::Failed {
                    error: format!("watching `{}`: {e}", self.run_path.display()),
                });
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }

    /// Watches the directory until it goes away (Ok) or inotify fails (Err).
    async fn watch_dir(&mut self) -> std::io::Result<()> {
        let inotify = Inotify::init()?;
        let mask = WatchMask::CREATE
            | WatchMask::DELETE
            | WatchMask::MOVED_FROM
            | WatchMask::MOVED_TO
            | WatchMask::DELETE_SELF
            | WatchMask::MOVE_SELF
            | WatchMask::ONLYDIR;
        inotify.watches().add(&self.run_path, mask)?;
        let mut events = inotify.into_event_stream(vec![0u8; 16 << 10])?;
        self.state.set(ProbeState::Running);
        self.scan();
        let mut check = tokio::time::interval(CHECK_PERIOD);
        check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                ev = events.next() => {
                    let ev = match ev {
                        Some(Ok(ev)) => ev,
                        Some(Err(e)) => return Err(e),
                        None => return Err(std::io::Error::other("inotify stream ended")),
                    };
                    if ev.mask.intersects(EventMask::DELETE_SELF | EventMask::MOVE_SELF | EventMask::IGNORED) {
                        self.forget_all().await;
                        return Ok(());
                    }
                    if ev.mask.contains(EventMask::Q_OVERFLOW) {
                        self.check().await;
                        continue;
                    }
                    let Some(name) = ev.name else { continue };
                    let path = self.run_path.join(name);
                    if ev.mask.intersects(EventMask::DELETE | EventMask::MOVED_FROM) {
                        self.forget(&path).await;
                    }
                    if ev.mask.intersects(EventMask::CREATE | EventMask::MOVED_TO) {
                        self.validate(path);
                    }
                }
                Some((path, generation, result)) = self.rx.recv() => self.validated(path, generation, result).await,
                _ = check.tick() => self.check().await,
            }
        }
    }

    /// Starts validating every entry of the directory not registered or being validated.
    fn scan(&mut self) {
        let Ok(dir) = std::fs::read_dir(&self.run_path) else {
            return;
        };
        for entry in dir.flatten() {
            let path = entry.path();
            if !self.paths.contains_key(&path) && !self.validating.contains_key(&path) {
                self.validate(path);
            }
        }
    }

    /// Drops registered paths that vanished or now name another namespace; picks up missed entries.
    async fn check(&mut self) {
        let stale: Vec<PathBuf> = self
            .paths
            .iter()
            .filter(|(p, k)| key_of_path(p) != Some(**k))
            .map(|(p, _)| p.clone())
            .collect();
        for p in stale {
            self.forget(&p).await;
            if p.exists() {
                self.validate(p);
            }
        }
        self.scan();
    }

    /// Opens `path` in the background, retrying while it is not yet a namespace mount.
    fn validate(&mut self, path: PathBuf) {
        self.generation += 1;
        let generation = self.generation;
        let tx = self.tx.clone();
        let p = path.clone();
        let task = tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + VALIDATE_FOR;
            let mut delay = Duration::from_millis(5);
            let result = loop {
                let path = p.clone();
                let opened = tokio::task::spawn_blocking(move || NsHandle::open(&path)).await;
                let opened = opened.unwrap_or_else(|e| {
                    Err(NsOpenError::Open {
                        path: p.clone(),
                        source: std::io::Error::other(e.to_string()),
                    })
                });
                match opened {
                    Err(e) if e.is_transient() && tokio::time::Instant::now() < deadline => {
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_millis(200));
                    }
                    r => break r,
                }
            };
            let _ = tx.send((p, generation, result)).await;
        });
        if let Some((_, old)) = self
            .validating
            .insert(path, (generation, task.abort_handle()))
        {
            old.abort();
        }
    }

    async fn validated(
        &mut self,
        path: PathBuf,
        generation: u64,
        result: Result<NsHandle, NsOpenError>,
    ) {
        match self.validating.get(&path) {
            Some((g, _)) if *g == generation => {
                self.validating.remove(&path);
            }
            _ => return, // superseded or cancelled meanwhile
        }
        match result {
            Ok(handle) => self.register(path, handle).await,
            Err(e) => tracing::debug!(error = %e, "ignoring netns entry"),
        }
    }

    async fn register(&mut self, path: PathBuf, handle: NsHandle) {
        let key = handle.key();
        if key == self.cx.namespaces.host_key() {
            tracing::debug!(path = %path.display(), "skipping the agent's own namespace");
            return;
        }
        match self.paths.get(&path) {
            Some(k) if *k == key => return,
            Some(_) => self.forget(&path).await,
            None => {}
        }
        if let Some(rec) = self.namespaces.get_mut(&key) {
            rec.paths.insert(path.clone());
            self.paths.insert(path, key);
            return;
        }
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let path_str = path.to_string_lossy().into_owned();
        let host = &self.cx.host;
        let node_id = netns_node_id(&host.node_id, &path_str, key.dev, key.ino);
        let tid = netns_tid(&host.tid, &path_str);
        let meta = Metadata::from_pairs([
            ("Name", json!(name)),
            ("Type", json!("netns")),
            ("Path", json!(path_str)),
            ("Inode", json!(key.ino)),
            ("Device", json!(key.dev)),
            ("TID", json!(tid)),
        ]);
        {
            let mut g = self.cx.graph.write();
            let res = if g.node(&node_id).is_some() {
                g.update_node(&node_id, |m| {
                    for (k, v) in meta.iter() {
                        m.set(k, v.clone());
                    }
                })
            } else {
                g.create_node(node_id.clone(), meta)
            };
            if let Err(e) = res {
                tracing::warn!(error = %e, path = %path.display(), "cannot create the netns node");
                return;
            }
            ensure_edge(
                &mut g,
                &EdgeSpec::new(host.node_id.clone(), node_id.clone(), OWNERSHIP),
            );
        }
        tracing::debug!(path = %path.display(), %key, "network namespace added");
        self.cx
            .namespaces
            .add(handle, Some(name), Some(path_str), node_id.clone(), tid);
        self.namespaces.insert(
            key,
            Record {
                node_id,
                paths: BTreeSet::from([path.clone()]),
            },
        );
        self.paths.insert(path, key);
    }

    async fn forget(&mut self, path: &Path) {
        if let Some((_, h)) = self.validating.remove(path) {
            h.abort();
        }
        let Some(key) = self.paths.remove(path) else {
            return;
        };
        let Some(rec) = self.namespaces.get_mut(&key) else {
            return;
        };
        rec.paths.remove(path);
        if !rec.paths.is_empty() {
            return;
        }
        let Some(rec) = self.namespaces.remove(&key) else {
            return;
        };
        // Stop the listener first, so it cannot write into the subtree being deleted.
        self.cx.namespaces.remove(key).await;
        let removed = delete_subtree(&mut self.cx.graph.write(), &rec.node_id);
        tracing::debug!(path = %path.display(), %key, removed, "network namespace removed");
    }

    async fn forget_all(&mut self) {
        let paths: Vec<PathBuf> = self.paths.keys().cloned().collect();
        for p in paths {
            self.forget(&p).await;
        }
        for (_, (_, h)) in self.validating.drain() {
            h.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_defaults_and_validation() {
        let c: NetnsConfig = serde_json::from_value(json!({})).unwrap();
        assert_eq!(c.run_path, PathBuf::from("/var/run/netns"));
        assert!(c.validate().is_ok());
        assert!(
            NetnsConfig {
                run_path: "relative".into()
            }
            .validate()
            .is_err()
        );
    }
}
