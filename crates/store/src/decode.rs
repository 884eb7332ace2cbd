//! Bulk decoding on several threads. Reading the past decodes up to a whole graph (a
//! checkpoint) plus up to as many changes again; records are independent, so they are decoded
//! in parallel blocks and then applied in log order by the caller.

use std::sync::OnceLock;

use fjall::Slice;

use crate::StoreError;
use crate::codec::Interner;

/// Entries read from the store before a block is decoded: bounds memory while streaming.
pub(crate) const BLOCK: usize = 8192;

/// At most this many decoding threads: beyond, the store's read path is the bottleneck.
const MAX_THREADS: usize = 8;

fn workers() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, usize::from)
            .min(MAX_THREADS)
    })
}

/// Decodes `items` (key, value) with `f`, in parallel when there are at least `min_per_thread`
/// items per thread; the output keeps the items' order.
pub(crate) fn decode_all<T, F>(
    items: &[(Slice, Slice)],
    min_per_thread: usize,
    f: F,
) -> Result<Vec<T>, StoreError>
where
    T: Send,
    F: Fn(&[u8], &[u8], &mut Interner, &mut Vec<T>) -> Result<(), StoreError> + Sync,
{
    let threads = workers().min(items.len() / min_per_thread.max(1)).max(1);
    let run = |part: &[(Slice, Slice)]| {
        let mut it = Interner::default();
        let mut out = Vec::with_capacity(part.len());
        for (k, v) in part {
            f(k, v, &mut it, &mut out)?;
        }
        Ok::<_, StoreError>(out)
    };
    if threads == 1 {
        return run(items);
    }
    let per = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(per)
            .map(|part| s.spawn(|| run(part)))
            .collect();
        let mut out = Vec::with_capacity(items.len());
        for h in handles {
            let part = h
                .join()
                .map_err(|_| StoreError::Thread("decoder", "panicked".into()))??;
            out.extend(part);
        }
        Ok(out)
    })
}
