//! A `skydive` child process: started with a config file and `SKYDIVE_*` overrides, its
//! stdout and stderr in a log file; stopped with SIGTERM by the test, or killed by `Drop`
//! (which prints the log when the test is failing).

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::http;

/// A running `skydive <role>`.
pub struct Skydive {
    child: Option<Child>,
    /// `analyzer` or `agent`, and what the log calls it.
    pub name: String,
    /// Where its API listens (what `SKYDIVE_<ROLE>_LISTEN` said).
    pub addr: SocketAddr,
    log: PathBuf,
}

impl Skydive {
    /// Starts `skydive <role> -c <conf>` with `env` (and no other `SKYDIVE_*` variable of the
    /// test's environment), logging to `<log_dir>/<name>.log`, then waits until its API at
    /// `addr` answers `GET /api`.
    pub fn start(
        name: &str,
        role: &str,
        conf: &Path,
        env: &[(String, String)],
        addr: SocketAddr,
        log_dir: &Path,
    ) -> Skydive {
        let log = log_dir.join(format!("{name}.log"));
        let out = File::create(&log).expect("create the log file");
        let err = out.try_clone().expect("clone the log file");
        let mut cmd = Command::new(crate::skydive_bin());
        cmd.args([role, "-c"]).arg(conf);
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("SKYDIVE_") {
                cmd.env_remove(k);
            }
        }
        cmd.envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err);
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start skydive {role}: {e}"));
        let mut s = Skydive {
            child: Some(child),
            name: name.to_owned(),
            addr,
            log,
        };
        s.wait_ready();
        s
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + crate::PATIENCE;
        loop {
            if let Some(st) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!(
                    "skydive {} exited at start ({st}):\n{}",
                    self.name,
                    self.log_text()
                );
            }
            if http::get(self.addr, "/api").is_ok_and(|r| r.status == 200) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "skydive {} does not answer on {}:\n{}",
                self.name,
                self.addr,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What it logged so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGTERM, then waits for the exit (killing it after [`crate::PATIENCE`]).
    pub fn stop(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("still running");
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + crate::PATIENCE;
        loop {
            if let Ok(Some(st)) = child.try_wait() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "skydive {} did not stop on SIGTERM:\n{}",
                    self.name,
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Skydive {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "----- skydive {} log ({}) -----\n{}----- end of {} log -----",
                self.name,
                self.log.display(),
                self.log_text(),
                self.name
            );
        }
    }
}
