//! Closing and reopening: everything stored is found again.

use crate::common::*;

#[test]
fn flows_survive_close_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let mut cap = Capture::new("tid-1");
    for p in 0..50 {
        cap.send(T0 + i64::from(p), &tcp(1, 2, 40000 + p, 80, SYN));
    }
    let flows = cap.updates(T0 + 2_500);
    // Not flushed: close must write what is queued.
    assert_eq!(store.store(&flows).unwrap(), 50);
    let before = at(&store, T0 + 100);
    store.close().unwrap();

    let store = open(&dir);
    let after = at(&store, T0 + 100);
    assert_eq!(after.len(), 50);
    assert!(before.len() <= 50);
    let mut expected = flows.clone();
    expected.sort_by(|a, b| (b.last, &b.uuid).cmp(&(a.last, &a.uuid)));
    assert_eq!(after, expected, "decoded exactly as stored, newest first");
}

#[test]
fn storing_after_close_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(&dir);
    let other = store.clone();
    store.close().unwrap();
    let mut cap = Capture::new("tid-1");
    cap.send(T0, &tcp(1, 2, 40000, 80, SYN));
    let err = other.store(&cap.updates(T0 + 2_500)).unwrap_err();
    assert_eq!(err.to_string(), "flow store is closed");
    assert_eq!(other.stats().flows_dropped, 1);
    // Reading still works on the remaining clone.
    assert!(at(&other, T0).is_empty());
}
