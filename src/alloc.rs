//! The engine's allocator: mimalloc for small blocks, the system's for large ones.
//!
//! NOTE: a request allocates a few dozen small blocks (header maps, URIs, h2 frames, futures,
//! channel nodes), and glibc's malloc/free took ~10% of an h2c request's profile. With mimalloc
//! for all of them, client on one core, interleaved: h2c 64 streams ~41,300 -> ~44,900 req/s,
//! 64 in flight ~34,800 -> ~35,900, 512 in flight ~27,900 -> ~30,300, 8 threads ~26,800 ->
//! ~28,100. But large blocks (hyper's read buffers of up to ~400 KiB, whole bodies) raised peak
//! RSS through mimalloc by 15-60% (sse_lines 66 -> 104 MiB, download 56 -> 75-94 MiB), as it
//! keeps freed segments for reuse; those stay with glibc, which returns them at once.
//! Transparent huge pages are off (`no_thp`): with them 8 threads' heaps took 34 -> 48 MiB.
//! mimalloc's v2 (`v2`), not v3: v2 claims arena memory with atomic bitmaps, where v3 takes locks
//! (arena reservation, thread heaps) with no fork handlers, which a `fork()` while a tokio thread
//! holds one would leave locked in the child. Same speed in 4 interleaved pairs (h2c, HTTP/1.1).

use std::alloc::{GlobalAlloc, Layout, System};

/// Blocks of at least this many bytes come from the system allocator.
const LARGE: usize = 64 << 10;

pub(crate) struct SplitAlloc;

fn is_large(size: usize) -> bool {
    size >= LARGE
}

// SAFETY: each block is freed (and resized) by the allocator that made it: the choice depends only
// on the layout's size, which Rust passes unchanged to `dealloc` and `realloc`; a resize that
// crosses `LARGE` moves the block between the two (allocate, copy, free).
unsafe impl GlobalAlloc for SplitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            System.alloc(layout)
        } else {
            mimalloc::MiMalloc.alloc(layout)
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            System.alloc_zeroed(layout)
        } else {
            mimalloc::MiMalloc.alloc_zeroed(layout)
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_large(layout.size()) {
            System.dealloc(ptr, layout)
        } else {
            mimalloc::MiMalloc.dealloc(ptr, layout)
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match (is_large(layout.size()), is_large(new_size)) {
            (true, true) => System.realloc(ptr, layout, new_size),
            (false, false) => mimalloc::MiMalloc.realloc(ptr, layout, new_size),
            _ => {
                // SAFETY: the caller guarantees `new_size`, rounded up to the alignment, does not
                // overflow isize (GlobalAlloc::realloc's contract).
                let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
                let new = self.alloc(new_layout);
                if !new.is_null() {
                    std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                    self.dealloc(ptr, layout);
                }
                new
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_resized_across_the_threshold_keep_their_bytes() {
        let mut v: Vec<u8> = (0..=255).cycle().take(LARGE - 1).collect();
        v.reserve_exact(LARGE * 2); // small -> large: moved to the system allocator
        v.extend((0..=255u8).cycle().take(LARGE));
        assert!(v
            .iter()
            .take(LARGE - 1)
            .copied()
            .eq((0..=255).cycle().take(LARGE - 1)));
        v.truncate(100);
        v.shrink_to_fit(); // large -> small: moved back
        assert!(v.iter().copied().eq(0..100));
    }
}
