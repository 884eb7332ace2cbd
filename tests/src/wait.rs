//! Waiting for something a test expects, with a deadline that only turns a hang into a
//! failure (no timing assertion).

use std::time::{Duration, Instant};

/// The default deadline of [`eventually`]: generous, a broken test fails instead of hanging.
pub const PATIENCE: Duration = Duration::from_secs(40);

/// Polls `check` until it gives `Ok`, or panics after [`PATIENCE`] naming `what` and the
/// last `Err` (what was seen instead).
pub fn eventually<T>(what: &str, check: impl FnMut() -> Result<T, String>) -> T {
    eventually_for(what, PATIENCE, check)
}

/// [`eventually`] with another deadline.
pub fn eventually_for<T>(
    what: &str,
    patience: Duration,
    mut check: impl FnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + patience;
    loop {
        match check() {
            Ok(v) => return v,
            Err(seen) if Instant::now() > deadline => {
                panic!("gave up waiting {patience:?} for {what}; last seen: {seen}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(250)),
        }
    }
}
