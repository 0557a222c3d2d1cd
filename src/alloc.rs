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

/// NOTE: the largest block a thread keeps when it is freed, for its next large allocation.
/// hyper frees and re-makes its read buffer (~400 KiB) as a body streams in; handed back to glibc,
/// each one came back as fresh pages to fault in and zero (with the small blocks in mimalloc,
/// glibc's arena held nothing else): download_buffered fell from ~2,500 to ~1,950 MiB/s.
const KEPT_MAX: usize = 1 << 20;

/// A block of the system allocator a thread freed last: its address and size (`0, 0`: none).
struct Kept(std::cell::Cell<(usize, usize)>);

impl Drop for Kept {
    fn drop(&mut self) {
        let (ptr, _) = self.0.get();
        if ptr != 0 {
            // SAFETY: a block from `System.alloc` (malloc), owned by this slot alone.
            unsafe { libc::free(ptr as *mut libc::c_void) };
        }
    }
}

thread_local! {
    static KEPT: Kept = const { Kept(std::cell::Cell::new((0, 0))) };
}

/// Only blocks malloc itself aligns are kept and reused.
fn keepable(layout: Layout) -> bool {
    layout.align() <= 8 && layout.size() <= KEPT_MAX
}

/// The kept block, if it suits `layout` and holds its size without wasting more than as much
/// again; else null.
fn take_kept(layout: Layout) -> *mut u8 {
    let size = layout.size();
    if !keepable(layout) {
        return std::ptr::null_mut();
    }
    KEPT.try_with(|kept| {
        let (ptr, cap) = kept.0.get();
        if ptr != 0 && cap >= size && cap <= size * 2 {
            kept.0.set((0, 0));
            ptr as *mut u8
        } else {
            std::ptr::null_mut()
        }
    })
    .unwrap_or(std::ptr::null_mut())
}

/// Keeps `ptr` for this thread's next large block; false if it may not be kept or the slot is
/// taken.
fn keep(ptr: *mut u8, layout: Layout) -> bool {
    if !keepable(layout) {
        return false;
    }
    KEPT.try_with(|kept| {
        if kept.0.get().0 != 0 {
            return false;
        }
        kept.0.set((ptr as usize, layout.size()));
        true
    })
    .unwrap_or(false)
}

// SAFETY: each block is freed (and resized) by the allocator that made it: the choice depends only
// on the layout's size, which Rust passes unchanged to `dealloc` and `realloc`; a resize that
// crosses `LARGE` moves the block between the two (allocate, copy, free). A kept block is a
// system block at least as large as asked for: glibc's free and realloc read its true size.
unsafe impl GlobalAlloc for SplitAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_large(layout.size()) {
            let kept = take_kept(layout);
            if kept.is_null() {
                System.alloc(layout)
            } else {
                kept
            }
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
            if !keep(ptr, layout) {
                System.dealloc(ptr, layout)
            }
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

    #[test]
    fn a_freed_large_block_is_kept_for_the_threads_next_large_block_of_about_its_size() {
        let big = Layout::from_size_align(200 << 10, 1).unwrap();
        let much_smaller = Layout::from_size_align(LARGE, 1).unwrap();
        // SAFETY: each block is freed once, with the layout it was asked for.
        unsafe {
            let a = SplitAlloc.alloc(big);
            a.write_bytes(7, big.size());
            SplitAlloc.dealloc(a, big);
            let b = SplitAlloc.alloc(big);
            assert_eq!(a, b, "the kept block was not reused");
            SplitAlloc.dealloc(b, big);
            let c = SplitAlloc.alloc(much_smaller); // over twice as small: not given the kept block
            assert_ne!(c, b);
            c.write_bytes(1, much_smaller.size());
            SplitAlloc.dealloc(c, much_smaller); // the slot is full: freed
            let d = SplitAlloc.alloc(big);
            assert_eq!(d, b);
            SplitAlloc.dealloc(d, big);
        }
    }
}
