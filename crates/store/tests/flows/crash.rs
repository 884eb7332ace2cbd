//! A real crash: a child process stores flows and is killed with SIGKILL mid-stream; the
//! store must reopen and hold at least everything flushed before the kill.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use skydive_store::FlowSearch;

use crate::common::*;

const DIR_VAR: &str = "SKYDIVE_FLOW_STORE_CRASH_DIR";

/// Batches of 100 flows, each batch's flows starting at `T0 + batch` seconds.
fn batch(i: u16) -> Vec<skydive_flow::Flow> {
    let mut cap = Capture::new("tid-1");
    let t = T0 + i64::from(i) * 1000;
    for p in 0..100 {
        cap.send(t, &tcp(1, 2, 1000 + p, 80, SYN));
    }
    let flows = cap.updates(t + 2_500);
    assert_eq!(flows.len(), 100);
    flows
}

/// The child's body: runs only when the parent test starts this binary with `DIR_VAR` set.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var(DIR_VAR) else {
        return;
    };
    let store = skydive_store::FlowStore::open(skydive_store::FlowStoreConfig {
        retention_check_secs: 0,
        ..skydive_store::FlowStoreConfig::in_dir(&dir)
    })
    .unwrap();
    for i in 0..10 {
        store.store(&batch(i)).unwrap();
    }
    store.flush().unwrap();
    println!("FLUSHED");
    // Keep writing until killed (bounded, should the parent be gone).
    for i in 10..2000 {
        store.store(&batch(i)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
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
    let mut flushed = false;
    for line in BufReader::new(child.0.stdout.take().unwrap()).lines() {
        if line.unwrap().contains("FLUSHED") {
            flushed = true;
            break;
        }
    }
    // Let it write a little more, then kill it mid-stream.
    std::thread::sleep(std::time::Duration::from_millis(30));
    drop(child);
    assert!(flushed, "child never flushed");

    let store = open(&dir);
    let first_ten = FlowSearch::new(slice(T0, T0 + 9_000)).expire_ms(0);
    assert_eq!(store.search(&first_ten).unwrap().len(), 1000);
    // Whatever else survived decodes (no torn record): search everything.
    let all = FlowSearch::new(slice(T0, T0 + 10_000_000)).expire_ms(0);
    let n = store.search(&all).unwrap().len();
    assert!(n >= 1000, "{n} flows");
    // The store keeps working after the crash.
    put(&store, &batch(5000));
    assert_eq!(store.search(&all).unwrap().len(), n + 100);
}
