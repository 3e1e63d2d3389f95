//! The settings of the global allocator (mimalloc, set in `main.rs` and in the bench) for a
//! server that allocates and frees per report on every core.
//!
//! Two of mimalloc's defaults cost ingest a fifth of its throughput (BENCHMARKS.md, issue 10;
//! `VANTAGE_BENCH_PERF` profile of a collector round: half of the SQLite writer thread's samples
//! were the kernel zeroing fresh 2 MiB pages under `mi_page_free_list_extend`):
//! - it returns freed memory to the OS after 1 s (`purge_delay`), and the writer's per-batch and
//!   per-minute memory is freed and wanted again on about that period, so each time it came back
//!   as new pages that the kernel must fault in and zero;
//! - with transparent huge pages each such fault zeroes 2 MiB, however little is touched.
//!
//! THP is off at build time (the `no_thp` feature in Cargo.toml); [`tune`] sets the purge delay.

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_t` (libmimalloc-sys names no constant
/// for it). The test below checks that this index holds the option's documented default.
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Freed memory goes back to the OS after a minute unused, not a second: under steady load it
/// is reused long before; after a burst the server still shrinks back.
const PURGE_DELAY_MS: std::os::raw::c_long = 60_000;

/// Applies the settings; call it first thing in `main`, before any thread starts.
pub fn tune() {
    // SAFETY: `mi_option_set` only stores a value in mimalloc's option table, which it reads on
    // each purge decision; any value is valid (-1 never purges).
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, PURGE_DELAY_MS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The index is the purge delay: its default is 1000 ms in mimalloc v3 (`options.c`), a value
    /// no neighbouring option has, and it reads back what `tune` set.
    #[test]
    fn the_option_index_is_the_purge_delay() {
        // SAFETY: `mi_option_get` reads mimalloc's option table; any index below its last is valid.
        let before = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert!(before == 1000 || before == PURGE_DELAY_MS, "option {MI_OPTION_PURGE_DELAY} is {before}, not mimalloc v3's purge delay");
        tune();
        // SAFETY: as above.
        let after = unsafe { libmimalloc_sys::mi_option_get(MI_OPTION_PURGE_DELAY) };
        assert_eq!(after, PURGE_DELAY_MS);
    }
}
