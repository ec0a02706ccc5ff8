//! Memory handed back to the system after a peak.
//!
//! A catalog read of a large database is a short peak (about 120 MB for 10,000 tables) between
//! long idle stretches. glibc's malloc keeps such a peak resident: freed chunks below a live
//! allocation stay mapped (measured: 100 MB resident an idle minute after reading 10,000
//! tables). The binaries use jemalloc instead, whose background threads purge freed pages
//! within seconds (measured: 23 MB). Each binary sets it with `#[global_allocator]`: a library
//! does not choose its users' allocator.
//!
//! `.cargo/config.toml` builds jemalloc with one arena (`narenas:1`). With jemalloc's default
//! of an arena per CPU thread, a large catalog read allocated on a runtime thread is freed while
//! the state store commits on a blocking thread, whose arena cannot reuse those pages: the
//! 10,000-table snapshot peaked at 230 MB instead of 178 MB. Allocation in pgmeta is rarely
//! concurrent enough for one arena to cost time.

/// Starts jemalloc's background threads, which return freed pages to the system while the
/// process is idle; without them jemalloc purges only when the application allocates.
pub fn purge_in_background() {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc background purging unavailable; freed memory returns to the system only as the process allocates");
    }
}
