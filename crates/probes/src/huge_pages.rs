//! [`HugePageAlloc`]: the process allocator of the `skydive` binary and the flow benchmarks.
//! Small blocks go to the system allocator unchanged; blocks of [`HUGE_THRESHOLD`] and more
//! (a flow table's entry slabs, the graph's slabs and id tables) are their own anonymous
//! mappings marked `MADV_HUGEPAGE`, so the kernel backs them with transparent 2 MiB pages.
//!
//! Why: a flow table's entries are read at random, one per packet, across tens of megabytes.
//! With 4 KiB pages nearly every packet also misses the TLB and every new flow page-faults;
//! with 2 MiB pages both mostly go (`bench/RESULTS.md`: +13 % packets per CPU-second). Debian
//! and most distributions ship transparent huge pages in `madvise` mode, which is exactly
//! "only where the program asks". With `never` the advice is ignored and nothing else
//! changes; a failed `madvise` is ignored too (the memory is still valid, only smaller pages).
//!
//! Why mappings of our own rather than glibc's: glibc serves a large block from `mmap` or
//! from its heap depending on a threshold that moves at run time, and grows it by copying.
//! Our mapping grows with `mremap`, which moves page tables instead of bytes and keeps the
//! advice.

use std::alloc::{GlobalAlloc, Layout, System};
use std::ptr;

/// Blocks from this size on get a mapping of their own with huge-page advice. Well above
/// glibc's default mmap threshold (128 KiB): only big, long-lived tables qualify, so the
/// up-to-2-MiB rounding of a huge page is small beside them.
pub const HUGE_THRESHOLD: usize = 4 << 20;

/// The page size our mappings are aligned to; blocks asking for more alignment than a page
/// stay with the system allocator.
const PAGE: usize = 4096;

/// A [`GlobalAlloc`] that asks for transparent huge pages on large blocks (see the module
/// docs). Use it with `#[global_allocator] static A: HugePageAlloc = HugePageAlloc;`.
#[derive(Debug, Default, Clone, Copy)]
pub struct HugePageAlloc;

fn is_huge(layout: &Layout) -> bool {
    layout.size() >= HUGE_THRESHOLD && layout.align() <= PAGE
}

fn mapped_len(size: usize) -> usize {
    size.next_multiple_of(PAGE)
}

/// Maps `len` bytes of zeroed anonymous memory advised for huge pages; null on failure.
fn map(len: usize) -> *mut u8 {
    // SAFETY: an anonymous private mapping at an address of the kernel's choice touches no
    // existing memory; failure is reported as MAP_FAILED and checked.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return ptr::null_mut();
    }
    advise(p, len);
    p.cast()
}

fn advise(p: *mut libc::c_void, len: usize) {
    // SAFETY: `p..p+len` is a mapping this allocator owns; MADV_HUGEPAGE changes how the
    // kernel backs it, never its contents or validity. An error (THP compiled out) is
    // harmless and ignored.
    unsafe {
        libc::madvise(p, len, libc::MADV_HUGEPAGE);
    }
}

// SAFETY: huge blocks are whole mappings, created and released only here, sized by their
// layout (which `dealloc`/`realloc` receive unchanged, as `GlobalAlloc` requires); every
// other block goes to `System` with its layout, both ways. A block never changes side
// between allocation and release because `is_huge` depends on the layout alone, and
// `realloc` moves a block across the threshold by allocate-copy-release.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            map(mapped_len(layout.size()))
        } else {
            // SAFETY: forwarded unchanged, as the caller's contract allows.
            unsafe { System.alloc(layout) }
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(&layout) {
            // Fresh anonymous pages are zero already.
            map(mapped_len(layout.size()))
        } else {
            // SAFETY: forwarded unchanged.
            unsafe { System.alloc_zeroed(layout) }
        }
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        if is_huge(&layout) {
            // SAFETY: `p` is a mapping of this length made by `map` or `realloc` (see the
            // impl's note); nothing uses it after `dealloc`.
            unsafe {
                libc::munmap(p.cast(), mapped_len(layout.size()));
            }
        } else {
            // SAFETY: a `System` block with its own layout.
            unsafe { System.dealloc(p, layout) }
        }
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY (of the `Layout`): `GlobalAlloc::realloc` requires `new_size`, rounded up to
        // `layout.align()`, not to overflow `isize`, which is what `from_size_align` checks.
        let Ok(new_layout) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        match (is_huge(&layout), is_huge(&new_layout)) {
            (true, true) => {
                let (old_len, new_len) = (mapped_len(layout.size()), mapped_len(new_size));
                if old_len == new_len {
                    return p;
                }
                // SAFETY: `p` is our mapping of `old_len` bytes; MREMAP_MAYMOVE lets the
                // kernel move it, and the caller uses only the returned pointer afterwards.
                let q = unsafe { libc::mremap(p.cast(), old_len, new_len, libc::MREMAP_MAYMOVE) };
                if q == libc::MAP_FAILED {
                    return ptr::null_mut();
                }
                advise(q, new_len);
                q.cast()
            }
            // SAFETY: both sides forwarded to System with the caller's layout.
            (false, false) => unsafe { System.realloc(p, layout, new_size) },
            // Crossing the threshold: a block of the other kind, the bytes copied over.
            _ => {
                // SAFETY: `new_layout` is valid (checked above) and non-zero (it or the old
                // one is huge, and a shrink keeps `new_size > 0` per the contract).
                let q = unsafe { self.alloc(new_layout) };
                if !q.is_null() {
                    // SAFETY: both blocks are live, distinct, and at least this long.
                    unsafe {
                        ptr::copy_nonoverlapping(p, q, layout.size().min(new_size));
                        self.dealloc(p, layout);
                    }
                }
                q
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Large blocks through every path: allocate, grow in place and by moving, shrink below
    /// the threshold and back, zeroed allocation; contents survive each step.
    #[test]
    fn large_blocks_keep_their_bytes_across_reallocations() {
        let a = HugePageAlloc;
        let big = Layout::from_size_align(HUGE_THRESHOLD, 64).unwrap();
        // SAFETY: every pointer is used within its block's size and released once with the
        // layout it was last allocated or reallocated with.
        unsafe {
            let byte = |i: usize| (i % 251) as u8;
            let p = a.alloc(big);
            assert!(!p.is_null());
            for i in (0..big.size()).step_by(97) {
                *p.add(i) = byte(i);
            }
            let grown = 3 * HUGE_THRESHOLD + 123;
            let p = a.realloc(p, big, grown);
            assert!(!p.is_null());
            assert!((0..big.size()).step_by(97).all(|i| *p.add(i) == byte(i)));
            *p.add(grown - 1) = 7;
            let small = 1000;
            let p = a.realloc(p, Layout::from_size_align(grown, 64).unwrap(), small);
            assert!(!p.is_null());
            assert!((0..small).step_by(97).all(|i| *p.add(i) == byte(i)));
            let p = a.realloc(p, Layout::from_size_align(small, 64).unwrap(), grown);
            assert!(!p.is_null());
            assert!((0..small).step_by(97).all(|i| *p.add(i) == byte(i)));
            a.dealloc(p, Layout::from_size_align(grown, 64).unwrap());

            let z = a.alloc_zeroed(big);
            assert!(!z.is_null());
            assert!((0..big.size()).step_by(997).all(|i| *z.add(i) == 0));
            a.dealloc(z, big);
        }
    }

    /// The kernel records the advice on the mapping (`hg` in its smaps `VmFlags`), whatever
    /// the system's THP mode, so this holds on every machine.
    #[test]
    fn large_blocks_are_advised_for_huge_pages() {
        let a = HugePageAlloc;
        let big = Layout::from_size_align(HUGE_THRESHOLD, 8).unwrap();
        // SAFETY: allocated and released once with the same layout, never dereferenced.
        let p = unsafe { a.alloc(big) };
        assert!(!p.is_null());
        let flags = vm_flags_of(p as usize);
        // SAFETY: as above.
        unsafe { a.dealloc(p, big) };
        let flags = flags.expect("the block's mapping is listed in /proc/self/smaps");
        assert!(
            flags.split_whitespace().any(|f| f == "hg"),
            "VmFlags: {flags}"
        );
    }

    /// The `VmFlags` line of the mapping holding `addr`.
    fn vm_flags_of(addr: usize) -> Option<String> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            if let Some((range, _)) = line.split_once(' ')
                && let Some((lo, hi)) = range.split_once('-')
                && let (Ok(lo), Ok(hi)) =
                    (usize::from_str_radix(lo, 16), usize::from_str_radix(hi, 16))
            {
                inside = (lo..hi).contains(&addr);
            } else if inside && let Some(flags) = line.strip_prefix("VmFlags:") {
                return Some(flags.trim().to_string());
            }
        }
        None
    }

    #[test]
    fn small_and_over_aligned_blocks_go_to_the_system_allocator() {
        assert!(!is_huge(
            &Layout::from_size_align(HUGE_THRESHOLD - 1, 8).unwrap()
        ));
        assert!(!is_huge(
            &Layout::from_size_align(HUGE_THRESHOLD, 2 * PAGE).unwrap()
        ));
        assert!(is_huge(
            &Layout::from_size_align(HUGE_THRESHOLD, PAGE).unwrap()
        ));
    }
}
