//! The usage event: query counts of one time bucket, per table and per statement.

use super::SourceInfo;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UsageKind {
    Table,
    Query,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UsageEvent {
    pub event_id: String,
    pub emitted_at: i64,
    pub source: SourceInfo,
    pub kind: UsageKind,
    pub bucket_start: i64,
    pub bucket_end: i64,
    pub reset_detected: bool,
    pub table: Option<TableUsage>,
    pub query: Option<QueryUsage>,
    /// Calls in this bucket of statements attributed to no table (they do not parse and
    /// name no relation of the catalog); the same on every event of the bucket.
    #[serde(default)]
    pub unattributed_calls: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableUsage {
    pub fqn: String,
    pub schema: String,
    pub name: String,
    pub query_count: i64,
    pub read_count: i64,
    pub write_count: i64,
    pub users: Vec<String>,
    pub join_partners: Vec<String>,
    pub top_queries: Vec<QueryCalls>,
    /// UTC day of the bucket's end, `YYYY-MM-DD` (empty from writers before it existed).
    #[serde(default)]
    pub day: String,
    /// The table's `query_count` over that day's buckets so far, this one included.
    #[serde(default)]
    pub day_query_count: i64,
    /// Of `query_count`, calls of statements that do not parse, counted here because the
    /// table's name is in their text; neither `read_count` nor `write_count` has them.
    #[serde(default)]
    pub approximate_query_count: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueryCalls {
    pub queryid: String,
    pub calls: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QueryUsage {
    pub queryid: String,
    pub role: String,
    pub toplevel: bool,
    pub query: String,
    pub calls: i64,
    pub total_exec_time_ms: f64,
    pub mean_exec_time_ms: f64,
    pub rows: i64,
    pub tables: Vec<String>,
    pub parse_error: Option<String>,
    /// `tables` are the relations the text names (it does not parse), not what it reads or
    /// writes.
    #[serde(default)]
    pub approximate: bool,
}

/// The `day` of a table's usage: the UTC calendar day (`YYYY-MM-DD`) of a Unix time in milliseconds.
pub fn utc_day(millis: i64) -> String {
    // Howard Hinnant's civil-from-days; no date crate needed for one conversion.
    let days = millis.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl UsageEvent {
    /// The topic key: the table's fqn, or `service.database/queryid/role` for a statement
    /// (`/nested` appended for one run inside functions).
    pub fn key(&self) -> String {
        match (&self.table, &self.query) {
            (Some(t), _) => t.fqn.clone(),
            (None, Some(q)) => format!(
                "{}.{}/{}/{}{}",
                self.source.service,
                self.source.database,
                q.queryid,
                q.role,
                if q.toplevel { "" } else { "/nested" }
            ),
            (None, None) => String::new(),
        }
    }

    /// Deterministic id of (kind, key, bucket_start).
    pub fn id_for(kind: UsageKind, key: &str, bucket_start: i64) -> String {
        let name = format!("usage\u{0}{kind:?}\u{0}{key}\u{0}{bucket_start}");
        uuid::Uuid::new_v5(&super::EVENT_ID_NAMESPACE, name.as_bytes()).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_days() {
        assert_eq!(utc_day(0), "1970-01-01");
        assert_eq!(utc_day(951_782_400_000), "2000-02-29");
        assert_eq!(utc_day(1_795_000_000_000), "2026-11-18");
        assert_eq!(utc_day(-1), "1969-12-31");
    }
}
