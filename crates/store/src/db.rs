//! The embedded database under `<data_dir>/db` and its keyspaces.
//!
//! One fjall database holds everything Skydive persists; each kind of data has its own
//! keyspaces, prefixed by domain (`topology_*`, `flow_*`), sharing the journal, the block
//! cache and the background threads. `meta` holds small named values: the data format
//! version, and how far back retention has cut history.

use std::path::{Path, PathBuf};

use fjall::config::CompressionPolicy;
use fjall::{CompressionType, Database, Keyspace, KeyspaceCreateOptions, Readable};
use skydive_graph::TimeMs;

use crate::StoreError;
use crate::keys::{time_bytes, time_from};

/// Version of the data directory's layout. Bumped when a change needs a migration; a program
/// refuses to open a directory written by a newer layout rather than misread it.
pub(crate) const LAYOUT_VERSION: u32 = 1;

pub(crate) const KS_META: &str = "meta";
pub(crate) const KS_LOG: &str = "topology_log";
pub(crate) const KS_CHECKPOINT: &str = "topology_checkpoint";
pub(crate) const KS_CHECKPOINT_INDEX: &str = "topology_checkpoint_index";
pub(crate) const KS_FLOW_RECORDS: &str = "flow_records";
pub(crate) const KS_FLOW_BY_NODE: &str = "flow_by_node";
pub(crate) const KS_FLOW_BY_TRACKING: &str = "flow_by_tracking";
pub(crate) const KS_FLOW_BY_UUID: &str = "flow_by_uuid";

const META_LAYOUT: &str = "layout_version";
const META_RETAINED_FROM: &str = "topology_retained_from";

/// The open database and its keyspaces (see `flow_codec` for the `flow_*` ones). Cheap to
/// clone.
#[derive(Clone)]
pub(crate) struct Db {
    pub path: PathBuf,
    pub db: Database,
    pub meta: Keyspace,
    pub log: Keyspace,
    pub checkpoint: Keyspace,
    pub checkpoint_index: Keyspace,
    pub flow_records: Keyspace,
    pub flow_by_node: Keyspace,
    pub flow_by_tracking: Keyspace,
    pub flow_by_uuid: Keyspace,
}

impl Db {
    /// Opens (creating if needed) the database in `<data_dir>/db`.
    pub fn open(data_dir: &Path) -> Result<Db, StoreError> {
        let path = data_dir.join("db");
        let open_err = |e: Box<dyn std::error::Error + Send + Sync>| StoreError::Open {
            path: path.clone(),
            source: e,
        };
        std::fs::create_dir_all(&path).map_err(|e| open_err(e.into()))?;
        let db = match Database::builder(&path).open() {
            Ok(db) => db,
            Err(fjall::Error::Locked) => return Err(StoreError::Locked { path }),
            Err(e) => return Err(open_err(e.into())),
        };
        let ks = |name| {
            db.keyspace(name, keyspace_options)
                .map_err(|e| open_err(e.into()))
        };
        let this = Db {
            meta: ks(KS_META)?,
            log: ks(KS_LOG)?,
            checkpoint: ks(KS_CHECKPOINT)?,
            checkpoint_index: ks(KS_CHECKPOINT_INDEX)?,
            flow_records: ks(KS_FLOW_RECORDS)?,
            flow_by_node: ks(KS_FLOW_BY_NODE)?,
            flow_by_tracking: ks(KS_FLOW_BY_TRACKING)?,
            flow_by_uuid: ks(KS_FLOW_BY_UUID)?,
            db,
            path,
        };
        this.check_layout()?;
        Ok(this)
    }

    fn check_layout(&self) -> Result<(), StoreError> {
        match self.meta.get(META_LAYOUT)? {
            None => {
                self.meta
                    .insert(META_LAYOUT, LAYOUT_VERSION.to_be_bytes())?;
                Ok(())
            }
            Some(v) => {
                let found = <[u8; 4]>::try_from(&*v)
                    .map(u32::from_be_bytes)
                    .map_err(|_| {
                        StoreError::corrupt(
                            KS_META,
                            META_LAYOUT.as_bytes(),
                            "layout version is not 4 bytes",
                        )
                    })?;
                if found > LAYOUT_VERSION {
                    return Err(StoreError::NewerFormat {
                        path: self.path.clone(),
                        found,
                        supported: LAYOUT_VERSION,
                    });
                }
                Ok(())
            }
        }
    }

    /// The oldest time history can still be read at, once retention has dropped anything.
    pub fn retained_from(&self, snap: &impl Readable) -> Result<Option<TimeMs>, StoreError> {
        let Some(v) = snap.get(&self.meta, META_RETAINED_FROM)? else {
            return Ok(None);
        };
        let b = <[u8; 8]>::try_from(&*v).map_err(|_| {
            StoreError::corrupt(
                KS_META,
                META_RETAINED_FROM.as_bytes(),
                "time is not 8 bytes",
            )
        })?;
        Ok(Some(time_from(b)))
    }

    pub fn set_retained_from(&self, batch: &mut fjall::OwnedWriteBatch, t: TimeMs) {
        batch.insert(&self.meta, META_RETAINED_FROM, time_bytes(t));
    }
}

/// History is written once and read in bulk: compress every level (fjall leaves the first two
/// uncompressed by default, which suits data that is rewritten often).
fn keyspace_options() -> KeyspaceCreateOptions {
    KeyspaceCreateOptions::default()
        .data_block_compression_policy(CompressionPolicy::all(CompressionType::Lz4))
}
