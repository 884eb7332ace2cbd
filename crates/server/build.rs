//! Rebuilds when the web UI's embedded files change (`src/ui.rs`). Release builds embed them:
//! they also rebuild when `npm ci` (re)installs `webui/node_modules`, so a binary built before
//! it picks the libraries up. Debug builds read the files from disk and need nothing more.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../../webui/src");
    println!("cargo:rerun-if-changed=../../webui/package-lock.json");
    if std::env::var("PROFILE").as_deref() == Ok("release") {
        // npm writes this file at every install; while it is missing, every release build
        // re-checks (and `/` says to run `npm ci`).
        println!("cargo:rerun-if-changed=../../webui/node_modules/.package-lock.json");
    }
}
