//! Network namespaces as handles: an open file descriptor on the namespace (a `/var/run/netns`
//! bind mount or `/proc/self/ns/net`), its identity (`dev`, `inode`), and a way to run code
//! inside it.
//!
//! Threads: [`NsHandle::run_inside`] runs a closure on a fresh, named `std::thread` that calls
//! `setns(CLONE_NEWNET)` first and exits afterwards, so no tokio worker ever changes namespace.
//! Sockets opened there stay bound to the namespace and can be driven from anywhere.
//!
//! Holding a handle (or a socket opened inside) keeps the namespace alive: probes drop theirs as
//! soon as the namespace's path goes away. A handle opened from a path does not keep that
//! path's mount busy: it is re-opened through `/proc/thread-self/ns/net` from inside.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};
use nix::sys::statfs::{NSFS_MAGIC, fstatfs};

/// Identity of a namespace: device and inode of its nsfs file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NsKey {
    pub dev: u64,
    pub ino: u64,
}

impl std::fmt::Display for NsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{},{}", self.dev, self.ino)
    }
}

/// Why a path could not be used as a namespace.
#[derive(Debug, thiserror::Error)]
pub enum NsOpenError {
    #[error("cannot open `{path}`: {source}")]
    Open { path: PathBuf, source: io::Error },
    /// The file exists but is not (yet) an nsfs bind mount: `ip netns add` creates the file
    /// before mounting onto it, so callers retry for a while.
    #[error("`{path}` is not a network namespace (not an nsfs mount)")]
    NotNamespace { path: PathBuf },
}

impl NsOpenError {
    /// Whether retrying soon may succeed (the mount may not be there yet).
    pub fn is_transient(&self) -> bool {
        matches!(self, NsOpenError::NotNamespace { .. })
    }
}

/// An open network namespace.
#[derive(Debug)]
pub struct NsHandle {
    fd: OwnedFd,
    key: NsKey,
    /// Whether this is the agent's own namespace (no `setns` needed, nor allowed unprivileged).
    current: bool,
}

impl NsHandle {
    /// The namespace the agent runs in.
    pub fn current() -> io::Result<Self> {
        let file = File::open("/proc/self/ns/net")?;
        let meta = file.metadata()?;
        Ok(NsHandle {
            fd: file.into(),
            key: NsKey {
                dev: meta.dev(),
                ino: meta.ino(),
            },
            current: true,
        })
    }

    /// Opens a namespace file, checking that it really is a namespace (an nsfs mount).
    pub fn open(path: &Path) -> Result<Self, NsOpenError> {
        let open_err = |source| NsOpenError::Open {
            path: path.to_owned(),
            source,
        };
        let file = File::open(path).map_err(open_err)?;
        match fstatfs(file.as_fd()) {
            Ok(st) if st.filesystem_type() == NSFS_MAGIC => {}
            Ok(_) => {
                return Err(NsOpenError::NotNamespace {
                    path: path.to_owned(),
                });
            }
            Err(e) => return Err(open_err(e.into())),
        }
        let meta = file.metadata().map_err(open_err)?;
        let key = NsKey {
            dev: meta.dev(),
            ino: meta.ino(),
        };
        // Keep a descriptor that does not go through the bind mount, so the mount stays free
        // to be unmounted (`umount` without MNT_DETACH would otherwise fail with EBUSY).
        let fd = match detach(&file) {
            Ok(f)
                if f.metadata()
                    .is_ok_and(|m| m.dev() == key.dev && m.ino() == key.ino) =>
            {
                f.into()
            }
            _ => file.into(),
        };
        Ok(NsHandle {
            fd,
            key,
            current: false,
        })
    }

    pub fn key(&self) -> NsKey {
        self.key
    }

    pub fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Runs `f` on a dedicated thread inside this namespace and returns its result. The thread
    /// exits afterwards; what `f` opened (sockets) stays in the namespace.
    pub async fn run_inside<T, F>(&self, label: &str, f: F) -> io::Result<T>
    where
        T: Send + 'static,
        F: FnOnce() -> io::Result<T> + Send + 'static,
    {
        let fd = if self.current {
            None
        } else {
            Some(self.fd.try_clone()?)
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        std::thread::Builder::new()
            .name(format!("setns-{label}"))
            .spawn(move || {
                let r = match fd {
                    Some(fd) => setns(&fd, CloneFlags::CLONE_NEWNET)
                        .map_err(io::Error::from)
                        .and_then(|()| f()),
                    None => f(),
                };
                let _ = tx.send(r);
            })?;
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    }
}

/// Re-opens the namespace `file` names through `/proc/thread-self/ns/net`, from a short-lived
/// thread that enters it.
fn detach(file: &File) -> io::Result<File> {
    std::thread::scope(|s| {
        s.spawn(|| {
            setns(file, CloneFlags::CLONE_NEWNET)?;
            File::open("/proc/thread-self/ns/net")
        })
        .join()
        .unwrap_or_else(|_| Err(io::Error::other("namespace thread panicked")))
    })
}

/// Identity of whatever `path` is now (following the bind mount), if it exists.
pub fn key_of_path(path: &Path) -> Option<NsKey> {
    let meta = std::fs::metadata(path).ok()?;
    Some(NsKey {
        dev: meta.dev(),
        ino: meta.ino(),
    })
}

/// Whether the agent holds CAP_SYS_ADMIN (needed by `setns`), from `/proc/self/status`.
pub fn has_cap_sys_admin() -> bool {
    const CAP_SYS_ADMIN: u32 = 21;
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .is_some_and(|caps| caps & (1 << CAP_SYS_ADMIN) != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn current_namespace_is_nsfs() {
        let cur = NsHandle::current().unwrap();
        let again = NsHandle::open(Path::new("/proc/self/ns/net")).unwrap();
        assert_eq!(cur.key(), again.key());
        assert_eq!(key_of_path(Path::new("/proc/self/ns/net")), Some(cur.key()));
    }

    #[test]
    fn regular_file_is_not_a_namespace() {
        let dir = std::env::temp_dir().join(format!("skt-ns-unit-{}", std::process::id()));
        std::fs::write(&dir, b"").unwrap();
        let err = NsHandle::open(&dir).unwrap_err();
        std::fs::remove_file(&dir).unwrap();
        assert!(err.is_transient(), "{err}");
        assert!(NsHandle::open(Path::new("/nonexistent/skt")).is_err());
    }

    #[tokio::test]
    async fn run_inside_current_namespace() {
        let cur = NsHandle::current().unwrap();
        let inner = cur
            .run_inside("unit", || {
                Ok(key_of_path(Path::new("/proc/thread-self/ns/net")))
            })
            .await
            .unwrap();
        assert_eq!(inner, Some(cur.key()));
    }
}
