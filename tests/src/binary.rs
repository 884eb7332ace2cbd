//! Locating (and building) the `skydive` binary under test; see the crate doc.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

static BIN: OnceLock<Result<PathBuf, String>> = OnceLock::new();

/// The `skydive` binary: `$SKYDIVE_BIN`, else `target/<profile>/skydive` built now.
/// Panics with the reason (the build's errors) when there is none.
pub fn skydive_bin() -> &'static Path {
    match BIN.get_or_init(locate) {
        Ok(p) => p,
        Err(e) => panic!("no skydive binary to test: {e}"),
    }
}

fn locate() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os("SKYDIVE_BIN") {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("SKYDIVE_BIN={} is not a file", p.display()))
        };
    }
    // The test runs as target/<profile>/deps/functional-<hash>.
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or_else(|| format!("unexpected test path {}", exe.display()))?;
    let target_dir = profile_dir
        .parent()
        .ok_or_else(|| format!("unexpected test path {}", exe.display()))?;
    let profile = profile_dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--quiet", "-p", "skydive", "--bin", "skydive"])
        .arg("--manifest-path")
        .arg(crate::repo_root().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run cargo to build skydive: {e} (or set SKYDIVE_BIN)"))?;
    if !out.status.success() {
        return Err(format!(
            "`cargo build -p skydive` failed:\n{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let bin = profile_dir.join("skydive");
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!("built, but {} is missing", bin.display()))
    }
}
