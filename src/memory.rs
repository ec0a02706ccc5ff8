//! Memory handed back to the system after a peak.
//!
//! A catalog read of a large database is a short peak (about 120 MB for 10,000 tables) between
//! long idle stretches. glibc's malloc keeps such a peak resident: freed chunks below a live
//! allocation stay mapped (measured: 100 MB resident an idle minute after reading 10,000
//! tables). The binaries use jemalloc instead, whose background threads purge freed pages
//! within seconds (measured: 23 MB). Each binary sets it with `#[global_allocator]`: a library
//! does not choose its users' allocator.

/// Starts jemalloc's background threads, which return freed pages to the system while the
/// process is idle; without them jemalloc purges only when the application allocates.
pub fn purge_in_background() {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc background purging unavailable; freed memory returns to the system only as the process allocates");
    }
}
