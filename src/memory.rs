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
//!
//! It also turns jemalloc's per-thread caches off (`tcache:false`). A thread keeps what it freed
//! in its cache for its next allocation, and a thread that goes idle keeps it for good: an idle
//! capture held 4.3 MB allocated with the caches and 2.0 MB without (measured on a small
//! database). Without them each allocation takes the arena's lock; the 10,000-table snapshot
//! took no longer (2.58 s, against 2.73-3.41 s in the runs before).
//!
//! And it returns a freed page after one second unused (`dirty_decay_ms:1000`) instead of ten.
//! The background thread wakes only when a decay step has more than 1,024 pages (4 MB) to
//! return, and otherwise once per decay time, so with ten seconds a catalog read's last freed
//! pages stayed resident up to twenty seconds into idle: 4.3 MB beyond the live pages and
//! jemalloc's own metadata, 15 s after a restart read 100,000 tables.
//!
//! jemalloc is built unprefixed, so it is the process's `malloc` too: librdkafka's C code
//! allocates from the same arena instead of from glibc's malloc, which gave each of its threads
//! and each runtime thread calling into it an arena of its own (nine, 1.7 MB resident at idle).

use prometheus::{IntGauge, Registry};

/// Starts jemalloc's background threads, which return freed pages to the system while the
/// process is idle; without them jemalloc purges only when the application allocates.
pub fn purge_in_background() {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(error = %e, "jemalloc background purging unavailable; freed memory returns to the system only as the process allocates");
    }
}

/// jemalloc's own account of the memory it holds (its `stats.*` counters), which an RSS alone
/// does not split: what the process uses (`allocated`), the pages that holds (`active`),
/// jemalloc's bookkeeping (`metadata`), and what is resident or mapped but free. Read again at
/// each scrape.
#[derive(Debug)]
pub struct AllocatorMetrics {
    gauges: Vec<(Reader, IntGauge)>,
}

/// Reads one of jemalloc's `stats.*` counters.
type Reader = fn() -> Result<usize, tikv_jemalloc_ctl::Error>;

/// Each counter: the metric's name after the prefix, its help, and how it is read.
const ALLOCATOR_STATS: [(&str, &str, Reader); 6] = {
    use tikv_jemalloc_ctl::stats;
    [
        (
            "allocator_allocated_bytes",
            "Bytes the process has allocated and not freed (jemalloc stats.allocated)",
            stats::allocated::read,
        ),
        (
            "allocator_active_bytes",
            "Bytes in the allocator's pages that hold live allocations (jemalloc stats.active)",
            stats::active::read,
        ),
        (
            "allocator_metadata_bytes",
            "Bytes of the allocator's own bookkeeping, most of it never returned (jemalloc stats.metadata)",
            stats::metadata::read,
        ),
        (
            "allocator_resident_bytes",
            "Bytes of the allocator's pages resident in memory, free ones not yet returned included (jemalloc stats.resident)",
            stats::resident::read,
        ),
        (
            "allocator_mapped_bytes",
            "Bytes in the extents the allocator has mapped, free ones included (jemalloc stats.mapped)",
            stats::mapped::read,
        ),
        (
            "allocator_retained_bytes",
            "Bytes of address space the allocator returned to the system but keeps reserved (jemalloc stats.retained)",
            stats::retained::read,
        ),
    ]
};

impl AllocatorMetrics {
    /// Registers `<prefix>allocator_*_bytes` in `registry`.
    pub fn register(prefix: &str, registry: &Registry) -> AllocatorMetrics {
        let gauges = ALLOCATOR_STATS
            .into_iter()
            .map(|(name, help, read)| {
                let gauge = IntGauge::new(format!("{prefix}{name}"), help).expect("valid metric");
                registry
                    .register(Box::new(gauge.clone()))
                    .expect("metric registered once");
                (read, gauge)
            })
            .collect();
        AllocatorMetrics { gauges }
    }

    /// Reads jemalloc's counters into the gauges (they are cached until its epoch advances).
    /// A counter that cannot be read keeps its last value.
    pub fn update(&self) {
        if tikv_jemalloc_ctl::epoch::advance().is_err() {
            return;
        }
        for (read, gauge) in &self.gauges {
            if let Ok(bytes) = read() {
                gauge.set(i64::try_from(bytes).unwrap_or(i64::MAX));
            }
        }
    }
}
