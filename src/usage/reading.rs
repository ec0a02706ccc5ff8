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
    /// Sorted by (userid, queryid, toplevel), which [`Reading::new`] ensures: the usage poller
    /// looks statements up here instead of building a set of the view's keys for each poll.
    entries: Vec<Entry>,
    /// Entries whose text and queryid this role may not see (it lacks `pg_read_all_stats`).
    pub hidden: usize,
}

impl Reading {
    /// A read holding `entries` in any order.
    pub fn new(
        read_at: i64,
        stats_reset: Option<i64>,
        dealloc: Option<i64>,
        mut entries: Vec<Entry>,
        hidden: usize,
    ) -> Self {
        // A stable sort: linear on the view as `pg::stat_statements` reads it (ORDER BY key).
        entries.sort_by_key(Entry::key);
        Reading {
            read_at,
            stats_reset,
            dealloc,
            entries,
            hidden,
        }
    }

    /// The statements, sorted by (userid, queryid, toplevel).
    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    /// Whether the view holds the statement `queryid` for the role `userid` (at any level).
    pub fn holds(&self, userid: u32, queryid: i64) -> bool {
        let i = self
            .entries
            .partition_point(|e| (e.userid, e.queryid) < (userid, queryid));
        self.entries
            .get(i)
            .is_some_and(|e| (e.userid, e.queryid) == (userid, queryid))
    }
}

impl Entry {
    fn key(&self) -> (u32, i64, bool) {
        (self.userid, self.queryid, self.toplevel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(userid: u32, queryid: i64, toplevel: bool) -> Entry {
        Entry {
            userid,
            role: "app".into(),
            queryid,
            toplevel,
            query: "SELECT 1".into(),
            calls: 1,
            total_time_ms: 1.0,
            rows: 1,
        }
    }

    #[test]
    fn a_reading_holds_its_statements_sorted_and_finds_them_at_either_level() {
        let r = Reading::new(
            0,
            None,
            None,
            vec![
                entry(20, -5, true),
                entry(10, 7, true),
                entry(10, 7, false),
                entry(10, i64::MIN, true),
                entry(u32::MAX, 1, false),
            ],
            0,
        );
        let keys: Vec<_> = r.entries().iter().map(Entry::key).collect();
        assert_eq!(
            keys,
            [
                (10, i64::MIN, true),
                (10, 7, false),
                (10, 7, true),
                (20, -5, true),
                (u32::MAX, 1, false),
            ]
        );
        for (userid, queryid) in [(10, 7), (10, i64::MIN), (20, -5), (u32::MAX, 1)] {
            assert!(r.holds(userid, queryid), "{userid}/{queryid}");
        }
        for (userid, queryid) in [(10, 8), (20, 7), (0, 7), (u32::MAX, 0), (11, -5)] {
            assert!(!r.holds(userid, queryid), "{userid}/{queryid}");
        }
    }
}
