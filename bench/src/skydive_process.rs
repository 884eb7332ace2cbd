//! `skydive analyzer` and `skydive agent` run as separate processes, the way they are deployed,
//! so their CPU and memory can be read from `/proc/<pid>` on their own.
//!
//! `SkydiveProcess` writes the YAML configuration into a directory the caller owns, sends the
//! process's stderr to `<role>.log` there, and stops it on drop (SIGTERM, so an agent says `Bye`;
//! SIGKILL if it has not exited within a few seconds), even when the benchmark panics.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a stopping process gets before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);

pub struct SkydiveProcess {
    role: String,
    child: Option<Child>,
    log: PathBuf,
}

impl SkydiveProcess {
    /// Starts `bin <role> -c <dir>/<role>.yml` with `yaml` as its configuration.
    pub fn spawn(bin: &Path, role: &str, yaml: &str, dir: &Path) -> Result<Self, String> {
        let conf = dir.join(format!("{role}.yml"));
        let log = dir.join(format!("{role}.log"));
        std::fs::write(&conf, yaml).map_err(|e| format!("{}: {e}", conf.display()))?;
        let stderr = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let child = Command::new(bin)
            .arg(role)
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start `{} {role}`: {e}", bin.display()))?;
        Ok(SkydiveProcess {
            role: role.to_owned(),
            child: Some(child),
            log,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Fails with the end of its log if the process has exited.
    pub fn check_alive(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Err(format!("{} was stopped", self.role));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited ({status}); end of its log:\n{}",
                self.role,
                self.log_tail(20)
            )),
            Err(e) => Err(format!("{}: {e}", self.role)),
        }
    }

    /// The last `lines` lines of its stderr.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Waits until it accepts TCP connections on `addr`.
    pub fn wait_listening(&mut self, addr: SocketAddr, patience: Duration) -> Result<(), String> {
        let deadline = Instant::now() + patience;
        loop {
            self.check_alive()?;
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!("{} does not listen on {addr}", self.role));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then SIGKILL after [`STOP_GRACE`].
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            // SAFETY: kill(2) on our own child's pid, not yet reaped, so not reused.
            unsafe { libc::kill(pid, libc::SIGTERM) };
        }
        let deadline = Instant::now() + STOP_GRACE;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for SkydiveProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A loopback address with a port free right now (the OS picks it).
pub fn free_addr() -> Result<SocketAddr, String> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    l.local_addr().map_err(|e| e.to_string())
}

/// The `skydive` binary: `--skydive PATH` if given, else `target/release/skydive`.
pub fn skydive_bin(args: &[String]) -> PathBuf {
    args.windows(2).find(|w| w[0] == "--skydive").map_or_else(
        || PathBuf::from("target/release/skydive"),
        |w| PathBuf::from(&w[1]),
    )
}
