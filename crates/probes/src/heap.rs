//! [`trim`]: gives the C heap's free memory back to the kernel.
//!
//! glibc keeps memory freed by the program in its arenas (one per thread that allocated, up
//! to 8 per core) and returns it to the kernel only from the top of each heap. After a burst
//! — 200 agents syncing 0.9 MB of JSON each, a past view of a large graph built and dropped
//! — hundreds of megabytes stay resident though nothing uses them (`fanin_bench`: 1,077 MiB
//! after the sync, 725 MiB once trimmed). `malloc_trim` walks the arenas and releases their
//! free pages. It takes the arenas' locks for a few milliseconds per hundred megabytes, so
//! callers run it off the async workers, after a burst, not on a hot path.

/// Releases the free memory of every glibc arena; true if some was released. A no-op on
/// other C libraries.
pub fn trim() -> bool {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: `malloc_trim` only reorganises the allocator's own free lists and pages;
        // it is thread-safe (it takes each arena's lock) and touches no live allocation.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(target_env = "gnu"))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    /// Freed memory in a thread's arena is resident until trimmed, then it is not: the
    /// process's RSS drops by most of what the thread freed.
    #[test]
    fn trim_returns_freed_arena_memory_to_the_kernel() {
        const BLOCKS: usize = 20_000;
        const SIZE: usize = 4096; // below the mmap threshold: served from an arena
        // A thread of its own, so the memory sits in a secondary arena, whose free pages
        // glibc never returns by itself except at the very top of its heap.
        std::thread::spawn(|| {
            let mut blocks: Vec<Vec<u8>> = (0..BLOCKS).map(|i| vec![i as u8; SIZE]).collect();
            // Keep every 64th block so the freed ones are not all at the top of the heap.
            let kept: Vec<Vec<u8>> = blocks.iter_mut().step_by(64).map(std::mem::take).collect();
            drop(blocks);
            let before = rss_kib();
            assert!(super::trim(), "nothing to release");
            let after = rss_kib();
            let freed = (BLOCKS - kept.len()) * SIZE / 1024;
            assert!(
                before - after > freed / 2,
                "RSS {before} KiB -> {after} KiB, {freed} KiB were freed"
            );
            drop(kept);
        })
        .join()
        .unwrap();
    }

    fn rss_kib() -> usize {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    }
}
