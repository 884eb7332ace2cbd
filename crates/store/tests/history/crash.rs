//! A real crash: a child process records changes and is killed with SIGKILL mid-stream; the
//! store must reopen and hold at least everything flushed before the kill.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use skydive_graph::{Metadata, TimeMs};

use crate::common::*;

const DIR_VAR: &str = "SKYDIVE_STORE_CRASH_DIR";

/// The child's body: runs only when the parent test starts this binary with `DIR_VAR` set.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let store = skydive_store::HistoryStore::open(skydive_store::HistoryConfig {
        retention_check_secs: 0,
        ..skydive_store::HistoryConfig::in_dir(&dir)
    })
    .unwrap();
    let mut g = graph(&store);
    let t0 = base_time();
    for i in 0..1000 {
        g.add_node(node_at(&format!("n{i}"), TimeMs(t0.0 + i), Metadata::new()))
            .unwrap();
    }
    store.flush().unwrap();
    println!("FLUSHED {}", t0.0);
    // Keep writing until killed (bounded, should the parent be gone).
    for i in 1000..200_000 {
        g.add_node(node_at(&format!("n{i}"), TimeMs(t0.0 + i), Metadata::new()))
            .unwrap();
        if i % 1000 == 0 {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }
}

/// Kills the child however the test ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

#[test]
fn store_reopens_after_kill_9_with_everything_flushed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = KillOnDrop(
        Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash::crash_child",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(DIR_VAR, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut t0 = None;
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        // The test harness may print its own words before ours on the same line.
        if let Some((_, t)) = line.unwrap().split_once("FLUSHED ") {
            t0 = Some(TimeMs(t.trim().parse().unwrap()));
            break;
        }
    }
    drop(child);
    let t0 = t0.expect("child never flushed");

    let store = open(&dir);
    let (nodes, _) = store.last_state().unwrap();
    assert!(nodes.len() >= 1000, "only {} nodes survived", nodes.len());
    assert_eq!(view_at(&store, TimeMs(t0.0 + 999)).nodes.len(), 1000);
    // The store keeps working after the crash.
    let mut g = graph(&store);
    g.create_node("after".into(), Metadata::new()).unwrap();
    store.flush().unwrap();
    assert_eq!(store.last_state().unwrap().0.len(), nodes.len() + 1);
}
