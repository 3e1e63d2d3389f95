//! A bump allocator for the shipped wasm: the frame lives for one run, so memory is never
//! returned except for the most recent allocation (which makes `Vec`/`String` growth cheap).
//! Much smaller than dlmalloc. Out of memory traps (no message, no formatting code).

#[cfg(target_arch = "wasm32")]
mod imp {
    use core::alloc::{GlobalAlloc, Layout};
    use core::arch::wasm32;

    struct Bump;

    static mut NEXT: usize = 0;
    static mut END: usize = 0;

    const PAGE: usize = 65536;

    // SAFETY: wasm32 without atomics has one thread, so NEXT and END are never raced; each block
    // is aligned, lies in memory grown for it, and overlaps no live block (only the last one is
    // ever given back or grown in place).
    unsafe impl GlobalAlloc for Bump {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            let align = l.align() - 1;
            let mut p = (NEXT + align) & !align;
            if p + l.size() > END {
                // Not div_ceil: its remainder test costs the wasm 8 bytes, and every byte ships.
                #[allow(clippy::manual_div_ceil)]
                let pages = (l.size() + align + PAGE - 1) / PAGE;
                let prev = wasm32::memory_grow(0, pages);
                if prev == usize::MAX {
                    wasm32::unreachable();
                }
                if prev * PAGE != END {
                    // Not contiguous with our region (the first call): start afresh.
                    p = (prev * PAGE + align) & !align;
                }
                END = (prev + pages) * PAGE;
            }
            NEXT = p + l.size();
            p as *mut u8
        }

        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            if p as usize + l.size() == NEXT {
                NEXT = p as usize;
            }
        }

        unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
            if p as usize + l.size() == NEXT && p as usize + new <= END {
                NEXT = p as usize + new;
                return p;
            }
            let q = self.alloc(Layout::from_size_align_unchecked(new, l.align()));
            core::ptr::copy_nonoverlapping(p, q, if new < l.size() { new } else { l.size() });
            q
        }
    }

    #[global_allocator]
    static A: Bump = Bump;
}
