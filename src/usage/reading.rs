//! What one read of `pg_stat_statements` holds (`pg::stat_statements` fills it): the input of
//! the delta computation, plain data so that it stays pure.

/// One statement's cumulative counters for one role.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The role's OID.
    pub userid: u32,
    pub role: String,
    pub queryid: i64,
    /// `false` for statements run inside functions (PostgreSQL 14+; always `true` before).
    pub toplevel: bool,
    pub query: String,
    pub calls: i64,
    pub total_time_ms: f64,
    pub rows: i64,
}

/// One read of the view for the connected database.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Server clock at the read, ms since the epoch.
    pub read_at: i64,
    /// `pg_stat_statements_info.stats_reset` (ms), where the view exists.
    pub stats_reset: Option<i64>,
    /// `pg_stat_statements_info.dealloc`, where the view exists.
    pub dealloc: Option<i64>,
    pub entries: Vec<Entry>,
    /// Entries whose text and queryid this role may not see (it lacks `pg_read_all_stats`).
    pub hidden: usize,
}
